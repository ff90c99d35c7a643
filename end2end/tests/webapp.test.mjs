// The web app against `shakedown demo`: start a run from New run, watch it
// live (progress, a chart really drawn on the canvas), see the verdict and
// the report page, download results.json, watch a chaos test's real worker
// restart drawn on the recovery timeline, and abort a run. The charts are
// interactive: hovering shows values, the legend hides series.

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
  // A reduced step3: the load part, small, against this demo's target.
  const step3 = readFileSync(join(ROOT, 'examples', 'step3.toml'), 'utf8').replaceAll('127.0.0.1:8080', `127.0.0.1:${sutPort}`);
  writeFileSync(join(plans, 'step3.toml'), step3);
  writeFileSync(join(plans, 'soak.toml'), `
[plan]
name = "soak"
title = "A long load to abort"
default_environment = "demo"

[environments.demo]
base_url = "http://127.0.0.1:${sutPort}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[[tests]]
id = "S1"
title = "Health endpoint under steady load"
[tests.http_load]
path = "/health"
rate = 50
duration_s = 60

[[criteria]]
expr = "S1.fail == 0"
`);
  demo = await startDemo({ plansDir: plans, sutPort });
  chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await demo?.stop();
  if (plans) rmSync(plans, { recursive: true, force: true });
});

/** A digest of every pixel of a canvas (to see whether a redraw changed it). */
async function canvasDigest(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619);
    return h >>> 0;
  }, id);
}

/** The second a latency chart's readout is at (NaN when it shows none). */
async function readoutSecond(page, id) {
  const text = await page.locator(`#${id}-readout`).textContent();
  return Number((/^(\d+) s: p50 [\d.]+ ms/.exec(text) ?? [])[1]);
}

/** Hovers a chart and reads its readout; hides the p95 series from its
 *  legend, then shows it again, checking the canvas and aria-pressed. */
async function exerciseChart(page, id, shot, { minSeconds = 1 } = {}) {
  const readout = page.locator(`#${id}-readout`);
  await page.hover(`#${id}`, { position: { x: 420, y: 150 } });
  await waitFor('the readout to show values', async () => /^\d+ s: p50 [\d.]+ ms · p95 [\d.]+ ms · p99 [\d.]+ ms$/.test(await readout.textContent()));
  // The keyboard reaches the same values: End goes to the last second,
  // Home to the first, ArrowRight one second on (when there is one).
  await page.focus(`#${id}`);
  await page.keyboard.press('End');
  const { last } = await waitFor('End to move the readout', async () => { const last = await readoutSecond(page, id); return Number.isFinite(last) && { last }; });
  await page.keyboard.press('Home');
  // With several seconds known to be there, Home must go back before the last.
  const { first } = await waitFor('Home to move the readout to the first second', async () => {
    const first = await readoutSecond(page, id);
    return (minSeconds >= 2 ? first < last : first <= last) && { first };
  });
  if (first < last) {
    await page.keyboard.press('ArrowRight');
    await waitFor('ArrowRight to move the readout one second on', async () => (await readoutSecond(page, id)) > first);
  }

  const toggle = page.locator(`#${id}`).locator('xpath=..').locator('button.legend-toggle', { hasText: 'p95' });
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  const before = await canvasDigest(page, id);
  await toggle.click();
  await waitFor('p95 to be hidden', async () => (await toggle.getAttribute('aria-pressed')) === 'false');
  await waitFor('the canvas to be redrawn without p95', async () => (await canvasDigest(page, id)) !== before);
  assert.doesNotMatch(await readout.textContent(), /p95/);
  assert.match(await readout.textContent(), /p50 [\d.]+ ms · p99 [\d.]+ ms/);
  await screenshot(page, shot);
  // The toggle is a button: the keyboard brings the series back, as drawn before.
  await toggle.focus();
  await page.keyboard.press('Enter');
  await waitFor('p95 to be shown again', async () => (await toggle.getAttribute('aria-pressed')) === 'true');
  await waitFor('the canvas to be drawn as before', async () => (await canvasDigest(page, id)) === before);
}

/** Exercises a latency chart in whichever form it has: over time (a test
 *  of three busy seconds or more), or a short test's latency distribution
 *  (percentiles on the x axis): the readout, the keyboard and the legend. */
async function exerciseLatencyChart(page, id, shot) {
  const readout = page.locator(`#${id}-readout`);
  await page.hover(`#${id}`, { position: { x: 420, y: 150 } });
  const { text } = await waitFor('the readout to show values', async () => { const text = await readout.textContent(); return /\d/.test(text) && { text }; });
  if (/^\d+ s: p50/.test(text)) return exerciseChart(page, id, shot);
  assert.match(text, /^[\d.]+th percentile: .*[\d.]+ ms/);
  await page.focus(`#${id}`);
  await page.keyboard.press('End');
  await waitFor('End to reach the slowest', async () => /^100th percentile: /.test(await readout.textContent()));
  await page.keyboard.press('Home');
  await waitFor('Home to go back', async () => !/^100th percentile: /.test(await readout.textContent()));
  const toggle = page.locator(`#${id}`).locator('xpath=..').locator('button.legend-toggle').first();
  const before = await canvasDigest(page, id);
  await toggle.click();
  await waitFor('the series to be hidden', async () => (await toggle.getAttribute('aria-pressed')) === 'false');
  await waitFor('the canvas to be redrawn without it', async () => (await canvasDigest(page, id)) !== before);
  await screenshot(page, shot);
  await toggle.focus();
  await page.keyboard.press('Enter');
  await waitFor('the canvas to be drawn as before', async () => (await canvasDigest(page, id)) === before);
}

/** A new page on New run with `plan` (titled `title`) chosen and
 *  summarised, and the console problems it collects. It waits for the
 *  page to hydrate before choosing (else the choice never reaches the
 *  app), and for the summary of that plan: while the new outline loads,
 *  the previous plan's summary and test boxes stay on the page. */
async function newRun(plan, title) {
  const page = await chrome.browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watchPage(page);
  await page.goto(`${demo.base}/runs/new`);
  await page.locator('html[data-hydrated="true"]').waitFor();
  await page.selectOption('#plan-file', plan);
  await page.locator('#plan-summary', { hasText: title }).waitFor();
  return { page, problems };
}

/** Counts canvas pixels that are neither white nor transparent. */
async function inkedPixels(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    if (!c) return 0;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) n++;
    }
    return n;
  }, id);
}

test('a run started from New run is followed live to its verdict and report', async () => {
  const { page, problems } = await newRun('step3.toml', 'Step 3: Load & Chaos Validation');
  assert.match(await page.locator('#plan-summary').textContent(), /tests · \d+ criteria/);
  // Keep the browser test short: the load tests and the integrity check
  // only (every other test the plan has, chaos and network faults among
  // them, is left out).
  const kept = ['L1', 'L2', 'L3', 'G1'];
  for (const box of await page.locator('input[name="tests"]').all()) {
    if (!kept.includes(await box.getAttribute('value'))) await box.uncheck();
  }
  // A bad override is refused next to its field before anything is sent.
  await page.fill('#concurrency', '-5');
  await page.click('#start-run');
  await page.locator('#concurrency-error', { hasText: 'expected a positive integer' }).waitFor();
  await page.fill('#concurrency', '');
  await screenshot(page, 'new-run-form');
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  const runUrl = page.url();

  // Live: progress appears, then a chart drawn on the canvas.
  await page.locator('table.tests tbody tr').first().waitFor();
  await waitFor('a chart drawn on the canvas', async () => (await inkedPixels(page, 'latency-canvas')) > 500, 60000, 250);
  await screenshot(page, 'live-run');
  await page.locator('#run-verdict').waitFor({ timeout: 120000 });
  assert.equal(await page.locator('#run-verdict').textContent(), 'GO');
  assert.equal(await page.locator('#run-status').textContent(), 'finished');
  await page.locator('#event-log', { hasText: 'evidence pack v1 written' }).waitFor();
  const log = await page.locator('#event-log').textContent();
  assert.match(log, /L1 finished: PASS/);
  assert.match(log, /run finished: GO/);
  // No chaos or health test was chosen: the recovery timeline says so.
  assert.match(await page.locator('#recovery-empty').textContent(), /no chaos or health test/);
  assert.doesNotMatch(await page.locator('#latency-canvas-readout').textContent(), /\d/, 'values shown before any hover');
  // The load tests of this run last a second or two: a short test's
  // latency chart is its distribution, not a dot on a one-second axis.
  await exerciseLatencyChart(page, 'latency-canvas', 'live-chart-p95-hidden');

  // The report page: verified evidence, the report, and every file to download.
  await page.locator('#report-link').click();
  await page.locator('#integrity').waitFor();
  assert.match(await page.locator('#integrity').textContent(), /verified: all \d+ files match the manifest/);
  await page.frameLocator('iframe.report-frame').locator('body').waitFor();
  // The report's own charts, drawn in the browser from results.json.
  await page.locator('section.report-charts').waitFor();
  await waitFor('a report chart drawn on its canvas', async () => (await inkedPixels(page, 'report-chart-0')) > 500, 30000, 250).catch(async (e) => {
    throw new Error(`${e.message}; charts section: ${await page.locator('section.report-charts').textContent()}`);
  });
  await screenshot(page, 'report');
  assert.doesNotMatch(await page.locator('#report-chart-0-readout').textContent(), /\d/, 'values shown before any hover');
  await exerciseLatencyChart(page, 'report-chart-0', 'report-chart-p95-hidden');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#pack-files a', { hasText: 'results.json' }).click(),
  ]);
  const saved = await download.path();
  const results = JSON.parse(readFileSync(saved, 'utf8'));
  assert.equal(results.run_id, runUrl.split('/').pop());
  assert.equal(results.verdict, 'GO');
  assert.deepEqual(problems, []);
});

test('a chaos test draws the recovery timeline with the real restart', async () => {
  const { page, problems } = await newRun('step3.toml', 'Step 3: Load & Chaos Validation');
  // Only C1: the demo's worker is really restarted while jobs run.
  for (const box of await page.locator('input[name="tests"]').all()) {
    if ((await box.getAttribute('value')) !== 'C1') await box.uncheck();
  }
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  await page.locator('#run-verdict').waitFor({ timeout: 120000 });
  assert.equal(await page.locator('#run-verdict').textContent(), 'GO');
  await waitFor('the recovery timeline drawn on its canvas', async () => (await inkedPixels(page, 'recovery-canvas')) > 500, 30000, 250);
  await screenshot(page, 'recovery-timeline');
  // Step through it with the keyboard: the worker's lane, the fault and the
  // recovery are read from the chart.
  const readout = page.locator('#recovery-canvas-readout');
  await page.focus('#recovery-canvas');
  await page.keyboard.press('End');
  await waitFor('the readout to show the last stop', async () => /^[\d.]+ s: .*worker/.test(await readout.textContent()));
  const lastStop = await readout.textContent();
  await page.keyboard.press('Home');
  await waitFor('the readout to show the first stop', async () => (await readout.textContent()) !== lastStop);
  const seen = [];
  for (let i = 0; i < 2000; i++) {
    const text = await readout.textContent();
    seen.push(text);
    if (/recovered in/.test(text) || text === lastStop) break;
    await page.keyboard.press('ArrowRight');
    // Two stops may read the same (probes closer than the readout's
    // rounding): then the text stays, and the next key moves on.
    await waitFor('the readout to move', async () => (await readout.textContent()) !== text, 1000, 20).catch(() => {});
  }
  const all = seen.join('\n');
  // The fault marker where the restart was requested, then the recovery.
  assert.match(all, /worker (up|down) · .*process worker/, all);
  assert.match(all, /worker recovered in [\d.]+ s/, all);
  assert.deepEqual(problems, []);
});

test('a second run can be aborted and keeps what it measured', async () => {
  const { page } = await newRun('soak.toml', 'A long load to abort');
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  await waitFor('the soak test to be measuring', async () => (await inkedPixels(page, 'latency-canvas')) > 500, 60000, 250);
  // Let it measure a few seconds, so its chart has a line to read.
  await waitFor('three seconds measured', async () => {
    await page.focus('#latency-canvas');
    await page.keyboard.press('End');
    return (await readoutSecond(page, 'latency-canvas')) >= 2;
  }, 30000, 250);
  const clicked = Date.now();
  await page.click('#abort-run');
  await page.locator('#run-status', { hasText: 'aborted' }).waitFor({ timeout: 10000 });
  assert.ok(Date.now() - clicked < 5000, 'abort took too long');
  await screenshot(page, 'aborted-run');
  // Its chart stays readable after the abort: every second, one by one.
  await exerciseChart(page, 'latency-canvas', 'aborted-chart-p95-hidden', { minSeconds: 2 });
  // What was measured is kept: the runs list shows it, and its evidence.
  await page.goto(`${demo.base}/`);
  await page.locator('table.runs').waitFor();
  assert.match(await page.locator('table.runs').textContent(), /soak[\s\S]*aborted/);
  await screenshot(page, 'runs-list');
  // Filters: by plan, then by verdict.
  await page.selectOption('#filter-plan', 'soak');
  await waitFor('only soak runs listed', async () => {
    const text = await page.locator('table.runs tbody').textContent();
    return text.includes('soak') && !text.includes('step3');
  });
  await page.selectOption('#filter-plan', '');
  await page.selectOption('#filter-verdict', 'GO');
  await waitFor('only GO runs listed', async () => {
    const text = await page.locator('table.runs tbody').textContent();
    return text.includes('step3') && !text.includes('soak');
  });
});
