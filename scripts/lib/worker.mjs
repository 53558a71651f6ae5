// Starting and stopping the Worker (`npm run dev`, or `npm start`'s runtime) on free ports for the scripts that test
// against it (scripts/e2e.mjs, scripts/lint-api.mjs, scripts/test-sdk.mjs, scripts/socketio-test.mjs; chaos.mjs on npm start).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_READY_MS = 60_000;

/** A port nothing listens on right now (the OS picks it). */
export function freePort() {
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `command args` in its own process group (so stopping it stops wrangler and workerd too), its last output kept. */
function spawnGroup(command, args, env = {}) {
  const child = spawn(command, args, {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...env },
  });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output };
}

/** `npm run dev` in its own process group; `extraArgs` go to wrangler. */
export function startServer(port, inspectorPort, extraArgs = []) {
  return spawnGroup(
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
      ...extraArgs,
      '--show-interactive-dev-session=false',
    ],
    { BROWSER: 'none' },
  );
}

/**
 * `npm start`'s runtime (scripts/start.mjs: the production bundle on workerd, D1 migrated by it) in its own process
 * group, with the same `{ child, output }` as `startServer`; `extraArgs` go to scripts/start.mjs (`--persist-to`).
 */
export function startProductionServer(port, extraArgs = []) {
  return spawnGroup(process.execPath, [
    join(root, 'scripts', 'start.mjs'),
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    ...extraArgs,
  ]);
}

export function stopServer(server) {
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

export async function waitForServer(base, server, path = '/health') {
  const deadline = Date.now() + SERVER_READY_MS;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`npm run dev exited with ${server.child.exitCode}`);
    try {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`the Worker did not answer within ${SERVER_READY_MS / 1000} s`);
}

/** Starts the Worker on free ports and waits for it: `{ base, server }`. */
export async function startWorker(readyPath) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = startServer(port, inspectorPort);
  try {
    await waitForServer(base, server, readyPath);
  } catch (err) {
    console.error(server.output.join('').slice(-4000));
    await stopServer(server);
    throw err;
  }
  return { base, server };
}
