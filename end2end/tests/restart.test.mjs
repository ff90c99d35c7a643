// Shakedown killed during a live run: after a restart the open page
// reconnects by itself (Last-Event-ID), and shows the run as interrupted
// with what it measured until the kill; the run is never left `running`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { screenshot, startBrowser, startServer, startTarget, waitFor } from '../lib/harness.mjs';

let target;
let server;
let chrome;
let plans;

before(async () => {
  target = await startTarget();
  plans = mkdtempSync(join(tmpdir(), 'shakedown-plans-'));
  writeFileSync(join(plans, 'soak.toml'), `
[plan]
name = "soak"
default_environment = "e2e"

[environments.e2e]
base_url = "${target.base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[[tests]]
id = "S1"
title = "Health endpoint under steady load"
[tests.http_load]
path = "/health"
rate = 40
duration_s = 60
`);
  server = await startServer({ args: ['--plans-dir', plans] });
  chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
  await target?.stop();
  if (plans) rmSync(plans, { recursive: true, force: true });
});

test('a killed server leaves no run running, and the open page follows the restart', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${server.base}/runs/new`);
  await page.locator('#plan-summary').waitFor();
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  const id = page.url().split('/').pop();
  await page.locator('#run-status', { hasText: 'running' }).waitFor();
  // Let it measure a few seconds, then kill the server outright.
  await waitFor('a few seconds of load', async () => (await page.locator('table.tests tbody td').nth(1).textContent()).match(/^\s*\d{3,}/), 30000, 250);
  await server.kill();

  server = await startServer({ port: server.port, dataDir: server.dataDir, args: ['--plans-dir', plans] });
  // The page reconnects on its own and shows the final state.
  await page.locator('#run-status', { hasText: 'interrupted' }).waitFor({ timeout: 30000 });
  await page.locator('#event-log', { hasText: 'Shakedown stopped while this run was in progress' }).waitFor();
  await screenshot(page, 'interrupted-run');

  // The stored events are intact and numbered without gaps or repeats.
  const res = await fetch(`${server.base}/api/runs/${id}/events`);
  const text = await res.text();
  const seqs = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(seqs.length > 5, text.slice(0, 500));
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  assert.match(text, /"kind":"window"/);
  assert.match(text, /"kind":"end"/);
});
