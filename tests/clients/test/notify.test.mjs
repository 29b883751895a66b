// Notifications end to end: webhooks (Standard Webhooks signatures checked with the reference
// library `standardwebhooks`, retries, dead letters, redelivery, secret rotation, SSRF
// refusals, a crash while deliveries are pending, two replicas on one PostgreSQL) and e-mail
// digests over SMTP with STARTTLS and AUTH (nodemailer's smtp-server and mailparser), and the
// reminders preview. Every test starts its own remedy processes (lib/remedy.mjs) and
// receivers (lib/receivers.mjs) and cleans up after itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { Harness, BACKEND, errorCodes, sleep, waitFor } from '../lib/remedy.mjs';
import { webhookReceiver, smtpReceiver } from '../lib/receivers.mjs';

const DEMO_ORDERS = ['METI-2022-06-30', 'PPC-2022-07-13'];

/** Environment for a remedy whose notification worker runs every second and may call 127.0.0.1. */
const WEBHOOK_ENV = {
  REMEDY_NOTIFY_INTERVAL_SECONDS: '1',
  REMEDY_WEBHOOK_ALLOW: '127.0.0.1/32',
  REMEDY_WEBHOOK_BACKOFF_SECONDS: '1',
  REMEDY_WEBHOOK_MAX_ATTEMPTS: '10',
  REMEDY_WEBHOOK_TIMEOUT_SECONDS: '5',
};

const today = () => new Date().toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// GraphQL operations

const MEASURES = `query {
  measures(first: 5) { edges { node { id code version title
    findings(first: 20) { edges { node { order { reference } } } } } } }
}`;

const UPDATE_MEASURE = `mutation($id: ID!, $version: Int!, $title: String, $ownerId: ID) {
  updateMeasure(id: $id, version: $version, input: { title: $title, ownerId: $ownerId }) { id code version title }
}`;

const CREATE_ENDPOINT = `mutation($url: String!, $eventTypes: [NoticeKind!], $orders: [String!], $description: String) {
  createWebhookEndpoint(input: { url: $url, eventTypes: $eventTypes, orders: $orders, description: $description }) {
    secret
    endpoint { id url description eventTypes orders enabled version createdAt previousSecretExpiresAt }
  }
}`;

const ROTATE = `mutation($id: ID!, $overlapHours: Int) {
  rotateWebhookSecret(id: $id, overlapHours: $overlapHours) {
    secret
    endpoint { id version previousSecretExpiresAt }
  }
}`;

const REDELIVER = `mutation($id: ID!) {
  redeliverWebhook(id: $id) { id messageId status attempts }
}`;

const DELIVERY_FIELDS = `id messageId kind status attempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt
  log { at statusCode error durationMs }`;

const ENDPOINTS = `query {
  webhookEndpoints { id url eventTypes orders enabled version previousSecretExpiresAt
    deliveries(first: 100) { ${DELIVERY_FIELDS} } }
}`;

const NOTICES = `query($kind: NoticeKind, $after: String) {
  notices(kind: $kind, first: 100, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id kind at summary dedupKey subjectId } }
  }
}`;

const REMINDERS = `query($on: NaiveDate!) {
  reminders(on: $on) { kind dedupKey subjectType subjectId summary orders }
}`;

const OWNERS = `query { owners(first: 100) { totalCount edges { node { id code contact language version } } } }`;

const OVERDUE = `query($after: String) {
  overdueMeasures(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id code owner { id code contact } } }
  }
}`;

const DIGESTS = `query { digests(first: 100) { id kind recipient language day subject status attempts lastError } }`;

// ---------------------------------------------------------------------------------------------
// Helpers

/** The first demo measures with their order references (sorted). */
async function demoMeasures(remedy) {
  const data = await remedy.q(MEASURES);
  const measures = data.measures.edges.map(({ node }) => ({
    id: node.id,
    code: node.code,
    version: node.version,
    title: node.title,
    orders: [...new Set(node.findings.edges.map((e) => e.node.order.reference))].sort(),
  }));
  assert.ok(measures.length >= 2, `the demo plan should list measures, got ${JSON.stringify(data)}`);
  for (const m of measures) assert.ok(m.orders.length > 0, `demo measure ${m.code} belongs to no order`);
  return measures;
}

/** A committed title change; returns the new version. */
async function changeTitle(remedy, measure, version, title) {
  const data = await remedy.q(UPDATE_MEASURE, { id: measure.id, version, title });
  assert.equal(data.updateMeasure.version, version + 1, `updateMeasure should bump the version: ${JSON.stringify(data)}`);
  return data.updateMeasure.version;
}

/** A change with a stale version: must fail with CONFLICT and change nothing. */
async function failedChange(remedy, measure, staleVersion) {
  const body = await remedy.raw(UPDATE_MEASURE, { id: measure.id, version: staleVersion, title: 'must not be written' });
  assert.ok(body.errors?.length, `updateMeasure with stale version ${staleVersion} should fail, got ${JSON.stringify(body)}`);
  assert.deepEqual(errorCodes(body), ['CONFLICT'], `stale updateMeasure: ${JSON.stringify(body.errors)}`);
}


async function rotateSecret(t, remedy, id, overlapHours) {
  return (await remedy.q(ROTATE, { id, overlapHours })).rotateWebhookSecret;
}

async function redeliver(t, remedy, id) {
  return (await remedy.q(REDELIVER, { id })).redeliverWebhook;
}

async function createEndpoint(remedy, variables) {
  const data = await remedy.q(CREATE_ENDPOINT, variables);
  const { secret, endpoint } = data.createWebhookEndpoint;
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/, `secret should be whsec_<base64>, got ${secret}`);
  assert.equal(endpoint.url, variables.url);
  assert.equal(endpoint.enabled, true);
  return { secret, endpoint };
}

async function endpoints(remedy) {
  return (await remedy.q(ENDPOINTS)).webhookEndpoints;
}

async function deliveriesOf(remedy, endpointId) {
  const all = await endpoints(remedy);
  const ep = all.find((e) => e.id === endpointId);
  assert.ok(ep, `endpoint ${endpointId} is not listed by webhookEndpoints: ${JSON.stringify(all)}`);
  return ep.deliveries;
}

async function allNotices(remedy, kind) {
  const out = [];
  let after = null;
  for (;;) {
    const { notices } = await remedy.q(NOTICES, { kind, after });
    out.push(...notices.edges.map((e) => e.node));
    if (!notices.pageInfo.hasNextPage) return { nodes: out, totalCount: notices.totalCount };
    after = notices.pageInfo.endCursor;
  }
}

async function allOverdue(remedy) {
  const out = [];
  let after = null;
  for (;;) {
    const { overdueMeasures } = await remedy.q(OVERDUE, { after });
    out.push(...overdueMeasures.edges.map((e) => e.node));
    if (!overdueMeasures.pageInfo.hasNextPage) return out;
    after = overdueMeasures.pageInfo.endCursor;
  }
}

/** Verifies a recorded request with the standardwebhooks reference implementation. */
function verify(secret, request) {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': request.headers['webhook-id'],
    'webhook-timestamp': request.headers['webhook-timestamp'],
    'webhook-signature': request.headers['webhook-signature'],
  });
}

function assertAllVerify(secret, requests) {
  assert.ok(requests.length > 0, 'no webhook request was received');
  for (const [i, r] of requests.entries()) {
    assert.equal(r.method, 'POST', `request ${i} method`);
    assert.match(r.headers['content-type'] || '', /^application\/json/, `request ${i} content-type`);
    assert.ok(r.headers['webhook-id'], `request ${i} has no webhook-id: ${JSON.stringify(r.headers)}`);
    assert.match(r.headers['webhook-timestamp'] || '', /^\d+$/, `request ${i} webhook-timestamp`);
    assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - r.at / 1000) < 120,
      `request ${i} webhook-timestamp ${r.headers['webhook-timestamp']} is not the time it was sent (${r.at / 1000})`);
    assert.match(r.headers['webhook-signature'] || '', /^v1,[A-Za-z0-9+/]+=*( v1,[A-Za-z0-9+/]+=*)*$/,
      `request ${i} webhook-signature`);
    assert.doesNotThrow(() => verify(secret, r),
      `request ${i} (webhook-id ${r.headers['webhook-id']}, answered ${r.status}) does not verify with the endpoint's secret`);
  }
}

function payload(request) {
  try {
    return JSON.parse(request.body);
  } catch (e) {
    assert.fail(`webhook body is not JSON: ${request.body.slice(0, 300)} (${e.message})`);
  }
}

/** Requests grouped by webhook-id: Map id → [requests], in arrival order. */
function byId(requests) {
  const m = new Map();
  for (const r of requests) {
    const id = r.headers['webhook-id'];
    if (!m.has(id)) m.set(id, []);
    m.get(id).push(r);
  }
  return m;
}

/** Checks one event's requests carry the same event and returns its payload. */
function oneEvent(id, requests) {
  const payloads = requests.map(payload);
  for (const p of payloads) {
    assert.deepEqual(p.data, payloads[0].data, `retries of webhook-id ${id} carry different events`);
    assert.equal(p.type, payloads[0].type, `retries of webhook-id ${id} carry different types`);
  }
  return payloads[0];
}

function assertPlanChanged(event, measure) {
  assert.equal(event.type, 'plan.changed', `payload type: ${JSON.stringify(event)}`);
  assert.ok(event.timestamp, `payload has no timestamp: ${JSON.stringify(event)}`);
  assert.equal(event.data?.kind, 'PLAN_CHANGED', `payload data.kind: ${JSON.stringify(event)}`);
  assert.ok(event.data.id, `payload has no notice id: ${JSON.stringify(event)}`);
  assert.ok(event.data.at, `payload has no data.at: ${JSON.stringify(event)}`);
  assert.deepEqual(event.data.subject, { type: 'Measure', id: measure.id }, `payload subject: ${JSON.stringify(event)}`);
  assert.deepEqual([...event.data.orders].sort(), measure.orders, `payload orders: ${JSON.stringify(event)}`);
  assert.equal(typeof event.data.summary, 'string', `payload summary: ${JSON.stringify(event)}`);
  assert.ok(event.data.summary.length > 0, 'empty summary');
  assert.match(event.data.link || '', /^https?:\/\//, `payload link: ${JSON.stringify(event)}`);
}

const done = (deliveries, n) => deliveries.length >= n && deliveries.every((d) => d.status === 'DELIVERED');

// ---------------------------------------------------------------------------------------------

describe('webhooks', () => {
  it('retries failed requests with one stable webhook-id per event, every request signed', async (t) => {
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver({ failFirst: 3 }));
      const remedy = await h.remedy({ env: WEBHOOK_ENV });
      const [measure] = await demoMeasures(remedy);
      const { secret, endpoint } = await createEndpoint(remedy, {
        url: receiver.url, eventTypes: ['PLAN_CHANGED'], description: 'retries',
      });
      assert.deepEqual(endpoint.eventTypes, ['PLAN_CHANGED']);

      let v = measure.version;
      v = await changeTitle(remedy, measure, v, `${measure.title} (notify 1)`);
      v = await changeTitle(remedy, measure, v, `${measure.title} (notify 2)`);
      await failedChange(remedy, measure, measure.version);

      await waitFor('both deliveries DELIVERED', async () => done(await deliveriesOf(remedy, endpoint.id), 2), {
        state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id), received: receiver.requests.length }),
      });
      await sleep(3000); // room for anything extra (a third event, a needless retry) to show up
      const deliveries = await deliveriesOf(remedy, endpoint.id);
      const requests = [...receiver.requests];

      const groups = byId(requests);
      assert.equal(groups.size, 2, `expected 2 distinct webhook-ids (2 committed changes, 1 failed), got ${groups.size}: `
        + JSON.stringify(requests.map((r) => ({ id: r.headers['webhook-id'], status: r.status, body: r.body }))));
      assertAllVerify(secret, requests);
      const noticeIds = new Set();
      for (const [id, reqs] of groups) {
        const event = oneEvent(id, reqs);
        assertPlanChanged(event, measure);
        noticeIds.add(event.data.id);
        assert.ok(reqs.at(-1).status < 300, `webhook-id ${id} was never answered 2xx`);
        assert.equal(reqs.filter((r) => r.status < 300).length, 1, `webhook-id ${id} was delivered more than once`);
      }
      assert.equal(noticeIds.size, 2, 'the two events carry the same notice id');

      // Tampering breaks the signature (sanity of the check above).
      const first = requests[0];
      assert.throws(() => verify(secret, { ...first, body: first.body.replace('PLAN_CHANGED', 'PLAN_CHANGEd') }),
        'a tampered body should not verify');
      assert.throws(() => verify(secret, { ...first, body: `${first.body} ` }), 'a body with a trailing space should not verify');
      assert.throws(() => verify(`whsec_${Buffer.from('another secret entirely!').toString('base64')}`, first),
        'another secret should not verify');

      // What remedy says about its deliveries matches what the receiver saw.
      assert.equal(deliveries.length, 2, `deliveries: ${JSON.stringify(deliveries)}`);
      assert.deepEqual(new Set(deliveries.map((d) => d.messageId)), new Set(groups.keys()), 'delivery messageIds are the webhook-ids');
      const attempts = deliveries.reduce((n, d) => n + d.attempts, 0);
      assert.equal(attempts, requests.length, `attempts recorded (${attempts}) ≠ requests received (${requests.length})`);
      assert.ok(deliveries.some((d) => d.attempts >= 2), `a delivery should have needed ≥ 2 attempts: ${JSON.stringify(deliveries)}`);
      const fails = deliveries.flatMap((d) => d.log).filter((a) => a.statusCode === 500);
      assert.equal(fails.length, 3, `the logs should hold the 3 answers 500: ${JSON.stringify(deliveries)}`);
      for (const d of deliveries) {
        assert.equal(d.kind, 'PLAN_CHANGED');
        assert.equal(d.log.length, d.attempts, `log of ${d.messageId} has ${d.log.length} entries for ${d.attempts} attempts`);
        assert.ok(d.lastStatusCode >= 200 && d.lastStatusCode < 300, `lastStatusCode ${d.lastStatusCode}`);
        assert.ok(d.deliveredAt, `deliveredAt unset on ${JSON.stringify(d)}`);
        for (const a of d.log) assert.ok(Number.isInteger(a.durationMs) && a.durationMs >= 0, `durationMs ${a.durationMs}`);
      }

      // The events are the notices remedy recorded.
      const notices = await allNotices(remedy, 'PLAN_CHANGED');
      const listed = new Set(notices.nodes.map((n) => n.id));
      for (const id of noticeIds) assert.ok(listed.has(id), `notice ${id} delivered but not in notices(kind: PLAN_CHANGED)`);
    });
  });

  it('dead-letters after REMEDY_WEBHOOK_MAX_ATTEMPTS and redelivers on request', async (t) => {
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver());
      receiver.failAll();
      const remedy = await h.remedy({ env: { ...WEBHOOK_ENV, REMEDY_WEBHOOK_MAX_ATTEMPTS: '2' } });
      const [measure] = await demoMeasures(remedy);
      const { secret, endpoint } = await createEndpoint(remedy, { url: receiver.url, eventTypes: ['PLAN_CHANGED'] });
      await changeTitle(remedy, measure, measure.version, `${measure.title} (dead letter)`);

      const [dead] = await waitFor('the delivery DEAD', async () => {
        const ds = await deliveriesOf(remedy, endpoint.id);
        return ds.length >= 1 && ds.every((d) => d.status === 'DEAD') && ds;
      }, { state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id), received: receiver.requests.length }) });
      await sleep(2500); // a DEAD delivery is not tried again
      let ds = await deliveriesOf(remedy, endpoint.id);
      assert.equal(ds.length, 1, `one change, one delivery: ${JSON.stringify(ds)}`);
      assert.equal(ds[0].status, 'DEAD');
      assert.equal(ds[0].attempts, 2, `attempts: ${JSON.stringify(ds[0])}`);
      assert.equal(ds[0].log.length, 2);
      assert.ok(ds[0].log.every((a) => a.statusCode === 500), `log: ${JSON.stringify(ds[0].log)}`);
      assert.equal(ds[0].lastStatusCode, 500);
      assert.equal(receiver.requests.length, 2, `the receiver should have seen exactly 2 attempts, saw ${receiver.requests.length}`);
      assert.equal(byId(receiver.requests).size, 1);
      assert.equal(receiver.requests[0].headers['webhook-id'], dead.messageId);

      receiver.succeed();
      const again = await redeliver(t, remedy, dead.id);
      assert.equal(again.id, dead.id);
      assert.equal(again.messageId, dead.messageId, 'redelivery keeps the message id');
      assert.ok(['PENDING', 'DELIVERED'].includes(again.status), `after redeliverWebhook: ${JSON.stringify(again)}`);

      await waitFor('the redelivered delivery DELIVERED', async () => done(await deliveriesOf(remedy, endpoint.id), 1), {
        state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id), received: receiver.requests.length }),
      });
      await sleep(2000);
      ds = await deliveriesOf(remedy, endpoint.id);
      assert.equal(ds.length, 1);
      // A redelivery counts its attempts afresh (REMEDY_WEBHOOK_MAX_ATTEMPTS applies again); its
      // log keeps every attempt.
      assert.ok(ds[0].log.length >= 3, `the log should keep the 2 failed attempts and the redelivery: ${JSON.stringify(ds[0].log)}`);
      assert.equal(ds[0].log.length, receiver.requests.length, 'log entries = requests received');
      assert.equal(byId(receiver.requests).size, 1, 'the redelivery uses the same webhook-id');
      assert.equal(receiver.requests.filter((r) => r.status < 300).length, 1, 'delivered exactly once');
      assertAllVerify(secret, receiver.requests);
      assertPlanChanged(oneEvent(dead.messageId, receiver.requests), { id: measure.id, orders: measure.orders });
      assert.equal(ds[0].attempts, 1, `attempts since the redelivery: ${JSON.stringify(ds[0])}`);
      assert.equal(ds[0].status, 'DELIVERED');
    });
  });

  it('signs with the new and the previous secret during a rotation overlap', async (t) => {
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver());
      const remedy = await h.remedy({ env: WEBHOOK_ENV });
      const [measure] = await demoMeasures(remedy);
      const { secret: oldSecret, endpoint } = await createEndpoint(remedy, { url: receiver.url, eventTypes: ['PLAN_CHANGED'] });

      let v = await changeTitle(remedy, measure, measure.version, `${measure.title} (before rotation)`);
      await waitFor('the first event', async () => receiver.delivered().length >= 1);
      const before = receiver.delivered()[0];
      assert.equal(before.headers['webhook-signature'].split(' ').length, 1, `one signature before rotation: ${before.headers['webhook-signature']}`);
      assert.doesNotThrow(() => verify(oldSecret, before));

      const rotated = await rotateSecret(t, remedy, endpoint.id, 1);
      const newSecret = rotated.secret;
      assert.match(newSecret, /^whsec_/);
      assert.notEqual(newSecret, oldSecret, 'rotation should make a new secret');
      const expires = Date.parse(rotated.endpoint.previousSecretExpiresAt);
      assert.ok(Math.abs(expires - (Date.now() + 3600e3)) < 10 * 60e3,
        `previousSecretExpiresAt ${rotated.endpoint.previousSecretExpiresAt} should be about an hour from now`);

      v = await changeTitle(remedy, measure, v, `${measure.title} (after rotation)`);
      await waitFor('the second event', async () => receiver.delivered().length >= 2,
        { state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id) }) });
      const after = receiver.delivered()[1];
      assert.notEqual(after.headers['webhook-id'], before.headers['webhook-id']);
      const signatures = after.headers['webhook-signature'].split(' ');
      assert.equal(signatures.length, 2, `two signatures during the overlap, got: ${after.headers['webhook-signature']}`);
      assert.ok(signatures.every((s) => s.startsWith('v1,')));
      assert.doesNotThrow(() => verify(newSecret, after), 'the request should verify with the new secret');
      assert.doesNotThrow(() => verify(oldSecret, after), 'the request should verify with the previous secret');
      // Each signature alone: one is the new secret's, the other the old one's.
      const alone = (sig) => ({ ...after, headers: { ...after.headers, 'webhook-signature': sig } });
      const byNew = signatures.filter((s) => { try { verify(newSecret, alone(s)); return true; } catch { return false; } });
      const byOld = signatures.filter((s) => { try { verify(oldSecret, alone(s)); return true; } catch { return false; } });
      assert.equal(byNew.length, 1, 'exactly one signature by the new secret');
      assert.equal(byOld.length, 1, 'exactly one signature by the previous secret');
      assert.notEqual(byNew[0], byOld[0]);
      assertPlanChanged(payload(after), measure);
    });
  });

  it('refuses endpoints on loopback, private and link-local addresses and non-HTTP schemes (SSRF)', async (t) => {
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver());
      const { REMEDY_WEBHOOK_ALLOW, ...noAllow } = WEBHOOK_ENV;
      const remedy = await h.remedy({ env: noAllow });
      const refused = [
        `http://127.0.0.1:${receiver.port}/`,
        'http://10.1.2.3/',
        `http://localhost:${receiver.port}/`,
        'ftp://example.com/',
        'http://169.254.169.254/latest/meta-data/',
        `http://[::1]:${receiver.port}/`,
        'http://192.168.1.1/',
        // usual disguises of loopback
        `http://2130706433:${receiver.port}/`,
        `http://[::ffff:127.0.0.1]:${receiver.port}/`,
        `http://0.0.0.0:${receiver.port}/`,
      ];
      for (const url of refused) {
        const body = await remedy.raw(CREATE_ENDPOINT, { url, eventTypes: ['PLAN_CHANGED'] });
        assert.ok(body.errors?.length, `createWebhookEndpoint(${url}) should be refused, got ${JSON.stringify(body)}`);
        assert.deepEqual(errorCodes(body), ['VALIDATION'], `createWebhookEndpoint(${url}): ${JSON.stringify(body.errors)}`);
        assert.ok(!body.data?.createWebhookEndpoint, `refused but answered data: ${JSON.stringify(body.data)}`);
      }
      assert.deepEqual(await endpoints(remedy), [], 'a refused endpoint must not be written');
      assert.equal(receiver.requests.length, 0, 'remedy should not have called a refused URL');

      // Only ADMIN manages endpoints.
      const editor = await remedy.issueToken('notify-editor', 'EDITOR');
      const asEditor = await remedy.raw(`query { webhookEndpoints { id } }`, {}, editor);
      assert.deepEqual(errorCodes(asEditor), ['FORBIDDEN'], `webhookEndpoints as EDITOR: ${JSON.stringify(asEditor)}`);
      const createAsEditor = await remedy.raw(CREATE_ENDPOINT, { url: 'https://example.com/hook' }, editor);
      assert.deepEqual(errorCodes(createAsEditor), ['FORBIDDEN'], `createWebhookEndpoint as EDITOR: ${JSON.stringify(createAsEditor)}`);

      // Allowed network: 127.0.0.1 is accepted, other private addresses stay refused.
      await remedy.restart({ env: { REMEDY_WEBHOOK_ALLOW: '127.0.0.1/32' } });
      const ok = await createEndpoint(remedy, { url: `http://127.0.0.1:${receiver.port}/`, eventTypes: ['PLAN_CHANGED'] });
      const still = await remedy.raw(CREATE_ENDPOINT, { url: 'http://10.1.2.3/', eventTypes: ['PLAN_CHANGED'] });
      assert.deepEqual(errorCodes(still), ['VALIDATION'], `10.1.2.3 with only 127.0.0.1/32 allowed: ${JSON.stringify(still)}`);
      const ftp = await remedy.raw(CREATE_ENDPOINT, { url: `ftp://127.0.0.1:${receiver.port}/` });
      assert.deepEqual(errorCodes(ftp), ['VALIDATION'], `ftp on an allowed address: ${JSON.stringify(ftp)}`);
      const list = await endpoints(remedy);
      assert.deepEqual(list.map((e) => e.id), [ok.endpoint.id], `only the allowed endpoint is listed: ${JSON.stringify(list)}`);
    });
  });

  it('delivers every committed event after a SIGKILL while deliveries are pending', async (t) => {
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver());
      receiver.failAll();
      const remedy = await h.remedy({ env: { ...WEBHOOK_ENV, REMEDY_WEBHOOK_MAX_ATTEMPTS: '50' } });
      const [measure, other] = await demoMeasures(remedy);
      const { secret, endpoint } = await createEndpoint(remedy, { url: receiver.url, eventTypes: ['PLAN_CHANGED'] });

      let v = measure.version;
      for (let i = 1; i <= 3; i++) v = await changeTitle(remedy, measure, v, `${measure.title} (crash ${i})`);
      await failedChange(remedy, other, other.version + 7);

      await waitFor('a first attempt logged', async () => {
        const ds = await deliveriesOf(remedy, endpoint.id);
        return receiver.requests.length >= 1 && ds.some((d) => d.attempts >= 1 && d.log.length >= 1);
      }, { state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id), received: receiver.requests.length }) });
      const exit = await remedy.kill();
      assert.equal(exit.signal, 'SIGKILL', `remedy should have died of SIGKILL: ${JSON.stringify(exit)}`);
      const beforeRestart = receiver.requests.length;
      receiver.succeed();
      await remedy.start();

      await waitFor('3 events delivered after the restart', async () => {
        const ds = await deliveriesOf(remedy, endpoint.id);
        return done(ds, 3) && receiver.delivered().length >= 3;
      }, { state: async () => ({ deliveries: await deliveriesOf(remedy, endpoint.id), received: receiver.requests.length, delivered: receiver.delivered().length }) });
      await sleep(3000);

      const groups = byId(receiver.requests);
      assert.equal(groups.size, 3, `3 committed changes, 1 failed: expected 3 webhook-ids, got ${groups.size}: `
        + JSON.stringify(receiver.requests.map((r) => ({ id: r.headers['webhook-id'], status: r.status, body: r.body }))));
      assert.ok(receiver.requests.length > beforeRestart, 'nothing arrived after the restart');
      const notices = new Set();
      for (const [id, reqs] of groups) {
        const event = oneEvent(id, reqs);
        assertPlanChanged(event, measure); // never `other`, whose change failed
        notices.add(event.data.id);
        assert.equal(reqs.filter((r) => r.status < 300).length, 1, `webhook-id ${id} delivered ${reqs.filter((r) => r.status < 300).length} times`);
      }
      assert.equal(notices.size, 3, 'three distinct notices');
      assertAllVerify(secret, receiver.requests);
      const ds = await deliveriesOf(remedy, endpoint.id);
      assert.equal(ds.length, 3, `deliveries: ${JSON.stringify(ds)}`);
      assert.deepEqual(new Set(ds.map((d) => d.messageId)), new Set(groups.keys()));
    });
  });

  it('two replicas on one PostgreSQL note and deliver each overdue reminder once', async (t) => {
    if (BACKEND !== 'postgresql') {
      t.skip('PostgreSQL only');
      return;
    }
    await Harness.run(t, async (h) => {
      const receiver = h.track(await webhookReceiver());
      const db = await h.database();
      // Reminders look back REMEDY_REMIND_LOOKBACK_DAYS (default 7) days: the demo's due dates are
      // in 2022, so look back far enough for every unfinished demo measure to be overdue once.
      const env = { ...WEBHOOK_ENV, REMEDY_REMIND_LOOKBACK_DAYS: '10000' };
      // First without the worker, so that the endpoint exists before any reminder is noted: the
      // first replica loads the demo, the second (also --demo) finds the database filled.
      const quiet = { ...env, REMEDY_NOTIFY_INTERVAL_SECONDS: '0' };
      const a = await h.remedy({ name: 'replica-a', databaseUrl: db.url, env: quiet });
      const b = await h.remedy({ name: 'replica-b', databaseUrl: db.url, env: quiet, secret: a.secret });
      const { secret, endpoint } = await createEndpoint(a, { url: receiver.url, eventTypes: ['MEASURE_OVERDUE'] });
      assert.equal((await allNotices(b, 'MEASURE_OVERDUE')).nodes.length, 0, 'no worker yet, so no reminder should be noted');
      assert.equal((await endpoints(b)).length, 1, 'the second replica should see the first one\'s endpoint');
      // Then both with the worker every second, started together so that their runs race.
      await Promise.all([a.restart({ env }), b.restart({ env })]);
      const startedAt = Date.now();

      const expected = (await a.q(REMINDERS, { on: today() })).reminders.filter((r) => r.kind === 'MEASURE_OVERDUE');
      assert.ok(expected.length > 0, 'the demo plan should have overdue measures today (reminders preview is empty)');

      await waitFor('every overdue reminder noted and delivered', async () => {
        const notices = (await allNotices(b, 'MEASURE_OVERDUE')).nodes;
        const ds = await deliveriesOf(a, endpoint.id);
        return notices.length >= expected.length && done(ds, notices.length)
          && new Set(receiver.delivered().map((r) => payload(r).data.id)).size >= notices.length;
      }, {
        state: async () => ({
          notices: (await allNotices(b, 'MEASURE_OVERDUE')).nodes.length,
          expected: expected.length,
          deliveries: (await deliveriesOf(a, endpoint.id)).map((d) => d.status),
          received: receiver.requests.length,
        }),
      });
      await sleep(Math.max(3000, 8000 - (Date.now() - startedAt))); // both replicas tick several times more

      const notices = (await allNotices(a, 'MEASURE_OVERDUE')).nodes;
      t.diagnostic(`${notices.length} MEASURE_OVERDUE notices, ${receiver.requests.length} requests, ${byId(receiver.requests).size} webhook-ids`);
      const keys = notices.map((n) => n.dedupKey);
      assert.equal(new Set(keys).size, keys.length, `a dedupKey noted twice: ${JSON.stringify(keys)}`);
      assert.equal(notices.length, expected.length,
        `notices(kind: MEASURE_OVERDUE) has ${notices.length}, reminders(on: today) ${expected.length}`);
      assert.deepEqual(new Set(keys), new Set(expected.map((r) => r.dedupKey)),
        'the noted dedupKeys should be the previewed ones');
      for (const r of expected) assert.ok(r.orders.every((o) => DEMO_ORDERS.includes(o)), `reminder orders: ${JSON.stringify(r)}`);

      assertAllVerify(secret, receiver.requests);
      const groups = byId(receiver.requests);
      const noticeOf = new Map();
      for (const [id, reqs] of groups) {
        const event = oneEvent(id, reqs);
        assert.equal(event.type, 'measure.overdue', `payload type: ${JSON.stringify(event)}`);
        assert.equal(event.data.kind, 'MEASURE_OVERDUE');
        assert.ok(!noticeOf.has(event.data.id) || noticeOf.get(event.data.id) === id,
          `notice ${event.data.id} emitted under two webhook-ids: ${noticeOf.get(event.data.id)} and ${id}`);
        noticeOf.set(event.data.id, id);
      }
      assert.equal(groups.size, notices.length, `${groups.size} webhook-ids for ${notices.length} notices`);
      const twice = [...groups].filter(([, reqs]) => reqs.filter((r) => r.status < 300).length > 1).map(([id]) => id);
      if (twice.length) t.diagnostic(`delivered more than once (allowed, at least once): ${twice.join(' ')}`);
      assert.deepEqual(new Set(noticeOf.keys()), new Set(notices.map((n) => n.id)),
        'the delivered notice ids should be the listed notices');
      const ds = await deliveriesOf(b, endpoint.id);
      assert.equal(ds.length, notices.length, `deliveries ${ds.length} for ${notices.length} notices`);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('e-mail digests', () => {
  it('sends one daily digest per owner in its language over STARTTLS + AUTH, and a weekly one', async (t) => {
    await Harness.run(t, async (h) => {
      const smtp = h.track(await smtpReceiver());
      // Set up without SMTP (no digest can go out before the owners' languages are set).
      const remedy = await h.remedy({ env: { REMEDY_NOTIFY_INTERVAL_SECONDS: '0' } });
      const isEmail = (s) => typeof s === 'string' && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s.trim());

      const owners = (await remedy.q(OWNERS)).owners.edges.map((e) => e.node);
      const isec = owners.find((o) => o.code === 'isec-office');
      assert.ok(isec, `no owner isec-office in ${JSON.stringify(owners.map((o) => o.code))}`);
      assert.ok(isEmail(isec.contact), `isec-office's contact is not an e-mail address: ${isec.contact}`);
      for (const o of owners) assert.ok(o.language === null || o.language === 'JA', `owner ${o.code} language ${o.language} before the test set any`);

      let overdue = await allOverdue(remedy);
      if (!overdue.some((m) => m.owner?.code === 'isec-office')) {
        // Make isec-office an owner with an overdue measure, taken from an owner with two or more.
        const counts = new Map();
        for (const m of overdue) if (m.owner) counts.set(m.owner.code, (counts.get(m.owner.code) || 0) + 1);
        const donor = overdue.find((m) => m.owner && counts.get(m.owner.code) >= 2);
        assert.ok(donor, `cannot give isec-office an overdue measure: ${JSON.stringify(overdue)}`);
        const { node } = await remedy.q(`query($id: ID!) { node(id: $id) { ... on Measure { version } } }`, { id: donor.id });
        await remedy.q(UPDATE_MEASURE, { id: donor.id, version: node.version, ownerId: isec.id });
        t.diagnostic(`isec-office had no overdue measure: ${donor.code} moved to it`);
        overdue = await allOverdue(remedy);
      }
      const set = await remedy.q(`mutation($id: ID!, $version: Int!) {
        updateOwner(id: $id, version: $version, input: { language: EN }) { id code language version }
      }`, { id: isec.id, version: isec.version });
      assert.equal(set.updateOwner.language, 'EN');

      // Expected daily digests: owners with an e-mail contact and overdue measures.
      const expected = new Map(); // address → { code, codes: Set, lang }
      for (const m of overdue) {
        if (!m.owner || !isEmail(m.owner.contact)) continue;
        const address = m.owner.contact.trim().toLowerCase();
        if (!expected.has(address)) {
          expected.set(address, { owner: m.owner.code, codes: new Set(), lang: m.owner.code === 'isec-office' ? 'EN' : 'JA' });
        }
        expected.get(address).codes.add(m.code);
      }
      assert.ok(expected.size >= 2, `expected digests for ≥ 2 owners (one EN, one JA), got ${JSON.stringify([...expected])}`);
      assert.ok([...expected.values()].some((e) => e.lang === 'EN'), 'no English digest expected');
      assert.ok([...expected.values()].some((e) => e.lang === 'JA'), 'no Japanese digest expected');
      const allCodes = new Set(overdue.map((m) => m.code));
      for (const [address, e] of expected) t.diagnostic(`expect ${e.lang} digest to ${address}: ${[...e.codes].sort().join(' ')}`);

      await remedy.restart({
        env: {
          REMEDY_NOTIFY_INTERVAL_SECONDS: '1',
          REMEDY_WEBHOOK_BACKOFF_SECONDS: '1',
          REMEDY_SMTP_HOST: smtp.host,
          REMEDY_SMTP_PORT: String(smtp.port),
          REMEDY_SMTP_USERNAME: smtp.user,
          REMEDY_SMTP_PASSWORD: smtp.password,
          REMEDY_SMTP_TLS: 'starttls',
          REMEDY_SMTP_CA_FILE: smtp.certPath,
          REMEDY_SMTP_FROM: 'remedy@example.com',
          REMEDY_DIGEST_WEEKLY_TO: 'en:compliance@example.com',
        },
      });
      const WEEKLY = 'compliance@example.com';
      const state = async () => ({
        received: smtp.messages.map((m) => ({ to: m.to, subject: m.subject })),
        refused: smtp.refused, errors: smtp.errors,
        digests: (await remedy.raw(DIGESTS)),
        expected: [...expected.keys()],
      });
      await waitFor('every daily digest and the weekly one', async () => {
        const to = new Set(smtp.messages.flatMap((m) => m.envelope.to));
        return [...expected.keys()].every((a) => to.has(a)) && to.has(WEEKLY);
      }, { state });
      await sleep(3000); // room for duplicates or strays

      const messages = [...smtp.messages];
      assert.deepEqual(smtp.refused, [], 'remedy tried to send without STARTTLS/AUTH');
      for (const m of messages) {
        assert.equal(m.envelope.to.length, 1, `one recipient per digest: ${JSON.stringify(m.envelope)}`);
        assert.deepEqual(m.to, m.envelope.to, `To header ${m.to} vs envelope ${m.envelope.to}`);
        assert.deepEqual(m.from, ['remedy@example.com'], `From: ${m.from}`);
        assert.equal(m.secure, true);
        assert.equal(m.user, smtp.user);
        assert.ok(m.text.trim().length > 0, `no text part in the mail to ${m.to}`);
        assert.ok(m.html.trim().length > 0, `no html part in the mail to ${m.to}`);
      }
      const daily = messages.filter((m) => m.envelope.to[0] !== WEEKLY);
      const weekly = messages.filter((m) => m.envelope.to[0] === WEEKLY);
      assert.deepEqual(daily.map((m) => m.envelope.to[0]).sort(), [...expected.keys()].sort(),
        'exactly one daily digest per owner with overdue measures and an e-mail contact');
      const escape = (s) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
      const codeIn = (code, s) => new RegExp(`(^|[^A-Za-z0-9-])${escape(code)}(?![0-9A-Za-z])`).test(s);
      for (const m of daily) {
        const exp = expected.get(m.envelope.to[0]);
        for (const code of exp.codes) {
          assert.ok(codeIn(code, m.text), `${exp.owner}'s digest text does not list ${code}:\n${m.text}`);
          assert.ok(codeIn(code, m.html), `${exp.owner}'s digest html does not list ${code}:\n${m.html}`);
        }
        for (const code of allCodes) {
          if (exp.codes.has(code)) continue;
          assert.ok(!codeIn(code, m.text), `${exp.owner}'s digest text lists another owner's ${code}:\n${m.text}`);
          assert.ok(!codeIn(code, m.html), `${exp.owner}'s digest html lists another owner's ${code}`);
        }
        if (exp.lang === 'EN') {
          assert.match(`${m.subject}\n${m.text}`, /Overdue/, `${exp.owner}'s digest should be English: ${m.subject}\n${m.text}`);
          assert.ok(!m.text.includes('期限超過') && !m.subject.includes('期限超過'), `${exp.owner}'s English digest has Japanese: ${m.subject}\n${m.text}`);
        } else {
          assert.match(m.subject, /remedy/, `${exp.owner}'s subject: ${m.subject}`);
          assert.ok(`${m.subject}\n${m.text}`.includes('期限超過'), `${exp.owner}'s digest should be Japanese (期限超過): ${m.subject}\n${m.text}`);
        }
      }
      assert.equal(weekly.length, 1, `one weekly digest, got ${weekly.length}`);
      assert.match(`${weekly[0].subject}\n${weekly[0].text}`, /Overdue/, `the weekly digest should be English: ${weekly[0].subject}\n${weekly[0].text}`);
      assert.ok(!weekly[0].text.includes('期限超過'), `the English weekly digest has Japanese:\n${weekly[0].text}`);

      const digests = (await remedy.q(DIGESTS)).digests;
      for (const [address, exp] of expected) {
        const mine = digests.filter((d) => d.recipient.toLowerCase() === address);
        assert.equal(mine.length, 1, `digests for ${address}: ${JSON.stringify(mine)}`);
        assert.equal(mine[0].status, 'DELIVERED', JSON.stringify(mine[0]));
        assert.equal(mine[0].language, exp.lang, JSON.stringify(mine[0]));
        assert.equal(mine[0].day, today(), JSON.stringify(mine[0]));
        assert.equal(mine[0].subject, daily.find((m) => m.envelope.to[0] === address).subject, 'digest subject = mail subject');
      }
      const weeklyRows = digests.filter((d) => d.recipient.toLowerCase() === WEEKLY);
      assert.equal(weeklyRows.length, 1, `weekly digest rows: ${JSON.stringify(weeklyRows)}`);
      assert.equal(weeklyRows[0].status, 'DELIVERED');
      assert.equal(weeklyRows[0].language, 'EN');
      assert.equal(digests.length, messages.length, `digests ${digests.length} vs mails ${messages.length}: ${JSON.stringify(digests)}`);

      // A restart sends nothing again today.
      const count = smtp.messages.length;
      await remedy.restart();
      await sleep(5000);
      assert.equal(smtp.messages.length, count, `a restart sent digests again: ${JSON.stringify(smtp.messages.slice(count).map((m) => [m.to, m.subject]))}`);
      assert.equal((await remedy.q(DIGESTS)).digests.length, digests.length, 'a restart made new digests');
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('reminders preview', () => {
  it('previews the demo plan\'s reminders for a day and writes nothing', async (t) => {
    await Harness.run(t, async (h) => {
      // No worker: whatever is noted from now on would be the preview's doing.
      const remedy = await h.remedy({ env: { REMEDY_NOTIFY_INTERVAL_SECONDS: '0', REMEDY_APPROVAL_SWEEP_SECONDS: '0' } });
      // Whatever start-up notes (the demo load, a sweep) is done before the count is taken.
      let last = -1;
      const before = await waitFor('the notices to settle', async () => {
        const now = await allNotices(remedy);
        const settled = now.totalCount === last;
        last = now.totalCount;
        return settled && now;
      }, { interval: 1500 });
      const { reminders } = await remedy.q(REMINDERS, { on: '2022-12-01' });
      assert.ok(reminders.length > 0, 'reminders(on: 2022-12-01) is empty on the demo plan');
      const measureReminders = reminders.filter((r) => ['MEASURE_OVERDUE', 'MEASURE_DUE_SOON'].includes(r.kind));
      assert.ok(measureReminders.length > 0, `no MEASURE_OVERDUE/MEASURE_DUE_SOON among ${JSON.stringify(reminders)}`);
      for (const r of reminders) {
        assert.ok(r.dedupKey && r.subjectId && r.summary && r.subjectType, `incomplete reminder ${JSON.stringify(r)}`);
        assert.ok(r.orders.every((o) => DEMO_ORDERS.includes(o)), `reminder orders: ${JSON.stringify(r)}`);
      }
      for (const r of measureReminders) {
        assert.equal(r.subjectType, 'Measure', JSON.stringify(r));
        assert.ok(r.orders.length > 0, `a measure reminder in no order: ${JSON.stringify(r)}`);
      }
      const kinds = {};
      for (const r of reminders) kinds[r.kind] = (kinds[r.kind] || 0) + 1;
      t.diagnostic(`reminders(on: 2022-12-01): ${JSON.stringify(kinds)}`);
      const keys = reminders.map((r) => r.dedupKey);
      assert.equal(new Set(keys).size, keys.length, `a dedupKey twice in one preview: ${JSON.stringify(keys)}`);

      const again = (await remedy.q(REMINDERS, { on: '2022-12-01' })).reminders;
      assert.deepEqual(again, reminders, 'the preview should be the same when asked twice');
      await sleep(1500);
      const after = await allNotices(remedy);
      assert.equal(after.totalCount, before.totalCount, 'reminders(on:) wrote notices');
      assert.deepEqual(after.nodes.map((n) => n.id), before.nodes.map((n) => n.id), 'reminders(on:) wrote notices');
    });
  });
});
