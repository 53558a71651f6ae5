#!/usr/bin/env node
// `npm run bench:profile [-- --clients=100 --rate=200 --seconds=5]`: a CPU profile of the Worker during fan-out.
// Starts EdgeRooms as the bench does, subscribes `clients` sockets to one orchestrator stream, attaches to the
// Worker's V8 inspector (wrangler dev --inspector-port), records a CPU profile while `rate` events/s are
// published, and prints the functions with the most self time. The raw profile goes to
// bench/.tmp/fanout.cpuprofile (open it in Chrome DevTools). Every wait is bounded.
// `--hub`: the load is seed 003's Socket.IO hub instead (bench/scenarios/hub.mjs `hubLoad`: `clients` sockets in
// one room, `rate` room messages and `rate` direct messages a second, acked); the profile is bench/.tmp/hub.cpuprofile.
// `--ping`: the round trip instead (scenario 1): `rate` orchestrator `ping` frames a second, each answered by a
// `pong`, over connections of 90 pings each (one user each, as the bench does); bench/.tmp/ping.cpuprofile.
// `--rest`: scenario 5's load instead (autocannon, `GET /api/players/me` with 64 users' tokens and rotating client
// addresses, `clients` connections, `seconds` long; `--users=N` tokens, 64 as in the bench); prints the runtime's CPU per request beside the profile
// (bench/.tmp/rest.cpuprofile). The isolate's profile is JS only: the rest of the CPU is workerd's own (actor
// loopback, SQLite, HTTP). `--no-inspector`: the rate and CPU per request only, without the inspector's overhead.
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { EdgeRooms } from './lib/edgerooms.mjs';
import { makeEvent } from './lib/payload.mjs';
import { killAllGroupsSync } from './lib/processes.mjs';
import { EdgeTarget } from './lib/targets.mjs';
import { pool, sleep, withTimeout } from './lib/util.mjs';
import { roomName } from './scenarios/connections.mjs';
import { hubLoad } from './scenarios/hub.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
    hub: { type: 'boolean', default: false },
    ping: { type: 'boolean', default: false },
    rest: { type: 'boolean', default: false },
    'no-inspector': { type: 'boolean', default: false },
    users: { type: 'string', default: '64' },
  },
});
const clients = Math.min(Number(args.clients), 1000);
const rate = Math.min(Number(args.rate), 5000);
const seconds = Math.min(Number(args.seconds), 30);

const tmp = join(root, 'bench', '.tmp');
mkdirSync(tmp, { recursive: true });
const log = createWriteStream(join(tmp, 'profile.log'));
const edge = new EdgeRooms({ root, log, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
const target = new EdgeTarget(edge);

/** One Chrome DevTools Protocol session on the Worker's inspector. */
async function inspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const worker = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const ws = new WebSocket(worker.webSocketDebuggerUrl);
  await withTimeout(new Promise((r, j) => ws.once('open', r).once('error', j)), 10_000, 'inspector connect');
  let id = 0;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  const send = (method, params = {}) =>
    withTimeout(
      new Promise((r) => {
        pending.set(++id, r);
        ws.send(JSON.stringify({ id, method, params }));
      }),
      60_000,
      method,
    );
  return { send, close: () => ws.close() };
}

/** Self time per function (ms), from a V8 CPU profile. */
function topSelf(profile, n = 25) {
  const dt = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) dt.set(samples[i], (dt.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0) / 1000);
  const by = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const ms = dt.get(node.id) ?? 0;
    total += ms;
    const f = node.callFrame;
    const url = f.url ? f.url.split('/').slice(-2).join('/') : '';
    const key = `${f.functionName || '(anonymous)'} ${url}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + ms);
  }
  const rows = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { total, rows };
}

/** Prints the functions with the most self time of a profile, after saving it as bench/.tmp/<name>.cpuprofile. */
function report(name, profile, n = 25) {
  writeFileSync(join(tmp, `${name}.cpuprofile`), JSON.stringify(profile));
  const { total, rows } = topSelf(profile, n);
  console.log(`sampled ${total.toFixed(0)} ms of the Worker's isolate; self time by function:`);
  for (const [fn, ms] of rows)
    console.log(`${((100 * ms) / total).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${fn}`);
}

/** The Worker's CPU profile while `rate` pings a second are answered (the round trip of scenario 1). */
async function profilePing() {
  const total = Math.round(rate * seconds);
  const perConnection = 90;
  const pongs = { n: 0 };
  const conns = await pool(Math.ceil(total / perConnection), 20, (i) =>
    target.connect('default', { user: 10_000 + i, handlers: { pong: () => pongs.n++ } }),
  );
  const cdp = await inspector(edge.inspectorPort);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    while (sent < due) {
      conns[Math.floor(sent / perConnection)].ping(sent);
      sent++;
    }
    await sleep(1);
  }
  const deadline = Date.now() + 5000;
  while (pongs.n < total && Date.now() < deadline) await sleep(20);
  const { result } = await cdp.send('Profiler.stop');
  cdp.close();
  console.log(`ping profile: ${sent} pings in ${seconds} s, ${pongs.n} pongs`);
  report('ping', result.profile, 40);
  for (const c of conns) c.close();
}

/** The Worker's CPU profile while `hubLoad` runs against the hub. */
async function profileHub() {
  const headers = () => ({ 'CF-Connecting-IP': edge.addresses.next() });
  const cdp = await inspector(edge.inspectorPort);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const load = await hubLoad(edge.base, headers, { clients, rate, seconds });
  const { result } = await cdp.send('Profiler.stop');
  cdp.close();
  writeFileSync(join(tmp, 'hub.cpuprofile'), JSON.stringify(result.profile));
  const { total, rows } = topSelf(result.profile, 40);
  console.log(`hub profile: ${clients} clients, ${load.sent} messages acked in ${seconds} s, ${load.delivered} delivered`);
  console.log(`sampled ${total.toFixed(0)} ms of the Worker's isolate; self time by function:`);
  for (const [name, ms] of rows)
    console.log(`${((100 * ms) / total).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
}

/** The Worker's CPU profile during scenario 5's load, with the runtime's CPU per request. */
async function profileRest() {
  const tokens = [];
  for (let i = 0; i < Math.min(Number(args.users), 256); i++) tokens.push(await edge.userToken(roomName(i)));
  const inspect = !args['no-inspector'];
  if (inspect) await edge.restart({ inspector: true });
  const url = `${edge.base}/api/players/me`;
  const run = async (duration) => {
    let n = 0;
    const before = edge.cpuSeconds();
    const result = await autocannon({
      url,
      connections: Math.min(clients, 64),
      duration,
      requests: [
        {
          method: 'GET',
          setupRequest: (req) => {
            const token = tokens[n++ % tokens.length];
            req.headers = { ...req.headers, authorization: `Bearer ${token}`, 'cf-connecting-ip': edge.addresses.next() };
            return req;
          },
        },
      ],
    });
    return { result, cpu: edge.cpuSeconds() - before };
  };
  await run(3); // warm: the bundle compiled, the users' limiter objects created
  const cdp = inspect ? await inspector(edge.inspectorPort) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  const { result, cpu } = await run(seconds);
  const total = result.requests.total;
  console.log(
    `rest profile: ${total} requests in ${seconds} s (${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms, ` +
      `non-2xx ${result.non2xx}), runtime CPU ${((cpu * 1000) / total).toFixed(3)} ms per request`,
  );
  if (!cdp) return;
  const { result: profiled } = await cdp.send('Profiler.stop');
  cdp.close();
  writeFileSync(join(tmp, 'rest.cpuprofile'), JSON.stringify(profiled.profile));
  const { total: sampled, rows } = topSelf(profiled.profile, 40);
  console.log(
    `sampled ${sampled.toFixed(0)} ms of the Worker's isolate (${(sampled / total).toFixed(3)} ms per request); self time:`,
  );
  for (const [name, ms] of rows)
    console.log(
      `${((100 * ms) / sampled).toFixed(1).padStart(5)}%  ${((1000 * ms) / total).toFixed(1).padStart(6)} µs/req  ${name}`,
    );
}

try {
  await edge.start();
  if (args.rest) {
    await profileRest();
    await edge.stop().catch(() => {});
    killAllGroupsSync();
    process.exit(0);
  }
  await edge.setupPublishers(8);
  // `npm start` runs without the isolate's inspector unless asked: the profile needs it.
  await edge.restart({ inspector: true });
  if (args.ping) {
    await profilePing();
    await edge.stop().catch(() => {});
    killAllGroupsSync();
    process.exit(0);
  }
  if (args.hub) {
    await profileHub();
    await edge.stop().catch(() => {});
    killAllGroupsSync();
    process.exit(0);
  }
  let delivered = 0;
  const subs = [];
  await pool(clients, 50, async () => {
    subs.push(await target.connect('default', { handlers: { event: () => delivered++ } }));
  });
  // Published over the socket, as the bench's fan-out does.
  const publisher = await target.socketPublisher('default');
  const cdp = await inspector(edge.inspectorPort);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const batches = 20;
  const perBatch = Math.max(1, Math.round(rate / batches));
  const started = Date.now();
  let seq = 0;
  const inflight = [];
  while (Date.now() - started < seconds * 1000) {
    const events = Array.from({ length: perBatch }, () => makeEvent(seq++, performance.now()));
    inflight.push(publisher.publish(events));
    await sleep(1000 / batches);
  }
  await Promise.allSettled(inflight);
  await sleep(1000);
  const { result } = await cdp.send('Profiler.stop');
  cdp.close();
  console.log(`fan-out profile: ${clients} clients, ${seq} events published in ${seconds} s, ${delivered} delivered`);
  report('fanout', result.profile);
  publisher.close();
  for (const s of subs) s.close();
} finally {
  await edge.stop().catch(() => {});
  killAllGroupsSync();
}
