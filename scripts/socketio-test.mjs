#!/usr/bin/env node
// `npm run test:socketio`: the real socket.io-client v4 (Node) against a running Worker. Starts `npm run dev` on a
// free port with HUB_SHARDS=3 (so that rooms, direct messages and presence cross shards), runs the tests in
// test/socketio/hub.node.mjs one after the other, stops the Worker and closes with `socketio: N passed, N failed`.
// Every wait is bounded; the whole run is killed after RUN_TIMEOUT_MS.
import { tests } from '../test/socketio/hub.node.mjs';
import { freePort, sleep, startServer as startDev, stopServer } from './lib/worker.mjs';

const RUN_TIMEOUT_MS = 240_000;
const SERVER_READY_MS = 60_000;
const TEST_TIMEOUT_MS = 30_000;
export const SHARDS = 3;
const only = process.argv[2];

const log = (...args) => console.log('[socketio]', ...args);
const startServer = (port, inspectorPort) => startDev(port, inspectorPort, ['--var', `HUB_SHARDS:${SHARDS}`]);

async function waitForServer(base, server) {
  const deadline = Date.now() + SERVER_READY_MS;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`npm run dev exited with ${server.child.exitCode}`);
    try {
      const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(2000) });
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
  const port = Number(process.env.SOCKETIO_TEST_PORT) || (await freePort());
  const base = `http://127.0.0.1:${port}`;
  let server;
  let passed = 0;
  let failed = 0;
  const selected = only ? tests.filter((t) => t.name.includes(only)) : tests;
  const watchdog = setTimeout(async () => {
    console.error(`[socketio] run exceeded ${RUN_TIMEOUT_MS / 1000} s: stopping`);
    await stopServer(server);
    console.log(`socketio: ${passed} passed, ${selected.length - passed} failed`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  try {
    if (!process.env.SOCKETIO_TEST_PORT) {
      log(`starting the Worker on ${base}`);
      server = startServer(port, await freePort());
      await waitForServer(base, server);
      log(`Worker ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const shared = { shards: SHARDS };
    for (const t of selected) {
      const t0 = Date.now();
      try {
        await withTimeout(t.run({ base, log, shared }), TEST_TIMEOUT_MS, t.name);
        passed++;
        log(`ok   ${t.name} (${Date.now() - t0} ms)`);
      } catch (err) {
        failed++;
        log(`FAIL ${t.name} (${Date.now() - t0} ms)\n${err?.stack ?? err}`);
      } finally {
        await shared.cleanup?.();
      }
    }
  } catch (err) {
    console.error('[socketio] setup failed:', err?.stack ?? err);
    if (server) console.error(server.output.join('').slice(-4000));
    failed = selected.length - passed;
  } finally {
    clearTimeout(watchdog);
    await stopServer(server);
  }
  if (failed > 0 && server) console.error(`[socketio] last Worker output:\n${server.output.join('').slice(-3000)}`);
  log(`${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  console.log(`socketio: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

await main();
