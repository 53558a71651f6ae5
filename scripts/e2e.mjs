#!/usr/bin/env node
// The browser test: `npm run test:e2e` (also run by .ci/run). Starts the Worker with `npm run dev` on free ports,
// drives headless Chromium (Debian's `chromium`, through playwright-core) against the demo pages with the tests
// in test/e2e/ (the collaboration page, then the Socket.IO hub page), stops the Worker, and closes with `e2e: N passed, N failed`. Installs Chromium with apt-get when
// it is missing (needs root, as on CI). Every wait is bounded; the whole run is killed after RUN_TIMEOUT_MS.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { tests as demoTests } from '../test/e2e/demo.e2e.mjs';
import { tests as hubTests } from '../test/e2e/hub.e2e.mjs';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium } from './lib/chromium.mjs';
import { freePort, root, startServer, stopServer, waitForServer } from './lib/worker.mjs';

const RUN_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT_MS = 45_000;
const artifacts = join(root, 'test/e2e/artifacts');
const tests = [...demoTests, ...hubTests];

const log = (...args) => console.log('[e2e]', ...args);

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
  ensureChromium(log);
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
    await waitForServer(base, server, '/demo');
    log(`Worker ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Playwright starts each launch on a fresh temporary profile (its own --user-data-dir, removed on close), so no
    // state leaks in from elsewhere; the tests need one browser context per user, hence launch(), not a persistent one.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
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
