// The bundled GraphiQL page in a real browser (headless Chromium from Debian, driven by
// playwright-core): everything it loads comes from remedy itself (any other host is
// blocked and the test fails if one is asked for); a token pasted into the Headers tab,
// the default query run, the Docs pane opened down to the Measure type.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { ADMIN, BASE } from '../lib/env.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

describe('GraphiQL in Chromium', () => {
  let browser;
  let page;
  const outside = [];
  const pageErrors = [];

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Running as root in CI containers: Chromium's sandbox needs user namespaces.
      args: ['--no-sandbox'],
    });
    const context = await browser.newContext();
    const base = new URL(BASE);
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === base.hostname && url.port === base.port) {
        return route.continue();
      }
      outside.push(url.href);
      return route.abort();
    });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
  });

  after(async () => {
    await browser?.close();
  });

  it('runs a query with a pasted token and shows the Measure type in the Docs pane', async () => {
    const response = await page.goto(`${BASE}/graphiql`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /default-src 'self'/);
    await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 30000 });

    // Paste the token into the Headers tab (shown by default), replacing the placeholder.
    await page.getByRole('button', { name: 'Headers' }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    await headers.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${ADMIN}` }));
    await page.waitForFunction(
      () => document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror')
        .CodeMirror.getValue().includes('Bearer ey'),
    );

    // The default query (regulators, their orders and progress).
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    const result = page.locator('.graphiql-response .result-window');
    await page.waitForFunction(
      () => document.querySelector('.graphiql-response .result-window')?.textContent.includes('METI-2022-06-30'),
      undefined,
      { timeout: 20000 },
    );
    const text = await result.textContent();
    assert.match(text, /"reference": "PPC-2022-07-13"/);
    assert.doesNotMatch(text, /"errors"/);

    // The schema was first fetched without a token (refused): fetch it again, then browse it.
    await page.getByRole('button', { name: 'Re-fetch GraphQL schema' }).click();
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('Root Types').waitFor({ timeout: 20000 });
    await docs.locator('input').fill('Measure');
    await page.locator('.graphiql-doc-explorer-search [role="option"]', { hasText: /^Measure$/ }).first().click();
    await docs.locator('.graphiql-doc-explorer-title', { hasText: /^Measure$/ }).waitFor({ timeout: 10000 });
    const measureDocs = await docs.textContent();
    assert.match(measureDocs, /Implements/);
    assert.match(measureDocs, /Node/);
    assert.match(measureDocs, /title/);

    assert.deepEqual(outside, [], 'the page asked for nothing outside remedy');
    assert.deepEqual(pageErrors, [], 'no script error on the page');
  });
});
