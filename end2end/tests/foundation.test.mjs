// The foundation in a real browser: the runs page is served, hydrates from
// WASM, reloads its data through a server function, and /readyz answers.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot, startBrowser, startServer, waitFor, watchPage } from '../lib/harness.mjs';

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

test('the runs page renders on the server, hydrates and reloads through a server function', async () => {
  const page = await chrome.browser.newPage();
  const problems = watchPage(page);
  const calls = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/')) calls.push(r.url());
  });

  const res = await page.goto(`${server.base}/`);
  assert.equal(res.status(), 200);
  assert.equal(await page.title(), 'Runs · Shakedown');
  await page.getByText('No runs yet.').waitFor();
  const before = await page.locator('#runs-as-of').textContent();
  assert.match(before, /^0 runs as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

  // Only hydrated code reacts to the click: keep clicking until the list is
  // read again through the server function (its time moves on).
  await waitFor('the reload button to fetch the runs again', async () => {
    await page.click('#reload-runs');
    await page.waitForTimeout(1100);
    return calls.length > 0 && (await page.locator('#runs-as-of').textContent()) !== before;
  });
  assert.ok(calls.some((u) => u.includes('/api/list_runs')), `server function called: ${calls}`);

  // Client-side navigation works too.
  await page.click('nav >> text=New run');
  await page.getByRole('heading', { name: 'New run' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/runs/new');
  await screenshot(page, 'new-run');
  await page.click('nav >> text=Runs');
  await page.getByText('No runs yet.').waitFor();
  await screenshot(page, 'runs');
  assert.deepEqual(problems, []);
});

test('readyz reports the database and evidence directory', async () => {
  const res = await fetch(`${server.base}/readyz`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, 'ready');
  const names = body.dependencies.map((d) => d.name).sort();
  assert.deepEqual(names, ['database', 'evidence']);
  for (const d of body.dependencies) {
    assert.equal(d.status, 'ok');
    assert.equal(typeof d.latency_ms, 'number');
  }
});

test('an unknown address gets a 404 page inside the layout', async () => {
  const page = await chrome.browser.newPage();
  const res = await page.goto(`${server.base}/no/such/page`);
  assert.equal(res.status(), 404);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
});
