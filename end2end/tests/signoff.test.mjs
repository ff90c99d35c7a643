// Sign-off, roles and share links in a real browser against `shakedown
// serve` with accounts (no local mode): users made with `shakedown user add`
// (password on stdin), two finished runs recorded by `shakedown run`
// against the demo target (one meets its criteria, one does not).
// An approver signs GO with a comment; GO over failed criteria demands a
// reason; a viewer sees no sign-off controls and the server refuses the
// call when forced; a share link opens the report in a fresh context with
// no controls, and a revoked link gets a clear page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BINARY, screenshot, startBrowser, startServer, startTarget, watchPage } from '../lib/harness.mjs';

const PASSWORD = 'e2e password long enough';
let target;
let server;
let chrome;
let work;
const runs = {};

function shakedown(args, input) {
  const r = spawnSync(BINARY, args, { input, encoding: 'utf8', env: { ...process.env, RUST_LOG: 'warn' } });
  assert.equal(r.status, 0, `shakedown ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function plan(name, criterion) {
  const file = join(work, `${name}.toml`);
  writeFileSync(file, `
[plan]
name = "${name}"
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
concurrency = 2
rounds = 20

[[criteria]]
expr = "${criterion}"
`);
  return file;
}

function recordRun(name, criterion, dataDir) {
  const out = spawnSync(BINARY, ['run', plan(name, criterion), '--data-dir', dataDir, '--out', join(work, `out-${name}`)], { encoding: 'utf8' });
  assert.ok(out.status === 0 || out.status === 1, `shakedown run ${name}:\n${out.stdout}\n${out.stderr}`);
  const id = (out.stdout + out.stderr).match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  assert.ok(id, `no run id in:\n${out.stdout}`);
  return id[0];
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'shakedown-signoff-'));
  const dataDir = join(work, 'data');
  target = await startTarget();
  runs.good = recordRun('meets', 'S1.fail == 0', dataDir);
  runs.bad = recordRun('misses', 'S1.ok == 0', dataDir);
  for (const [name, role] of [['ann', 'approver'], ['vic', 'viewer'], ['olga', 'operator'], ['adam', 'admin']]) {
    shakedown(['user', 'add', name, '--role', role, '--data-dir', dataDir], `${PASSWORD}\n`);
  }
  server = await startServer({ dataDir, localMode: false });
  chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await server?.stop();
  await target?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function loginPage(context, name) {
  const page = await context.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${server.base}/runs/${runs.good}/report`);
  // Anonymous visitors land on the login page, which brings them back.
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#login-name', name);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForURL(new RegExp(`/runs/${runs.good}/report$`));
  await page.locator('#account-name', { hasText: name }).waitFor();
  return page;
}

test('an approver signs GO with a comment and it shows with name and time', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'ann');
  const problems = watchPage(page);
  await page.locator('#recommendation', { hasText: 'GO' }).waitFor();
  await page.locator('#no-signoffs').waitFor();
  await page.check('input[name="decision"][value="go"]');
  await page.fill('#signoff-comment', 'Recovery within budget; ship it.');
  await page.click('#signoff-submit');
  const row = page.locator('#signoffs tbody tr').first();
  await row.locator('.approver', { hasText: 'ann' }).waitFor();
  const text = await row.textContent();
  assert.match(text, /GO/);
  assert.match(text, /Recovery within budget; ship it\./);
  assert.match(text, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
  assert.match(text, /counts/);
  assert.match(await page.locator('#final-decision').textContent(), /GO: 1 of 1 required/);
  // The sign-off wrote pack v2; the page shows it without a reload.
  await page.locator('#integrity', { hasText: 'Evidence pack v2 verified' }).waitFor();
  await screenshot(page, 'signed-go');
  assert.deepEqual(problems, []);
  await context.close();
});

test('signing GO over failed criteria demands a reason, shown as a warning', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'ann');
  await page.goto(`${server.base}/runs/${runs.bad}/report`);
  await page.locator('#recommendation', { hasText: 'NO-GO' }).waitFor();
  assert.match(await page.locator('#recommendation').textContent(), /1 criteria failed/);
  await page.check('input[name="decision"][value="go"]');
  await page.fill('#signoff-comment', 'Going anyway.');
  await page.locator('#signoff-override').waitFor();
  await page.click('#signoff-submit');
  await page.locator('.field-error', { hasText: 'override reason' }).waitFor();
  assert.equal(await page.locator('#signoffs').count(), 0, 'nothing was recorded');
  await page.fill('#signoff-override', 'The failing probe is a known false alarm (TICKET-12).');
  await page.click('#signoff-submit');
  const warning = page.locator('#signoffs .override-reason');
  await warning.waitFor();
  assert.match(await warning.textContent(), /TICKET-12/);
  assert.ok(await page.locator('#signoffs .override-reason.warn-box').count(), 'shown in warning style');
  await screenshot(page, 'signed-go-override');
  await context.close();
});

test('a viewer sees no sign-off controls and the server refuses the forced call', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'vic');
  await page.locator('#signoff').waitFor();
  assert.equal(await page.locator('#signoff-form').count(), 0);
  assert.equal(await page.locator('#share').count(), 0);
  assert.equal(await page.locator('nav >> text=New run').count(), 0);
  const forced = await page.evaluate(async (id) => {
    const res = await fetch('/api/sign_run', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, request: { decision: 'go', comment: 'forced', override_reason: null } }),
    });
    return { status: res.status, body: await res.text() };
  }, runs.good);
  assert.equal(forced.status, 403, forced.body);
  assert.match(forced.body, /approver role/);
  await context.close();
});

test('an approver pins a run as the baseline; a viewer sees which run it is, without the button', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'ann');
  await page.locator('#baseline-state', { hasText: 'No run is pinned' }).waitFor();
  await page.locator('html[data-hydrated="true"]').waitFor();
  await page.click('#baseline-pin');
  await page.locator('#baseline-state', { hasText: 'This run is the pinned baseline of meets in e2e (pinned by ann' }).waitFor();
  assert.ok(await page.locator('#baseline-pin').isDisabled(), 'pinned already');
  // The other plan's report names no pin of its own.
  await page.goto(`${server.base}/runs/${runs.bad}/report`);
  await page.locator('#baseline-state', { hasText: 'No run is pinned' }).waitFor();
  await context.close();

  const viewer = await chrome.browser.newContext();
  const seen = await loginPage(viewer, 'vic');
  await seen.locator('#baseline-state', { hasText: 'This run is the pinned baseline of meets' }).waitFor();
  assert.equal(await seen.locator('#baseline-pin').count(), 0);
  const forced = await seen.evaluate(async (id) => {
    const res = await fetch('/api/pin_baseline', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `id=${id}`,
    });
    return { status: res.status, body: await res.text() };
  }, runs.good);
  assert.equal(forced.status, 403, forced.body);
  await viewer.close();
});

test('a share link opens the report without an account and with no controls, until revoked', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'olga');
  await page.fill('#share-days', '7');
  await page.click('#share-create');
  const url = await page.locator('#share-url').inputValue();
  assert.match(url, /\/share\/[A-Za-z0-9_-]{43}$/);

  const stranger = await chrome.browser.newContext();
  const shared = await stranger.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = watchPage(shared);
  await shared.goto(url);
  await shared.locator('#shared-note').waitFor();
  await shared.locator('#report-verdict', { hasText: 'GO' }).waitFor();
  await shared.locator('#signoffs .approver', { hasText: 'ann' }).waitFor();
  // Charts keep their legend toggles (they only change the view); no other
  // control is on the page.
  for (const control of ['#signoff-form', '#share', 'button:not(.legend-toggle)', 'form', 'nav >> text=New run', 'text=Live page']) {
    assert.equal(await shared.locator(control).count(), 0, `${control} must not be on a shared page`);
  }
  const file = await shared.evaluate(async () => {
    const a = [...document.querySelectorAll('#pack-files a')].find((x) => x.textContent === 'results.json');
    const res = await fetch(a.href);
    return { status: res.status, text: await res.text() };
  });
  assert.equal(file.status, 200);
  assert.match(file.text, /"run_id"/);
  // The report itself (the pack's report.html, shown sandboxed).
  await shared.frameLocator('iframe.report-frame').locator('h1', { hasText: 'Validation Evidence' }).waitFor();
  await screenshot(shared, 'shared-report');
  assert.deepEqual(problems, []);

  await page.reload();
  await page.locator('#share-links .revoke').first().click();
  await page.locator('#share-links .share-state', { hasText: 'revoked' }).waitFor();
  await shared.goto(url);
  await shared.locator('#share-refused', { hasText: 'revoked' }).waitFor();
  await screenshot(shared, 'share-revoked');
  await stranger.close();
  await context.close();
});

test('an admin reads the audit log and manages roles', async () => {
  const context = await chrome.browser.newContext();
  const page = await loginPage(context, 'adam');
  await page.click('nav >> text=Audit log');
  await page.waitForURL(/\/audit$/);
  const audit = page.locator('#audit tbody');
  await audit.locator('tr', { hasText: 'signoff' }).first().waitFor();
  const text = await audit.textContent();
  for (const action of ['login', 'signoff', 'share_created', 'share_revoked', 'user_added']) {
    assert.match(text, new RegExp(action), `${action} is in the audit log`);
  }
  await screenshot(page, 'audit-log');
  await page.click('nav >> text=Users');
  await page.waitForURL(/\/users$/);
  await page.selectOption('#role-vic', 'operator');
  const row = page.locator('#users tr', { hasText: 'vic' });
  await row.locator('button', { hasText: 'Save role' }).click();
  await page.reload();
  assert.equal(await page.locator('#role-vic').inputValue(), 'operator');
  await screenshot(page, 'users');
  await context.close();
});
