// The web console in a real browser (Debian's Chromium, driven by playwright-core) against a
// real remedy serving the demo plan (its own server and database: these tests change the
// plan). Every request to a host other than 127.0.0.1 is blocked and counted, and the count
// must be zero; so must Content-Security-Policy and Trusted Types violations and page errors.
//
// - signing in: a pasted token; on a demo server with a generated secret, a demo role;
// - EDITOR: M-20 found from the dashboard, moved through a transition, evidence uploaded with
//   its SHA-256 shown before and after, the year-end report submitted after confirmation; a
//   second browser context sees each change arrive live, without reloading;
// - EVALUATOR for METI-2022-06-30: the privacy commission's order exists nowhere (navigation,
//   search, the direct URL of one of its measures answers "not found"); an evaluation added;
// - VIEWER: no control that changes anything, on any page;
// - hostile text in a measure's title renders verbatim and runs nothing;
// - axe-core on every page: no serious or critical violation.
// Screenshots of every page go to tests/clients/screenshots (git-ignored).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { BACKEND, Remedy, freshDatabase } from '../lib/remedy.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const METI = 'METI-2022-06-30';
const PPC = 'PPC-2022-07-13';
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

describe('the console in Chromium', () => {
  let db;
  let remedy;
  let browser;
  const tokens = {};
  const ids = {};
  const outside = [];
  const violations = [];
  const contexts = [];

  /** A page in a fresh browser context, signed in with `token` when one is given. */
  async function open(token, { viewport = LAPTOP, lang } = {}) {
    const context = await browser.newContext({ viewport, locale: 'en-GB' });
    contexts.push(context);
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1') return route.continue();
      outside.push(url.href);
      return route.abort();
    });
    if (token || lang) {
      await context.addInitScript(
        ([t, l]) => {
          if (t) sessionStorage.setItem('remedy.token', t);
          if (l) localStorage.setItem('remedy.lang', l);
        },
        [token, lang],
      );
    }
    const page = await context.newPage();
    page.on('pageerror', (err) => violations.push(`page error: ${err}`));
    page.on('console', (msg) => {
      const text = msg.text();
      if (/Content Security Policy|Trusted Type|Refused to/i.test(text)) violations.push(`${msg.type()}: ${text}`);
    });
    return page;
  }

  /** Goes to a console path and waits for its page to have loaded its data. */
  async function visit(page, path) {
    const res = await page.goto(`${remedy.url}${path}`);
    assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
    await settle(page);
  }

  async function settle(page) {
    await page.waitForSelector('main h1', { timeout: 20000 });
    await page.waitForFunction(() => !document.querySelector('main .loading, main [aria-busy="true"]'), null, { timeout: 20000 });
  }

  async function shot(page, name) {
    await page.screenshot({ path: join(SHOTS, `${BACKEND}-${name}.png`), fullPage: true });
  }

  /** axe-core's serious and critical violations on the page as it is. */
  async function axe(page) {
    await page.evaluate(AXE);
    const found = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const result = await axe.run(document, { resultTypes: ['violations'] });
      return {
        checked: result.passes.length,
        violations: result.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`),
      };
    });
    // axe ran its rules (a page it could not audit would pass nothing).
    assert.ok(found.checked >= 10, `axe passed only ${found.checked} rules`);
    return found.violations;
  }

  async function issue(subject, role, orders = []) {
    const d = await remedy.q(
      'mutation($i: IssueTokenInput!) { issueToken(input: $i) { token } }',
      { i: { subject, roles: [role], orders, ttl: '1h' } },
    );
    return d.issueToken.token;
  }

  before(async () => {
    db = await freshDatabase();
    remedy = new Remedy({ name: 'console', databaseUrl: db.url });
    await remedy.start();
    tokens.editor = await issue('console-editor', 'EDITOR');
    tokens.viewer = await issue('console-viewer', 'VIEWER');
    tokens.evaluator = await issue('console-committee', 'EVALUATOR', [METI]);
    const d = await remedy.q(`{
      meti: orderByReference(reference: "${METI}") { id reports(first: 20) { nodes { id code status } } }
      ppc: orderByReference(reference: "${PPC}") {
        id measures(first: 100) { nodes { id code findings(first: 20) { nodes { order { reference } } } } }
      }
      m20: measures(filter: { search: "M-20" }, first: 5) { nodes { id code } }
    }`);
    ids.m20 = d.m20.nodes.find((m) => m.code === 'M-20').id;
    ids.yearEnd = d.meti.reports.nodes.find((r) => r.code === 'METI-2022-12-31').id;
    ids.metiReport = d.meti.reports.nodes.find((r) => r.status !== 'DRAFT')?.id ?? ids.yearEnd;
    const ppcOnly = d.ppc.measures.nodes.find((m) => m.findings.nodes.every((f) => f.order.reference === PPC));
    assert.ok(ppcOnly, 'the demo plan has a measure answering only the privacy commission');
    ids.ppcMeasure = ppcOnly.id;
    ids.ppcMeasureCode = ppcOnly.code;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await remedy?.stop();
    await db?.drop();
    assert.deepEqual(outside, [], 'requests to hosts other than 127.0.0.1');
    assert.deepEqual(violations, [], 'page errors, CSP or Trusted Types violations');
  });

  it('is served at / with a strict policy, and GraphiQL moved to /graphiql', async () => {
    const res = await fetch(`${remedy.url}/`);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /require-trusted-types-for 'script'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(await res.text(), /<script type="module" src="\/console\/app.js">/);
    const graphiql = await fetch(`${remedy.url}/graphiql`);
    assert.match(await graphiql.text(), /GraphiQL/);
    // A demo server started with a key of its own offers no demo tokens.
    assert.equal((await fetch(`${remedy.url}/console/demo-tokens`)).status, 404);
  });

  it('signs in with a pasted token, kept for the tab only', async () => {
    const page = await open(null);
    await visit(page, `/orders/${METI}`);
    assert.equal(await page.locator('textarea#token').count(), 1, 'a signed-out visitor sees the sign-in form');
    await shot(page, 'signin');
    assert.deepEqual(await axe(page), [], 'sign-in page accessibility');
    await page.fill('textarea#token', 'not-a-token');
    await page.click('form.token button[type=submit]');
    await page.waitForSelector('.error[data-code="UNAUTHENTICATED"]');
    await page.fill('textarea#token', tokens.viewer);
    await page.click('form.token button[type=submit]');
    // Back to the page asked for.
    await page.waitForSelector(`main h1:has-text("Business improvement order")`, { timeout: 20000 });
    assert.equal(new URL(page.url()).pathname, `/orders/${METI}`);
    assert.ok(await page.evaluate(() => sessionStorage.getItem('remedy.token')));
    assert.equal(await page.evaluate(() => localStorage.getItem('remedy.token')), null);
    await page.click('header .who button');
    await page.waitForSelector('textarea#token');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('remedy.token')), null);
  });

  it('offers the demo roles on a demo server with a generated secret', async () => {
    const demoDb = await freshDatabase();
    const demo = new Remedy({ name: 'console-demo', databaseUrl: demoDb.url, generatedSecret: true });
    try {
      await demo.start();
      const res = await fetch(`${demo.url}/console/demo-tokens`);
      assert.equal(res.status, 200);
      const { tokens: offered } = await res.json();
      assert.deepEqual(offered.map((t) => t.role).sort(), ['ADMIN', 'AUDITOR', 'EDITOR', 'EVALUATOR', 'VIEWER']);
      // Not to a client relayed by a proxy on this machine.
      const relayed = await fetch(`${demo.url}/console/demo-tokens`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
      assert.equal(relayed.status, 404);
      const page = await open(null);
      await page.goto(`${demo.url}/`);
      await page.click('button[data-role="EDITOR"]');
      await page.waitForSelector('main h1:has-text("Dashboard")', { timeout: 20000 });
      await page.waitForSelector('header .who .subject:has-text("demo-editor")');
    } finally {
      await demo.stop();
      await demoDb.drop();
    }
  });

  it('lets an EDITOR move M-20, upload evidence and submit the year-end report, live in a second context', async () => {
    const page = await open(tokens.editor);
    const watcher = await open(tokens.viewer);

    // M-20 from the dashboard: the order's link, then the measure's.
    await visit(page, '/');
    await shot(page, 'dashboard');
    // As of a past day: the figures are the API's for that day, and the day is in the URL.
    const { progress } = await remedy.q('{ progress(asOf: "2022-11-29") { total percentImplemented overdue } }');
    await page.fill('#as-of', '2022-11-29');
    await page.waitForFunction(() => location.search.includes('asOf=2022-11-29'));
    await page.waitForSelector('#overall:has-text("2022-11-29")');
    await settle(page);
    const figures = await page.textContent('section[aria-labelledby="overall"] .figures');
    assert.ok(figures.includes(`Measures ${progress.total}`), figures);
    assert.ok(figures.includes(`${Math.round(progress.percentImplemented)}% implemented`), figures);
    assert.ok(figures.includes(`Overdue ${progress.overdue}`), figures);
    await shot(page, 'dashboard-as-of');
    await page.click(`main a:text-is("${METI}")`);
    await settle(page);
    await shot(page, 'order');
    await page.locator('main a:text-is("M-20")').first().click();
    await settle(page);
    assert.equal(new URL(page.url()).pathname, `/measures/${ids.m20}`);
    await page.waitForSelector('h1:has-text("Penetration tests on all payment systems")');
    await shot(page, 'measure');

    await visit(watcher, `/measures/${ids.m20}`);
    await watcher.evaluate(() => { window.__sameDocument = true; });
    await watcher.waitForSelector('[data-live="live"]', { timeout: 15000 });
    assert.equal((await watcher.textContent('.page-head .badge')).trim(), 'In progress');

    // A transition the API offers.
    const offered = await page.$$eval('[data-action^="transition-"]', (els) => els.map((e) => e.getAttribute('value')));
    assert.ok(offered.includes('IMPLEMENTED'), `transitions offered: ${offered}`);
    await page.click('[data-action="transition-IMPLEMENTED"]');
    await page.waitForSelector('.page-head .badge:has-text("Implemented")', { timeout: 15000 });
    await watcher.waitForSelector('.page-head .badge:has-text("Implemented")', { timeout: 15000 });
    assert.equal(await watcher.evaluate(() => window.__sameDocument), true, 'the watcher reloaded instead of updating live');

    // Evidence: the SHA-256 computed in the browser, then the one the server stored.
    const bytes = Buffer.from(`penetration test summary ${Date.now()}\n診断結果の要約\n`);
    const sha = createHash('sha256').update(bytes).digest('hex');
    await page.setInputFiles('form.upload input[type=file]', { name: 'pentest-summary.txt', mimeType: 'text/plain', buffer: bytes });
    await page.waitForSelector(`[data-hash="before"]:text-is("${sha}")`);
    await page.fill('form.upload input[name=title]', 'Penetration test summary');
    await page.selectOption('form.upload select[name=kind]', 'PENTEST_REPORT');
    await page.click('form.upload button[type=submit]');
    await page.waitForSelector(`[data-hash="after"]:text-is("${sha}")`, { timeout: 20000 });
    await page.waitForSelector(`ul.evidence code.sha256:text-is("${sha}")`);
    await watcher.waitForSelector(`ul.evidence code.sha256:text-is("${sha}")`, { timeout: 15000 });
    await shot(page, 'measure-after-upload');

    // The year-end report: confirmed, then submitted; the watcher sees it live.
    await page.click('header nav a:text-is("Reports")');
    await settle(page);
    await shot(page, 'reports');
    await visit(watcher, `/reports/${ids.yearEnd}`);
    await watcher.evaluate(() => { window.__sameDocument = true; });
    await watcher.waitForSelector('[data-live="live"]', { timeout: 15000 });
    await page.click('main a:text-is("METI-2022-12-31")');
    await settle(page);
    assert.equal(await page.getAttribute('[data-status]', 'data-status'), 'DRAFT');
    await page.click('[data-action="submit-report"]');
    await page.waitForSelector('dialog[open]');
    await shot(page, 'report-confirm');
    await page.click('[data-action="confirm-submit"]');
    await page.waitForSelector('[data-status="SUBMITTED"]', { timeout: 20000 });
    await watcher.waitForSelector('[data-status="SUBMITTED"]', { timeout: 15000 });
    assert.equal(await watcher.evaluate(() => window.__sameDocument), true);
    await page.waitForSelector('pre.snapshot', { state: 'attached' });
    assert.equal(await page.locator('[data-action="submit-report"]').count(), 0);
    await shot(page, 'report-submitted');

    // The server agrees.
    const d = await remedy.q(`{ node(id: "${ids.m20}") { ... on Measure { status evidence(first: 50) { nodes { sha256 } } } }
      r: node(id: "${ids.yearEnd}") { ... on Report { status } } }`);
    assert.equal(d.node.status, 'IMPLEMENTED');
    assert.ok(d.node.evidence.nodes.some((e) => e.sha256 === sha));
    assert.equal(d.r.status, 'SUBMITTED');
  });

  it('shows an EVALUATOR only its order, and lets it add an evaluation', async () => {
    const page = await open(tokens.evaluator);
    await visit(page, '/');
    await shot(page, 'evaluator-dashboard');
    const nav = await page.textContent('header nav');
    assert.ok(nav.includes(METI), nav);
    assert.ok(!nav.includes(PPC), `the navigation names ${PPC}`);
    assert.ok(!(await page.textContent('body')).includes(PPC), `the dashboard names ${PPC}`);
    assert.ok(!(await page.textContent('body')).includes('Personal Information Protection Commission'));

    // Search: the privacy commission's measure is not found.
    await page.fill('header input[name=q]', ids.ppcMeasureCode);
    await page.press('header input[name=q]', 'Enter');
    await settle(page);
    assert.equal(new URL(page.url()).pathname, '/search');
    assert.equal(await page.locator(`main a:text-is("${ids.ppcMeasureCode}")`).count(), 0);
    await page.fill('header input[name=q]', 'PCI');
    await page.press('header input[name=q]', 'Enter');
    await page.waitForFunction(() => document.querySelector('main h1')?.textContent.includes('PCI'));
    await settle(page);
    assert.ok(!(await page.textContent('main')).includes(PPC));

    // Direct URLs of its measure and its order: not found.
    await visit(page, `/measures/${ids.ppcMeasure}`);
    await page.waitForSelector('[data-code="NOT_FOUND"]');
    assert.ok(!(await page.textContent('main')).includes(ids.ppcMeasureCode));
    await shot(page, 'evaluator-not-found');
    await visit(page, `/orders/${PPC}`);
    await page.waitForSelector('[data-code="NOT_FOUND"]');

    // An evaluation of the year-end report, and nothing else it could change.
    await visit(page, `/reports/${ids.yearEnd}`);
    const actions = await page.$$eval('[data-action]', (els) => els.map((e) => e.getAttribute('data-action')));
    assert.deepEqual(actions, ['add-evaluation'], `controls offered to the evaluator: ${actions}`);
    await page.check('form.evaluation input[value="NEEDS_IMPROVEMENT"]');
    const comment = `Committee review ${Date.now()}: penetration-test remediation evidence is partial.`;
    await page.fill('form.evaluation textarea[name=comment]', comment);
    await page.click('form.evaluation button[type=submit]');
    await page.waitForSelector(`ul.evaluations p.text:text-is("${comment}")`, { timeout: 15000 });
    await shot(page, 'evaluator-report');
    const d = await remedy.q(`{ node(id: "${ids.yearEnd}") { ... on Report { evaluations(first: 50) { nodes { verdict comment evaluatorSubject } } } } }`);
    assert.ok(d.node.evaluations.nodes.some((e) => e.comment === comment && e.verdict === 'NEEDS_IMPROVEMENT' && e.evaluatorSubject === 'console-committee'));

    // The measure page too offers evaluation only.
    await visit(page, `/measures/${ids.m20}`);
    const onMeasure = await page.$$eval('[data-action]', (els) => els.map((e) => e.getAttribute('data-action')));
    assert.deepEqual(onMeasure, ['add-evaluation']);
  });

  it('offers a VIEWER no control that changes anything, on any page', async () => {
    const page = await open(tokens.viewer);
    const paths = ['/', `/orders/${METI}`, `/orders/${PPC}`, `/measures/${ids.m20}`, `/measures/${ids.ppcMeasure}`, '/reports', `/reports/${ids.yearEnd}`, '/owners', '/search?q=PCI'];
    for (const path of paths) {
      await visit(page, path);
      const found = await page.$$eval('[data-action], input[type=file], form.transition, form.upload, form.evaluation, dialog', (els) => els.map((e) => e.outerHTML.slice(0, 80)));
      assert.deepEqual(found, [], `edit controls on ${path} for a VIEWER`);
      assert.equal(await page.locator('main [data-code]').count(), 0, `an error on ${path}`);
    }
    await shot(page, 'viewer-measure');
    // The order page's filters: the measures shown are the API's for the same filter.
    const meti = await remedy.q(`{ o: orderByReference(reference: "${METI}") { id } }`);
    const expected = await remedy.q(`query($f: MeasureFilter!) { measures(filter: $f, first: 100) { nodes { code } } }`, {
      f: { orderId: meti.o.id, status: ['IN_PROGRESS'] },
    });
    await visit(page, `/orders/${METI}`);
    await page.selectOption('form.filters select[name=status]', 'IN_PROGRESS');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => location.search.includes('status=IN_PROGRESS'));
    await settle(page);
    const shown = await page.$$eval('main table.measures tbody tr td:first-child a', (as) => [...new Set(as.map((a) => a.textContent))].sort());
    assert.deepEqual(shown, expected.measures.nodes.map((m) => m.code).sort());
    const badges = await page.$$eval('main table.measures .badge', (bs) => [...new Set(bs.map((b) => b.textContent))]);
    assert.deepEqual(badges, ['In progress']);
    // The figures shown are the API's: the owners' workload, row by row.
    const { owners } = await remedy.q('{ owners(first: 100) { nodes { name workload { open overdue total onTimeRate } } } }');
    await visit(page, '/owners');
    const rows = await page.$$eval('main tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    assert.equal(rows.length, owners.nodes.length);
    for (const o of owners.nodes) {
      const row = rows.find((r) => r[0].startsWith(o.name));
      assert.ok(row, `no row for ${o.name}`);
      const w = o.workload;
      assert.deepEqual(row.slice(2), [String(w.open), String(w.overdue), String(w.total), w.onTimeRate == null ? '—' : `${w.onTimeRate}%`], o.name);
    }
  });

  it('renders hostile text verbatim and runs none of it', async () => {
    const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>"'&amp; {{7*7}} \${7*7} javascript:alert(1) Robert'); DROP TABLE measure;-- \u200Fשלום\u200E 🔐🛡️👩‍💻`;
    const before = await remedy.q(`{ node(id: "${ids.ppcMeasure}") { ... on Measure { version } } }`);
    await remedy.q('mutation($id: ID!, $v: Int!, $i: UpdateMeasureInput!) { updateMeasure(id: $id, version: $v, input: $i) { id } }', {
      id: ids.ppcMeasure, v: before.node.version, i: { title: hostile, note: hostile },
    });
    const page = await open(tokens.editor);
    await visit(page, `/measures/${ids.ppcMeasure}`);
    assert.equal(await page.textContent('h1 .measure-title'), hostile);
    await visit(page, `/search?q=${encodeURIComponent('DROP TABLE')}`);
    await page.waitForSelector('main table.measures');
    assert.ok((await page.textContent('main table.measures')).includes(hostile));
    await visit(page, `/orders/${PPC}`);
    assert.ok((await page.textContent('main')).includes(hostile));
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'hostile text ran');
    assert.equal(await page.locator('main img, main script').count(), 0, 'hostile text became markup');
    await shot(page, 'hostile');
  });

  it('has no serious or critical accessibility violation on any page, in both languages and at a phone width', async () => {
    const pages = [
      ['dashboard', '/'],
      ['order-meti', `/orders/${METI}`],
      ['order-ppc-filtered', `/orders/${PPC}?status=IN_PROGRESS&overdue=1`],
      ['measure-m20', `/measures/${ids.m20}`],
      ['measure-recurring', `/search?q=${encodeURIComponent('Weekly access-log review')}`],
      ['reports', '/reports'],
      ['report-year-end', `/reports/${ids.yearEnd}`],
      ['owners', '/owners'],
      ['search', '/search?q=PCI'],
      ['not-found', `/measures/${Buffer.from('Measure:987654321').toString('base64url')}`],
    ];
    const found = [];
    for (const [lang, viewport, suffix] of [['en', LAPTOP, ''], ['ja', LAPTOP, '-ja'], ['en', PHONE, '-phone']]) {
      const page = await open(tokens.editor, { viewport, lang });
      for (const [name, path] of pages) {
        await visit(page, path);
        if (name === 'measure-recurring') {
          await page.locator('main table.measures a').first().click();
          await settle(page);
        }
        await shot(page, `${name}${suffix}`);
        for (const v of await axe(page)) found.push(`${name}${suffix}: ${v}`);
      }
    }
    assert.deepEqual(found, []);
  });
});
