// The security headers in a real browser: the app hydrates under its
// Content-Security-Policy with no violation (its own bundle, WebAssembly and
// the inline scripts Leptos writes carry the answer's nonce), a script
// injected into the page without that nonce does not run, and another site
// cannot frame the app.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser, startServer, waitFor, watchPage } from '../lib/harness.mjs';

let server;
let chrome;

before(async () => {
  server = await startServer();
  chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
});

test('the app hydrates under its CSP and an injected inline script does not run', async () => {
  const page = await chrome.browser.newPage();
  const problems = watchPage(page);
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const calls = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/')) calls.push(r.url());
  });
  const res = await page.goto(`${server.base}/`);
  assert.equal(res.status(), 200);
  const headers = res.headers();
  assert.match(headers['content-security-policy'], /script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(headers['referrer-policy'], 'no-referrer');
  assert.equal(headers['x-content-type-options'], 'nosniff');

  // Hydrated: only the WebAssembly app reacts to the click, through a
  // server function.
  await page.getByText('No runs yet.').waitFor();
  await waitFor('the hydrated reload button to call the server', async () => {
    await page.click('#reload-runs');
    await page.waitForTimeout(500);
    return calls.some((u) => u.includes('/api/list_runs'));
  });
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(problems, []);

  // A script slipped into the page (as an injection would) is refused.
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = true;';
    document.body.append(s);
    return window.__injected === true;
  });
  assert.equal(ran, false);
  const violations = await page.evaluate(() => window.__violations);
  assert.equal(violations.length, 1, String(violations));
  assert.match(violations[0], /^script-src/);
});

test('another site cannot frame the app', async () => {
  const page = await chrome.browser.newPage();
  const refused = page.waitForEvent('console', {
    predicate: (m) => m.text().includes("frame-ancestors 'none'"),
    timeout: 15000,
  });
  await page.setContent(`<iframe src="${server.base}/"></iframe>`);
  await refused;
});
