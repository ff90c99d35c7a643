// Load agents set from the New run page (#17): against `shakedown serve`
// with two `shakedown agent` processes (an operator's API token made with
// `shakedown token add`), the Agents field past the server's cap is refused
// next to the field, and with 2 the run's load is split across both
// agents: the report's "Load agents" table (in its evidence frame) has a
// row for each.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINARY, screenshot, startBrowser, startServer, startTarget, watchPage } from '../lib/harness.mjs';

let target;
let server;
let chrome;
let work;
const agents = [];

/** `shakedown ARGS` with `input` on its standard input; its output. */
function shakedown(args, input = '') {
  const r = spawnSync(BINARY, args, { input, encoding: 'utf8', env: { ...process.env, RUST_LOG: 'warn' } });
  assert.equal(r.status, 0, `shakedown ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'shakedown-agents-'));
  const dataDir = join(work, 'data');
  const plans = join(work, 'plans');
  mkdirSync(plans);
  target = await startTarget();
  writeFileSync(join(plans, 'health.toml'), `
[plan]
name = "health"
title = "Health split across agents"
default_environment = "e2e"

[environments.e2e]
base_url = "${target.base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[[tests]]
id = "S1"
title = "Health endpoint"
[tests.http_load]
path = "/health"
rate = 20
duration_s = 3

[[criteria]]
expr = "S1.fail == 0"
`);
  shakedown(['user', 'add', 'ops', '--role', 'operator', '--data-dir', dataDir], 'e2e password long enough\n');
  const token = shakedown(['token', 'add', '--user', 'ops', '--label', 'agents', '--data-dir', dataDir]);
  server = await startServer({ dataDir, args: ['--plans-dir', plans] });
  for (const name of ['a1', 'a2']) {
    agents.push(spawn(BINARY, ['agent', '--server', server.base, '--name', name], {
      env: { ...process.env, SHAKEDOWN_AGENT_TOKEN: token, RUST_LOG: 'warn' },
      stdio: 'ignore',
    }));
  }
  chrome = await startBrowser();
});

after(async () => {
  for (const agent of agents) {
    if (agent.exitCode === null) {
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
    }
  }
  await chrome?.close();
  await server?.stop();
  await target?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the Agents field splits the run across agents, within the server cap', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watchPage(page);
  await page.goto(`${server.base}/runs/new`);
  await page.locator('html[data-hydrated="true"]').waitFor();
  await page.selectOption('#plan-file', 'health.toml');
  await page.locator('#plan-summary', { hasText: 'Health split across agents' }).waitFor();

  // Past --max-agents (100 by default): the server refuses, at the field.
  await page.fill('#agents', '101');
  await page.click('#start-run');
  await page.locator('#agents-error', { hasText: 'test S1: agents 101 is over max_agents 100' }).waitFor();
  assert.equal(await page.locator('#agents').getAttribute('aria-invalid'), 'true');
  assert.match(page.url(), /\/runs\/new$/);

  await page.fill('#agents', '2');
  await screenshot(page, 'new-run-agents');
  await page.click('#start-run');
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  const runUrl = page.url();
  await page.locator('#run-verdict').waitFor({ timeout: 120000 });
  assert.equal(await page.locator('#run-verdict').textContent(), 'GO');

  await page.goto(`${runUrl}/report`);
  const rows = page.frameLocator('iframe.report-frame').locator('h3#agents ~ table').first().locator('tbody tr');
  await rows.first().waitFor();
  const texts = await rows.allTextContents();
  assert.equal(texts.length, 2, texts.join('\n'));
  assert.ok(texts.some((t) => t.includes('a1')) && texts.some((t) => t.includes('a2')), texts.join('\n'));
  for (const t of texts) assert.match(t, /S1/);
  await screenshot(page, 'report-agents');
  assert.deepEqual(problems, []);
});
