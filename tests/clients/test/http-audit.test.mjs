// graphql-http's own audit of the GraphQL over HTTP specification, against the live server:
// every audit (MUST, SHOULD and MAY) must pass, none may warn.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { GRAPHQL, authorisedFetch } from '../lib/env.mjs';

describe('GraphQL over HTTP (graphql-http serverAudits)', () => {
  const audits = serverAudits({ url: GRAPHQL, fetchFn: authorisedFetch() });
  assert.ok(audits.length > 50, `only ${audits.length} audits`);
  for (const audit of audits) {
    it(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      let detail = result.reason || '';
      if (result.status !== 'ok' && result.response) {
        detail += ` (HTTP ${result.response.status}: ${await result.response.text()})`;
      }
      assert.equal(result.status, 'ok', detail);
    });
  }
});
