// Starts what an end-to-end test needs: a real `shakedown serve` on a free
// loopback port with a fresh data directory, and headless Chromium driven by
// playwright-core. Everything started here is stopped by `close()`.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT = join(ROOT, 'end2end', 'output');
export const BINARY = process.env.SHAKEDOWN_BIN ?? join(ROOT, 'target', 'debug', 'shakedown');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function waitFor(what, check, ms = 15000, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

/** Starts `shakedown serve` and waits until /readyz answers 200. Local mode
 *  (no login) unless `localMode: false`. */
export async function startServer({ env = {}, args = [], port: fixedPort, dataDir: keptDir, localMode = true } = {}) {
  const port = fixedPort ?? (await freePort());
  const dataDir = keptDir ?? mkdtempSync(join(tmpdir(), 'shakedown-e2e-'));
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    BINARY,
    ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--site-root', join(ROOT, 'target', 'site'),
      ...(localMode ? ['--local-mode'] : []), ...args],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitFor('the server to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log}`);
      const res = await fetch(`${base}/readyz`);
      return res.status === 200;
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\nserver log:\n${log}`);
  }
  return {
    base,
    port,
    dataDir,
    log: () => log,
    /** SIGKILL: the process dies with no chance to clean up; the data stays. */
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the demo target's API and worker (shakedown-sut) on a free port
 *  with a SQLite database in a temporary folder. */
export async function startTarget() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shakedown-sut-'));
  const bin = join(dirname(BINARY), 'shakedown-sut');
  const common = ['--data-dir', dir, '--environment', 'e2e'];
  const api = spawn(bin, ['api', '--listen', `127.0.0.1:${port}`, ...common], { stdio: 'ignore' });
  const worker = spawn(bin, ['worker', ...common], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('the demo target to answer', async () => (await fetch(`${base}/health`)).ok, 30000);
  return {
    base,
    port,
    async stop() {
      for (const child of [api, worker]) {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `shakedown demo` (demo target + web app) with a plans folder of
 *  the test's own, and waits until it says it is up. Its network-fault
 *  proxy's API takes `proxyPort`, a free port unless given (the default,
 *  8474, would be shared by demos side by side). */
export async function startDemo({ plansDir, sutPort, proxyPort, args = [] }) {
  const port = await freePort();
  const proxy = proxyPort ?? await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    BINARY,
    ['demo', '--addr', `127.0.0.1:${port}`, '--sut-port', String(sutPort), '--proxy-port', String(proxy), '--plans-dir', plansDir,
      '--site-root', join(ROOT, 'target', 'site'), ...args],
    { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitFor('the demo to be up', async () => {
      if (child.exitCode !== null) throw new Error(`demo exited with ${child.exitCode}:\n${log}`);
      return log.includes('Press Ctrl-C');
    }, 90000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\ndemo log:\n${log}`);
  }
  return {
    base,
    log: () => log,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/** Headless Chromium with the flags this machine needs (playwright gives
 *  it a fresh, empty profile of its own). */
export async function startBrowser() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** Saves a full-page screenshot under end2end/output. */
export async function screenshot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  const path = join(OUTPUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Collects console errors and failed requests of a page, to assert none. */
export function watchPage(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    const error = r.failure()?.errorText ?? '';
    // A run's event stream is closed by the page when the run ends, or when
    // the user leaves: Chromium reports that as an aborted request.
    if (error === 'net::ERR_ABORTED' && /\/api\/runs\/[^/]+\/events/.test(r.url())) return;
    problems.push(`request failed: ${r.url()} ${error}`);
  });
  return problems;
}
