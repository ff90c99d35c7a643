// The load through the fault on the live run page and the report page
// (#16): a chaos test with background load (step3's C1, the worker
// restart, against the demo target with `errors-during-restart`, so the
// API refuses work while the worker drains) shows its windows before,
// during and after the fault shaded and the fault and recovery marked,
// live while it runs and with each window's figures once it ends; the
// keyboard readout over the chart names the window a point is in and gives
// the during-fault p95, which equals the run's results.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, screenshot, startBrowser, startDemo, waitFor, watchPage, ROOT } from '../lib/harness.mjs';

let demo;
let chrome;
let plans;

before(async () => {
  const sutPort = await freePort();
  plans = mkdtempSync(join(tmpdir(), 'shakedown-plans-'));
  const step3 = readFileSync(join(ROOT, 'examples', 'step3.toml'), 'utf8').replaceAll('127.0.0.1:8080', `127.0.0.1:${sutPort}`);
  writeFileSync(join(plans, 'step3.toml'), step3);
  demo = await startDemo({ plansDir: plans, sutPort, args: ['--fault', 'errors-during-restart'] });
  chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await demo?.stop();
  if (plans) rmSync(plans, { recursive: true, force: true });
});

/** A number as the charts write it (app/src/charts/draw.rs format_number). */
function formatNumber(v) {
  if (Math.abs(v - Math.round(v)) < 1e-9) return String(Math.round(v));
  return Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Band kinds and marker kinds listed under a chart. */
async function shaded(page, figure) {
  const bands = await page.locator(`${figure} ul.chart-windows li`).evaluateAll((lis) => lis.map((li) => li.dataset.band));
  const markers = await page.locator(`${figure} ul.chart-markers li`).evaluateAll((lis) => lis.map((li) => li.dataset.marker));
  return { bands, markers };
}

const LATENCY = 'figure:has(#fault-latency-canvas)';

test('the live page shades the windows, marks the fault and reads the during-fault p95', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watchPage(page);
  await page.goto(`${demo.base}/runs/new`);
  await page.locator('html[data-hydrated="true"]').waitFor();
  await page.selectOption('#plan-file', 'step3.toml');
  await page.locator('#plan-summary', { hasText: 'Step 3: Load & Chaos Validation' }).waitFor();
  for (const box of await page.locator('input[name="tests"]').all()) {
    if ((await box.getAttribute('value')) !== 'C1') await box.uncheck();
  }
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  const id = page.url().split('/').pop();

  // While C1 runs, the chart follows its events: per-second points, the
  // baseline first, then the fault and the recovery as they happen (the
  // load runs on for 5 s after recovery before the test can end).
  await page.locator(`${LATENCY}[data-title="C1 load through the fault: p95 latency per second"] li[data-band="before"]`).waitFor({ timeout: 120000 });
  // Drawn from the events ("per second"), not yet from the result ("per
  // slice"), while the row still says running.
  await waitFor('the fault and recovery marked while C1 runs', async () => {
    const live = await page.locator(`${LATENCY}[data-title$="per second"]`).count();
    const { bands, markers } = await shaded(page, LATENCY);
    const running = /running/.test(await page.locator('table.tests tr[data-test="C1"]').textContent());
    return live === 1 && running && bands.join() === 'before,during,after' && markers.join() === 'fault,recovered';
  }, 120000, 50);
  await screenshot(page, 'fault-windows-live');

  // Once it has ended: the result's slices, and each window's figures.
  await page.locator('#run-verdict').waitFor({ timeout: 180000 });
  await page.locator(`${LATENCY}[data-title="C1 load through the fault: p95 latency per slice"]`).waitFor();
  const results = await (await fetch(`${demo.base}/api/runs/${id}/evidence/results.json`)).json();
  const load = results.tests.find((t) => t.id === 'C1').metrics.load;
  assert.ok(load.during.count > 0, JSON.stringify(load.during));
  assert.ok(load.during.fail > 0, 'the API refused work while the worker drained');
  const during = page.locator(`${LATENCY} li[data-band="during"]`);
  assert.equal(Number(await during.getAttribute('data-from')), load.fault_at_ms / 1000);
  assert.equal(Number(await during.getAttribute('data-to')), load.recovered_at_ms / 1000);
  assert.equal(Number(await during.locator('[data-figure="p95"]').getAttribute('data-value')), load.during.p95_ms);
  assert.equal(Number(await page.locator(`${LATENCY} li[data-marker="fault"]`).getAttribute('data-x')), load.fault_at_ms / 1000);
  assert.equal(Number(await page.locator(`${LATENCY} li[data-marker="recovered"]`).getAttribute('data-x')), load.recovered_at_ms / 1000);
  assert.deepEqual(await shaded(page, 'figure:has(#fault-errors-canvas)'), { bands: ['before', 'during', 'after'], markers: ['fault', 'recovered'] });

  // The keyboard: from the first point, right arrow until a point in the
  // window during the fault; the readout names it and gives its p95.
  const readout = page.locator('#fault-latency-canvas-readout');
  await page.focus('#fault-latency-canvas');
  await page.keyboard.press('Home');
  await waitFor('the first point read', async () => /^[\d.]+ s: p95 [\d.]+ ms · before the fault/.test(await readout.textContent()));
  const p95 = `p95 ${formatNumber(load.during.p95_ms)} ms`;
  let text = await readout.textContent();
  for (let i = 0; i < 400 && !text.includes('during the fault'); i += 1) {
    const was = text;
    await page.keyboard.press('ArrowRight');
    text = await waitFor('the readout to move', async () => {
      const now = await readout.textContent();
      return now !== was ? now : null;
    });
  }
  assert.match(text, / · during the fault \(window: /);
  assert.ok(text.includes(`(window: ${p95} · error rate `), `${text} should give the window's ${p95}`);
  await screenshot(page, 'fault-windows-readout');

  // The stored stream carries the live events the page drew from.
  const stream = await (await fetch(`${demo.base}/api/runs/${id}/events`)).text();
  assert.match(stream, /"kind":"load_window"/);
  assert.match(stream, /"kind":"fault_times"/);

  // The report page draws the same charts from the results.
  await page.goto(`${demo.base}/runs/${id}/report`);
  const reportLatency = 'figure[data-title="C1 load through the fault: p95 latency per slice"]';
  await page.locator(`${reportLatency} li[data-band="during"]`).waitFor({ timeout: 30000 });
  assert.equal(Number(await page.locator(`${reportLatency} li[data-band="during"] [data-figure="p95"]`).getAttribute('data-value')), load.during.p95_ms);
  assert.deepEqual(await shaded(page, reportLatency), { bands: ['before', 'during', 'after'], markers: ['fault', 'recovered'] });
  assert.deepEqual(problems, []);
});
