// @urql/core with its defaults: queries go as GET (within the URL length limit), mutations
// as POST, both asking for application/graphql-response+json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fetchExchange, gql } from '@urql/core';
import { GRAPHQL, authorisedFetch } from '../lib/env.mjs';

describe('@urql/core', () => {
  const seen = [];
  const client = new Client({
    url: GRAPHQL,
    exchanges: [fetchExchange],
    fetch: (input, init) => {
      seen.push({ method: init.method || 'GET', url: String(input), accept: new Headers(init.headers).get('accept') });
      return authorisedFetch()(input, init);
    },
  });

  it('runs a query with variables over GET', async () => {
    const result = await client
      .query(gql`query Orders($first: Int) { orders(first: $first) { totalCount nodes { id reference } } }`, { first: 1 })
      .toPromise();
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.data.orders.totalCount, 2);
    assert.deepEqual(result.data.orders.nodes.map((n) => n.reference), ['METI-2022-06-30']);
    const request = seen.at(-1);
    assert.equal(request.method, 'GET', JSON.stringify(request));
    assert.match(request.url, /[?&]query=/);
    assert.match(request.accept, /application\/graphql-response\+json/);
  });

  it('reports a validation error as a GraphQL error, not a network one', async () => {
    const result = await client.query(gql`{ noSuchField }`, {}).toPromise();
    assert.equal(seen.at(-1).method, 'GET');
    assert.ok(result.error, 'an error');
    assert.equal(result.error.networkError, undefined, String(result.error.networkError));
    assert.equal(result.error.graphQLErrors[0].extensions.code, 'VALIDATION');
  });

  it('sends a mutation as POST', async () => {
    const result = await client
      .mutation(gql`mutation($code: String!) { createRegulator(input: { code: $code, name: "urql", kind: MINISTRY }) { id code } }`, { code: `URQL-${Date.now()}` })
      .toPromise();
    assert.equal(result.error, undefined, String(result.error));
    assert.match(result.data.createRegulator.code, /^URQL-/);
    assert.equal(seen.at(-1).method, 'POST');
  });
});
