// What run.sh hands the tests: the server's base URL and tokens issued for this run.
import { createHmac, randomUUID } from 'node:crypto';

function need(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests through tests/clients/run.sh`);
  }
  return value;
}

export const BASE = need('REMEDY_URL');
export const GRAPHQL = `${BASE}/graphql`;
export const WS = `${BASE.replace(/^http/, 'ws')}/graphql/ws`;
export const ADMIN = need('REMEDY_TOKEN');

/** `fetch` with the ADMIN token in `Authorization` (what every client here is given). */
export function authorisedFetch(token = ADMIN) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers || {});
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

/** A well-formed HS256 token with plausible claims, signed with a key remedy does not hold. */
export function forgedToken() {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: 'HS256', typ: 'JWT' });
  const claims = b64({
    sub: 'intruder', jti: randomUUID(), roles: ['ADMIN'], scope: 'plan:read',
    iss: 'remedy', aud: 'remedy', iat: now, nbf: now, exp: now + 600,
  });
  const sig = createHmac('sha256', 'not-the-servers-secret-not-the-servers-secret')
    .update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${sig}`;
}

/** POSTs one operation as ADMIN and returns its `data`, failing on any error. */
export async function query(queryText, variables = {}) {
  const res = await authorisedFetch()(GRAPHQL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: queryText, variables }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.errors) {
    throw new Error(`${res.status} ${JSON.stringify(body)}`);
  }
  return body.data;
}
