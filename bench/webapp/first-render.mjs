// bench/webapp/first-render.mjs URL [LOADS]: opens a report page in headless
// Chromium LOADS times (a fresh browser context each time, so nothing is
// cached) and prints, per load and as medians, the milliseconds from
// navigation start to: the first contentful paint, the verdict element
// laid out (in the DOM with a box), hydration finished (<html data-hydrated>), and the first
// interactive chart on the page. Used by bench/webapp/run; loopback only.

import { startBrowser } from '../../end2end/lib/harness.mjs';

const [url, loadsArg] = process.argv.slice(2);
if (!url || !/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) {
  console.error('usage: first-render.mjs http://127.0.0.1:PORT/runs/ID/report [LOADS]');
  process.exit(2);
}
const loads = Math.max(1, Number(loadsArg ?? 5));
const TIMEOUT = 30000;

// Runs in the page before any of its scripts: notes when each milestone
// happens, in performance.now() milliseconds (0 = navigation start).
const observe = () => {
  const marks = (window.__marks = {});
  const check = () => {
    const verdict = document.getElementById('report-verdict');
    if (marks.verdict === undefined && verdict && verdict.getClientRects().length > 0) {
      marks.verdict = performance.now();
    }
    if (marks.hydrated === undefined && document.documentElement.hasAttribute('data-hydrated')) {
      marks.hydrated = performance.now();
    }
    if (marks.chart === undefined && document.getElementById('report-chart-0')) {
      marks.chart = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener('DOMContentLoaded', check);
};

const chrome = await startBrowser();
const { browser } = chrome;
const rows = [];
try {
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    await page.addInitScript(observe);
    await page.goto(url, { waitUntil: 'commit', timeout: TIMEOUT });
    await page.locator('#report-verdict').waitFor({ state: 'visible', timeout: TIMEOUT });
    await page.locator('html[data-hydrated]').waitFor({ state: 'attached', timeout: TIMEOUT });
    await page.locator('#report-chart-0').waitFor({ state: 'visible', timeout: TIMEOUT });
    const marks = await page.evaluate(() => {
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { ...window.__marks, fcp: fcp ? fcp.startTime : undefined, verdictText: document.getElementById('report-verdict').textContent };
    });
    rows.push(marks);
    await context.close();
  }
} finally {
  await chrome.close();
}

const ms = (v) => (v === undefined ? '   n/a' : v.toFixed(0).padStart(6));
const median = (key) => {
  const v = rows.map((r) => r[key]).filter((x) => x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
};
console.log(`report page      ${url} (verdict ${rows[0].verdictText})`);
console.log('  load   first paint   verdict laid out   hydrated   chart on page   (ms from navigation start)');
rows.forEach((r, i) => {
  console.log(`  ${String(i + 1).padStart(4)}   ${ms(r.fcp)}        ${ms(r.verdict)}            ${ms(r.hydrated)}     ${ms(r.chart)}`);
});
console.log(`  median ${ms(median('fcp'))}        ${ms(median('verdict'))}            ${ms(median('hydrated'))}     ${ms(median('chart'))}`);
