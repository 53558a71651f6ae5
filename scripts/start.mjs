#!/usr/bin/env node
// `npm start [-- --port 8787] [-- --ip 0.0.0.0] [-- --persist-to DIR] [-- --inspector-port P]`: EdgeRooms on one
// machine outside Cloudflare. The production bundle (`wrangler deploy --dry-run`, the exact upload) runs on workerd
// through Miniflare's API with the bindings of wrangler.toml, the secrets of .dev.vars and migrated local D1, state
// kept under .wrangler/start-state (apart from `npm run dev`'s, so both can run). Unlike `wrangler dev` there is
// no proxy workerd in front, no rebuild on change, no inspector (unless asked for) and no local observability; the
// port is the Worker's own socket (no Miniflare entry Worker in front either).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, parseEnv } from 'node:util';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// No network: no metrics, no `cf` fetch, and no banner (whose update check asks the npm registry).
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
};
const wrangler = join(root, 'node_modules', '.bin', 'wrangler');

const { values: args } = parseOrFail({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8787' },
    ip: { type: 'string', default: '127.0.0.1' },
    'persist-to': { type: 'string', default: join(root, '.wrangler', 'start-state') },
    // Only for measuring or debugging (Chrome DevTools / CDP on the Worker's isolate): off by default.
    'inspector-port': { type: 'string' },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, not "${args.port}"`);
const inspectorPort = args['inspector-port'] === undefined ? undefined : Number(args['inspector-port']);
if (inspectorPort !== undefined && !(Number.isInteger(inspectorPort) && inspectorPort > 0 && inspectorPort < 65536))
  fail(`--inspector-port must be a port number, not "${args['inspector-port']}"`);
const state = resolve(args['persist-to']);
// Beside the state it runs on: two runtimes on two state directories never rebuild each other's bundle.
const bundleDir = join(state, 'bundle');

function parseOrFail(config) {
  try {
    return parseArgs(config);
  } catch (err) {
    fail(`${err.message} (npm start -- [--port P] [--ip ADDRESS] [--persist-to DIR] [--inspector-port P])`);
  }
}

function fail(message) {
  console.error(`[start] ${message}`);
  process.exit(1);
}

function run(what, command, commandArgs) {
  const result = spawnSync(command, commandArgs, { cwd: root, env, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    fail(`${what} failed`);
  }
}

if (!existsSync(join(root, '.dev.vars'))) {
  copyFileSync(join(root, '.dev.vars.example'), join(root, '.dev.vars'));
  console.log('[start] created .dev.vars from .dev.vars.example (local secrets; the admin login is in it)');
}

// The bundle `wrangler deploy` would upload (same esbuild config, same entry), not a dev build.
mkdirSync(bundleDir, { recursive: true });
run('building the Worker (wrangler deploy --dry-run)', wrangler, ['deploy', '--dry-run', '--outdir', bundleDir]);
// The same migrations `npm run dev` applies, into this runtime's own state directory.
run('applying D1 migrations', wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state]);

// wrangler.toml's bindings (Durable Objects with their SQLite storage, D1, vars), as wrangler itself reads them.
// Module rules are for the unbundled source: the bundle is one ES module.
const { modulesRules: _unbundled, ...workerOptions } = unstable_getMiniflareWorkerOptions(
  join(root, 'wrangler.toml'),
).workerOptions;
const secrets = parseEnv(readFileSync(join(root, '.dev.vars'), 'utf8'));

const mf = new Miniflare(
  convertV4MiniflareOptions({
    ...workerOptions,
    name: 'edgerooms',
    rootPath: root,
    modules: true,
    scriptPath: join(bundleDir, 'index.js'),
    // Module names are paths relative to this: a bundle outside the checkout must not be named `../..`.
    modulesRoot: bundleDir,
    // One workerd process runs every actor on one thread: hub shards would add RPC hops between actors and buy no
    // parallelism, so one machine runs one shard unless wrangler.toml or HUB_SHARDS in the environment says otherwise.
    bindings: {
      HUB_SHARDS: process.env.HUB_SHARDS ?? '1',
      ...workerOptions.bindings,
      ...secrets,
      ...(process.env.HUB_SHARDS ? { HUB_SHARDS: process.env.HUB_SHARDS } : {}),
    },
    // Clients reach the Worker itself on `port`, as Cloudflare serves it: not through Miniflare's entry Worker,
    // which answers for the Worker under its own compatibility date and so, among other things, negotiates
    // WebSocket compression that wrangler.toml turns off. The entry (Miniflare's API needs one) listens on a free
    // loopback port nobody is told about.
    host: '127.0.0.1',
    port: 0,
    unsafeDirectSockets: [{ host: args.ip, port }],
    inspectorPort,
    // wrangler's layout (`--persist-to DIR` keeps D1 and Durable Objects under DIR/v3), so migrations land where
    // the Worker reads.
    resourcePersistencePath: join(state, 'v3'),
    // No network: `request.cf` is a fixed placeholder instead of Cloudflare's live data.
    cf: false,
    logRequests: false,
    log: new Log(LogLevel.WARN),
  }),
);

try {
  await mf.ready;
} catch (err) {
  await mf.dispose().catch(() => {});
  if (err?.code === 'ERR_ADDRESS_IN_USE') fail(`${args.ip}:${port} is in use: pass another --port`);
  console.error(err);
  fail('the runtime did not start');
}
const inspecting = inspectorPort ? `, inspector on 127.0.0.1:${inspectorPort}` : '';
const origin = `http://${args.ip.includes(':') ? `[${args.ip}]` : args.ip}:${port}`;
console.log(`[start] EdgeRooms on ${origin} (workerd${inspecting}; state in ${state}). Ctrl-C stops it.`);

// Miniflare's own signal hook exits with 128+signal; this one says what happens and exits 0 once workerd is gone
// (Miniflare stops workerd with SIGKILL: every write the Worker acknowledged is already committed to SQLite).
let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`[start] ${signal}: stopping`);
  setTimeout(() => process.exit(1), 10_000).unref();
  await mf.dispose().catch((err) => console.error(err));
  process.exit(0);
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.removeAllListeners(sig);
  process.on(sig, () => void stop(sig));
}
