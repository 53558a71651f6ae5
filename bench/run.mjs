#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only=1,2] [-- --targets=edgerooms,ws] [-- --runtime=dev] [-- --no-pin]
//  [-- --note "..."] [-- --no-save] [-- --crafting-sessions=N]`
// Starts EdgeRooms (on `npm start`, or `npm run dev` with --runtime=dev) and the baselines on loopback, servers
// pinned to one half of the cores and the harness (the load generator) to the other, runs the scenarios against
// each with the same clients, writes bench/results/<timestamp>.json, latest.json, latest.md and fanout.svg, and
// prints the table. Every wait is bounded; the child process groups are stopped at the end.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EdgeRooms } from './lib/edgerooms.mjs';
import { killAllGroupsSync, pinServersTo } from './lib/processes.mjs';
import { markdown, svgChart } from './lib/report.mjs';
import { EdgeTarget, SocketIoTarget, WsTarget } from './lib/targets.mjs';
import { round, sleep, withTimeout } from './lib/util.mjs';
import { connections } from './scenarios/connections.mjs';
import { crafting } from './scenarios/crafting.mjs';
import { earthRing } from './scenarios/earthring.mjs';
import { fanOut } from './scenarios/fan-out.mjs';
import { hub } from './scenarios/hub.mjs';
import { rest } from './scenarios/rest.mjs';
import { resync } from './scenarios/resync.mjs';
import { roundTrip } from './scenarios/round-trip.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const SCENARIOS = [
  { n: 1, key: 'roundTrip', title: 'round trip', run: roundTrip, budgetS: 120 },
  { n: 2, key: 'fanOut', title: 'fan-out', run: fanOut, budgetS: 420 },
  { n: 3, key: 'connections', title: 'many connections', run: connections, budgetS: 220 },
  { n: 4, key: 'resync', title: 'resync', run: resync, budgetS: 90 },
  { n: 5, key: 'rest', title: 'REST', run: rest, budgetS: 120 },
  { n: 6, key: 'earthRing', title: 'EarthRing', run: earthRing, budgetS: 150 },
  { n: 7, key: 'crafting', title: 'crafting sync (seed 002)', run: crafting, budgetS: 150 },
  { n: 8, key: 'hub', title: 'hub vs Socket.IO (seed 003)', run: hub, budgetS: 240 },
];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    targets: { type: 'string', default: 'edgerooms,ws,socketio' },
    note: { type: 'string', multiple: true, default: [] },
    'no-save': { type: 'boolean', default: false },
    runtime: { type: 'string', default: 'start' },
    'no-pin': { type: 'boolean', default: false },
    // Scenario 7's footprint step: unfinished crafting sessions to create and hold (default 1,000; 200 quick).
    'crafting-sessions': { type: 'string' },
  },
});
const selected = args.only
  ? SCENARIOS.filter((s) => args.only.split(',').some((x) => x.trim() === String(s.n) || x.trim() === s.key))
  : SCENARIOS;
const craftingSessions = Math.max(0, Number(args['crafting-sessions'] ?? (args.quick ? 200 : 1_000)) || 0);
const targetNames = args.targets.split(',').map((t) => t.trim());

const version = (pkg) => {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
};

function machine() {
  let workerd = 'unknown';
  try {
    workerd = execFileSync(join(root, 'node_modules', '@cloudflare', 'workerd-linux-64', 'bin', 'workerd'), ['--version'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    workerd = version('workerd');
  }
  const limits = readFileSync('/proc/self/limits', 'utf8');
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `Linux ${release()}`,
    node: process.version,
    workerd,
    wrangler: version('wrangler'),
    ws: version('ws'),
    socketio: version('socket.io'),
    autocannon: version('autocannon'),
    openFilesLimit: Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0),
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
  };
}

/**
 * Servers under test on the upper half of the cores, the harness (every client, autocannon) on the lower half, so
 * neither steals the other's core. Null (no pinning) with --no-pin, one core, or no `taskset` (util-linux).
 */
function pinning() {
  const n = availableParallelism();
  if (args['no-pin'] || n < 2) return null;
  const half = Math.floor(n / 2);
  const range = (a, b) => (a === b ? String(a) : `${a}-${b}`);
  const cores = { servers: range(half, n - 1), harness: range(0, half - 1) };
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cores.harness, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return null;
  }
  pinServersTo(cores.servers);
  return cores;
}

/** Share of CPU time the machine spent busy over `ms`: other work on the machine skews every figure. */
async function busyShare(ms) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return round(1 - (b.idle - a.idle) / Math.max(1, b.total - a.total), 2);
}

async function main() {
  const started = new Date();
  const tmp = join(root, 'bench', '.tmp');
  mkdirSync(tmp, { recursive: true });
  const log = createWriteStream(join(tmp, 'run.log'));
  // node_modules/.bin first: wrangler needs the Node it ships with (the `node` devDependency), as `npm run` gives it.
  const env = {
    ...process.env,
    PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  };
  const info = machine();
  const busy = await busyShare(1000);
  const pinned = pinning();
  const notes = [
    args.runtime === 'dev'
      ? 'EdgeRooms runs under `wrangler dev` (the dev loop: local workerd, local SQLite for D1 and the actors), started as `npm run dev` does. ' +
        "Its traffic passes a proxy workerd in front of the Worker's workerd; a deployed Worker has neither that hop nor local storage."
      : 'EdgeRooms runs on `npm start`: the production bundle (`wrangler deploy --dry-run`) on one workerd process through ' +
        "Miniflare's API, no dev proxy, no inspector, no local observability; D1 and the actors on local SQLite (Cloudflare's storage is replicated instead).",
    pinned
      ? `Every server under test runs on core(s) ${pinned.servers} (\`taskset -c\`), the harness and its clients on core(s) ${pinned.harness}. ` +
        "CPU per request or per delivered message is the server's CPU time (user + system of every process of the server, from /proc/<pid>/stat) over the step, divided."
      : 'No core pinning (--no-pin, one core, or no `taskset`): servers and the harness share every core.',
    'Clients and servers share this machine: the harness (one Node process) competes with the server under test for the same cores, ' +
      'so the client side caps every server at high rates.',
    'Rooms on EdgeRooms are the orchestrator stream of seed 004 (`/ws/orchestrator`, one Room actor per tenant): the collaboration ' +
      "rooms (`/ws/rooms/{roomId}`) were not served when this harness was written. Scenario 3's 100 rooms are 100 tenants.",
    'In fan-out every target publishes over a socket: EdgeRooms with `publish` frames (at most 100 events each, acknowledged ' +
      'after the log append) on one socket per service account (8: a dialect budget of 100 frames a minute each); its ' +
      "'batched frames' rows are the same series with subscribers on `?batch=1`. Resync publishes over `POST /api/orchestrator/events`, " +
      'rotating over the same accounts. Every target gets the same batches (20 a second) of the same 100-byte events.',
    'Virtual clients carry distinct `CF-Connecting-IP` addresses (the per-IP limits are per client on Cloudflare); each address ' +
      'makes at most 400 requests in the run, under the 1,000/min per-IP limit.',
    `CPU busy share in the second before the run: ${Math.round(busy * 100)}%${busy > 0.2 ? ' (other work was running: figures are pessimistic; rerun on an idle machine)' : ''}.`,
    ...args.note,
  ];

  const edge = new EdgeRooms({ root, log, env, runtime: args.runtime });
  const all = {
    edgerooms: () => new EdgeTarget(edge),
    ws: () => new WsTarget({ root, log, env }),
    socketio: () => new SocketIoTarget({ root, log, env }),
  };
  const targets = targetNames.map((n) => {
    if (!all[n]) throw new Error(`unknown target ${n} (edgerooms, ws, socketio)`);
    return all[n]();
  });

  const cleanup = () => killAllGroupsSync();
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }

  const results = {};
  try {
    console.log(
      `[bench] ${args.quick ? 'quick' : 'full'} run: scenarios ${selected.map((s) => s.n).join(',')}, targets ${targetNames.join(',')}`,
    );
    if (targetNames.includes('edgerooms')) {
      console.log(`[bench] starting ${edge.label} ...`);
      await edge.start();
      await edge.setupPublishers(8);
    }
    for (const t of targets) if (t.name !== 'edgerooms') await t.start();

    for (const s of selected) {
      results[s.key] = {};
      for (const t of targets) {
        const t0 = Date.now();
        process.stdout.write(`[bench] ${s.n}. ${s.title} / ${t.label} ... `);
        try {
          results[s.key][t.name] = await withTimeout(
            s.run(t, { quick: args.quick, edge, room: 'default', craftingSessions: craftingSessions }),
            (s.budgetS + (s.key === 'crafting' ? craftingSessions : 0)) * 1000 * (args.quick ? 0.75 : 1.5),
            `${s.title} on ${t.label}`,
          );
        } catch (err) {
          results[s.key][t.name] = { error: String(err?.message ?? err).slice(0, 300) };
        }
        const r = results[s.key][t.name];
        console.log(
          r?.error ? `failed: ${r.error}` : r?.notRun ? `not run: ${r.notRun}` : `${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        await sleep(1000);
      }
    }
  } finally {
    for (const t of targets) if (t.name !== 'edgerooms') await t.stop();
    if (targetNames.includes('edgerooms')) await edge.stop();
  }

  const finished = new Date();
  const run = {
    version: 1,
    mode: args.quick ? 'quick' : 'full',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: Math.round((finished - started) / 1000),
    scenarios: selected.map((s) => s.n),
    targets: targets.map((t) => ({ name: t.name, label: t.label })),
    machine: { ...info, cpuBusyShareAtStart: busy, pinnedCores: pinned },
    edgeRoomsRuntime: args.runtime,
    notes,
    results,
  };
  const md = markdown(run);
  console.log(`\n${md}`);
  if (!args['no-save']) {
    const dir = join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const json = `${JSON.stringify(run, null, 2)}\n`;
    writeFileSync(join(dir, `${started.toISOString().replaceAll(':', '-').slice(0, 19)}-${run.mode}.json`), json);
    writeFileSync(join(dir, 'latest.json'), json);
    writeFileSync(join(dir, 'latest.md'), md);
    if (results.fanOut) writeFileSync(join(dir, 'fanout.svg'), svgChart(run));
    console.log(`[bench] wrote bench/results/latest.{json,md}${results.fanOut ? ', fanout.svg' : ''}`);
  }
  log.end();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('[bench] failed:', err);
    killAllGroupsSync();
    process.exit(1);
  },
);
