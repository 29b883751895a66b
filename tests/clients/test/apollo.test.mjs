// @apollo/client with relayStylePagination: walks every measure page by page through the
// cache and compares with totalCount.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { GRAPHQL, authorisedFetch } from '../lib/env.mjs';

const MEASURES = gql`
  query Measures($first: Int!, $after: String) {
    measures(first: $first, after: $after) {
      totalCount
      edges { cursor node { id title status } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

describe('@apollo/client', () => {
  it('walks all measures with relayStylePagination', async () => {
    const client = new ApolloClient({
      link: new HttpLink({ uri: GRAPHQL, fetch: authorisedFetch() }),
      cache: new InMemoryCache({
        typePolicies: { Query: { fields: { measures: relayStylePagination(['filter', 'orderBy']) } } },
      }),
    });
    try {
      const first = await client.query({ query: MEASURES, variables: { first: 10 }, fetchPolicy: 'network-only' });
      assert.equal(first.error, undefined);
      const total = first.data.measures.totalCount;
      assert.ok(total > 20, `totalCount ${total}`);
      let page = first.data.measures;
      let pages = 1;
      while (page.pageInfo.hasNextPage) {
        const more = await client.query({
          query: MEASURES,
          variables: { first: 10, after: page.pageInfo.endCursor },
          fetchPolicy: 'network-only',
        });
        page = more.data.measures;
        pages++;
        assert.ok(pages <= Math.ceil(total / 10), `more pages than ${total} measures need`);
      }
      // The cache merged every page into one list.
      const merged = client.readQuery({ query: MEASURES, variables: { first: 10 } }).measures;
      const ids = merged.edges.map((e) => e.node.id);
      assert.equal(ids.length, total, `merged ${ids.length} of ${total}`);
      assert.equal(new Set(ids).size, total, 'no measure twice');
      assert.equal(pages, Math.ceil(total / 10));
      assert.equal(merged.pageInfo.hasNextPage, false);
    } finally {
      client.stop();
    }
  });
});
