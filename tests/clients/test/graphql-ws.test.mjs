// graphql-ws (the graphql-transport-ws protocol's reference client) over `ws`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN, WS, forgedToken, query } from '../lib/env.mjs';

function client(token) {
  return createClient({
    url: WS,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
}

describe('graphql-ws', () => {
  it('subscribes and hears a change made over HTTP', async () => {
    const ws = client(ADMIN);
    const events = [];
    let failed;
    try {
      const { measures } = await query('{ measures(first: 1) { nodes { id } } }');
      const id = measures.nodes[0].id;
      ws.subscribe(
        { query: 'subscription { measureChanged { id title version } }' },
        {
          next: (value) => events.push(value),
          error: (err) => { failed = err; },
          complete: () => {},
        },
      );
      // The socket opens and the subscription starts asynchronously: change the measure
      // until the event arrives (at most 10 times, a second apart).
      let title;
      for (let attempt = 0; attempt < 10 && events.length === 0 && !failed; attempt++) {
        const { node } = await query('query($id: ID!) { node(id: $id) { ... on Measure { version title } } }', { id });
        title = `Retitled over HTTP, heard over graphql-ws (${attempt})`;
        await query(
          'mutation($id: ID!, $v: Int!, $t: String!) { updateMeasure(id: $id, version: $v, input: { title: $t }) { version } }',
          { id, v: node.version, t: title },
        );
        for (let i = 0; i < 10 && events.length === 0 && !failed; i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(failed, undefined, `subscription failed: ${failed && (failed.code ?? failed.message)}`);
      assert.ok(events.length > 0, 'no event heard');
      const event = events.at(-1);
      assert.equal(event.errors, undefined, JSON.stringify(event));
      assert.equal(event.data.measureChanged.id, id);
      assert.match(event.data.measureChanged.title, /heard over graphql-ws/);
    } finally {
      await ws.dispose();
    }
  });

  it('is refused with close code 4403 for a forged token', async () => {
    const ws = client(forgedToken());
    let closed;
    ws.on('closed', (event) => { closed = event; });
    try {
      const err = await new Promise((resolve) => {
        ws.subscribe({ query: '{ __typename }' }, {
          next: () => resolve(new Error('answered with a forged token')),
          error: resolve,
          complete: () => resolve(new Error('completed with a forged token')),
        });
      });
      assert.equal(err.code, 4403, `closed with ${err.code} ${err.reason}`);
      assert.match(err.reason, /^Forbidden/);
      assert.equal(closed.code, 4403);
    } finally {
      await ws.dispose();
    }
  });
});
