#!/usr/bin/env node
// The browser test: `npm run test:e2e` (also run by .ci/run). Starts the Worker with `npm run dev` on free ports,
// drives headless Chromium (Debian's `chromium`, through playwright-core) against the demo pages with the tests
// in test/e2e/ (the collaboration page, then the Socket.IO hub page), stops the Worker, and closes with `e2e: N passed, N failed`. Installs Chromium with apt-get when
// it is missing (needs root, as on CI). Every wait is bounded; the whole run is killed after RUN_TIMEOUT_MS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { tests as demoTests } from '../test/e2e/demo.e2e.mjs';
import { tests as hubTests } from '../test/e2e/hub.e2e.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RUN_TIMEOUT_MS = 240_000;
const SERVER_READY_MS = 60_000;
const TEST_TIMEOUT_MS = 45_000;
const artifacts = join(root, 'test/e2e/artifacts');
const tests = [...demoTests, ...hubTests];

const log = (...args) => console.log('[e2e]', ...args);

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  log(`${CHROMIUM} missing: installing Debian's chromium with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', 'chromium'],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (status ${r.status}); install chromium by hand`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is not there`);
}

/** A port nothing listens on right now (the OS picks it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `npm run dev` in its own process group, so stopping it stops wrangler and workerd too. */
function startServer(port, inspectorPort) {
  const child = spawn(
    'npm',
    [
      'run',
      'dev',
      '--',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--inspector-port',
      String(inspectorPort),
      '--show-interactive-dev-session=false',
    ],
    {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', BROWSER: 'none' },
    },
  );
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output };
}

function stopServer(server) {
  if (!server || server.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const done = setTimeout(() => {
      try {
        process.kill(-server.child.pid, 'SIGKILL');
      } catch {}
      resolve();
    }, 5000);
    server.child.once('exit', () => {
      clearTimeout(done);
      resolve();
    });
    try {
      process.kill(-server.child.pid, 'SIGTERM');
    } catch {
      clearTimeout(done);
      resolve();
    }
  });
}

async function waitForServer(base, server) {
  const deadline = Date.now() + SERVER_READY_MS;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`npm run dev exited with ${server.child.exitCode}`);
    try {
      const res = await fetch(`${base}/demo`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`the Worker did not answer within ${SERVER_READY_MS / 1000} s`);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  const started = Date.now();
  ensureChromium();
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  const inspectorPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let server;
  let browser;
  let passed = 0;
  let failed = 0;
  const watchdog = setTimeout(async () => {
    console.error(`[e2e] run exceeded ${RUN_TIMEOUT_MS / 1000} s: stopping`);
    await stopServer(server);
    console.log(`e2e: ${passed} passed, ${tests.length - passed} failed`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  try {
    log(`starting the Worker on ${base}`);
    server = startServer(port, inspectorPort);
    await waitForServer(base, server);
    log(`Worker ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Playwright starts each launch on a fresh temporary profile (its own --user-data-dir, removed on close), so no
    // state leaks in from elsewhere; the tests need one browser context per user, hence launch(), not a persistent one.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 30_000,
    });
    const shared = {};
    for (const t of tests) {
      const t0 = Date.now();
      try {
        await withTimeout(t.run({ browser, base, artifacts, shared, log }), TEST_TIMEOUT_MS, t.name);
        passed++;
        log(`ok   ${t.name} (${Date.now() - t0} ms)`);
      } catch (err) {
        failed++;
        log(`FAIL ${t.name} (${Date.now() - t0} ms)\n${err?.stack ?? err}`);
        await shared.screenshotAll?.(`failed-${passed + failed}`).catch(() => {});
      }
    }
    await shared.close?.().catch(() => {});
  } catch (err) {
    console.error('[e2e] setup failed:', err?.stack ?? err);
    if (server) console.error(server.output.join('').slice(-4000));
    failed = tests.length - passed;
  } finally {
    clearTimeout(watchdog);
    await browser?.close().catch(() => {});
    await stopServer(server);
  }
  if (failed > 0 && server) console.error(`[e2e] last Worker output:\n${server.output.join('').slice(-3000)}`);
  log(`screenshots in ${artifacts}; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

await main();
