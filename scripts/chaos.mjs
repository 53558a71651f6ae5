#!/usr/bin/env node
// `npm run test:chaos`: hard kills of the local runtime mid-burst, then checks that nothing acknowledged was lost
// or duplicated. Starts `npm start`'s runtime (scripts/start.mjs: the production bundle on workerd, the runtime a
// single-machine deployment runs) on a free port with its own state directory, publishes orchestrator events
// (each with an Idempotency-Key) from several clients, `kill -9`s the whole runtime in the middle of the burst,
// restarts it on the same state, retries every publish that got no answer (same key), and checks:
//   - every acknowledged event is in the log exactly once, with the sequence it was acknowledged with;
//   - no sequence is used twice; a retried key answers its first answer;
//   - a client resumes by WebSocket resync (lastEventId), by SSE (Last-Event-ID) and by polling with nothing missing.
// Prints `N passed, N failed`; exits 1 on any failure. Bounded: each round has its own deadline.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };
const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 3);
const CLIENTS = 4;
/** Each round's runtime is killed after this many publishes (a random number between the two). */
const KILL_AFTER_MIN = 30;
const KILL_AFTER_MAX = 90;
const DEADLINE = Date.now() + 5 * 60_000;

if (!existsSync(join(root, '.dev.vars'))) copyFileSync(join(root, '.dev.vars.example'), join(root, '.dev.vars'));
const vars = Object.fromEntries(
  readFileSync(join(root, '.dev.vars'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('=') && !l.startsWith('#'))
    .map((l) => [
      l.slice(0, l.indexOf('=')).trim(),
      l
        .slice(l.indexOf('=') + 1)
        .trim()
        .replace(/^"|"$/g, ''),
    ]),
);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0;
let failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

const state = mkdtempSync(join(tmpdir(), 'edgerooms-chaos-'));

/** scripts/start.mjs builds, applies the migrations to `state` (again on each restart: a no-op) and serves. */
async function start(port) {
  const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs'), '--port', String(port), '--persist-to', state], {
    cwd: root,
    env,
    stdio: 'ignore',
    detached: true, // its own process group, so kill -9 takes the whole runtime down at once
  });
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    if (Date.now() > DEADLINE) throw new Error('runtime did not start in time');
    try {
      if ((await fetch(`${base}/health`)).ok) return { child, base };
    } catch {
      // not up yet
    }
    await sleep(300);
  }
}
const kill9 = (child) => {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

const post = async (base, path, body, headers = {}) => {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
};

/** Every orchestrator event from the start, by polling (100 a page). */
async function pollAll(base, token) {
  const all = [];
  let r = await (
    await fetch(`${base}/api/orchestrator/events?lastSequence=0&limit=100`, { headers: { Authorization: `Bearer ${token}` } })
  ).json();
  for (;;) {
    if (!Array.isArray(r.events)) throw new Error(`polling the orchestrator log failed: ${JSON.stringify(r).slice(0, 200)}`);
    all.push(...r.events);
    if (!r.hasMore || !r.nextEventId) return all;
    r = await (
      await fetch(`${base}/api/orchestrator/events?lastEventId=${r.nextEventId}&limit=100`, {
        headers: { Authorization: `Bearer ${token}` },
      })
    ).json();
  }
}

const port = await freePort();
let { child, base } = await start(port);
const login = await post(base, '/api/auth/login', { username: vars.ADMIN_USERNAME, password: vars.ADMIN_PASSWORD });
if (!login.body?.access_token) {
  console.error('[chaos] admin login failed', login);
  kill9(child);
  process.exit(1);
}
const token = login.body.access_token;
const auth = { Authorization: `Bearer ${token}` };
/** key -> the acknowledged answer (eventId, sequence) */
const acked = new Map();
const unanswered = new Set();
let counter = 0;

try {
  for (let round = 1; round <= ROUNDS; round++) {
    // A burst from several clients; the runtime is killed in the middle of it, after a random number of publishes
    // (not after a time: how many fit in a second depends on the machine, and the limits are exact: the admin may
    // publish 500 a minute, every client of this machine together 1,000).
    let stop = false;
    const killAt = KILL_AFTER_MIN + Math.floor(Math.random() * (KILL_AFTER_MAX - KILL_AFTER_MIN));
    let sent = 0;
    let killed;
    const killed$ = new Promise((resolve) => {
      killed = resolve;
    });
    const client = async (c) => {
      while (!stop) {
        if (++sent === killAt) killed();
        const key = `chaos-${round}-${c}-${counter++}`;
        unanswered.add(key);
        try {
          const r = await post(
            base,
            '/api/orchestrator/events',
            { type: 'planning_output', payload: { output: key } },
            { ...auth, 'Idempotency-Key': key },
          );
          if (r.status === 201) {
            acked.set(key, { eventId: r.body.eventId, sequence: r.body.sequence });
            unanswered.delete(key);
          }
        } catch {
          return; // the runtime is gone
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    await Promise.race([killed$, sleep(20_000)]);
    kill9(child);
    stop = true;
    await Promise.all(clients);
    console.log(`[chaos] round ${round}: killed mid-burst; ${acked.size} acknowledged so far, ${unanswered.size} unanswered`);
    ({ child, base } = await start(port));

    // Retry every unanswered publish with its key: it is published once, whether or not it was committed.
    for (const key of [...unanswered]) {
      const r = await post(
        base,
        '/api/orchestrator/events',
        { type: 'planning_output', payload: { output: key } },
        { ...auth, 'Idempotency-Key': key },
      );
      if (r.status === 201) {
        acked.set(key, { eventId: r.body.eventId, sequence: r.body.sequence });
        unanswered.delete(key);
      }
    }
    // A retry of an acknowledged key answers its first answer.
    const [someKey, first] = [...acked][Math.floor(Math.random() * acked.size)] ?? [];
    if (someKey) {
      const again = await post(
        base,
        '/api/orchestrator/events',
        { type: 'planning_output', payload: { output: someKey } },
        { ...auth, 'Idempotency-Key': someKey },
      );
      check(
        again.body?.eventId === first.eventId && again.body?.sequence === first.sequence,
        `round ${round}: a retried key answers its first answer`,
      );
    }

    const events = await pollAll(base, token);
    const byOutput = new Map();
    for (const e of events) byOutput.set(e.payload.output, (byOutput.get(e.payload.output) ?? 0) + 1);
    const lost = [...acked.keys()].filter((k) => !byOutput.has(k));
    const doubled = [...byOutput].filter(([, n]) => n > 1);
    const sequences = events.map((e) => e.sequence);
    check(
      lost.length === 0,
      `round ${round}: every acknowledged event is there (${acked.size} acknowledged, ${lost.length} lost)`,
    );
    check(doubled.length === 0, `round ${round}: no event twice (${doubled.length} duplicated)`);
    check(new Set(sequences).size === sequences.length, `round ${round}: no sequence reused (${sequences.length} events)`);
    check(
      [...acked].every(([k, a]) => events.find((e) => e.payload.output === k)?.sequence === a.sequence),
      `round ${round}: each event keeps the sequence it was acknowledged with`,
    );

    // Resume from the middle of the log by WebSocket resync, SSE and polling: the same events after it.
    // Within the one-frame replay limit (100), so the WebSocket resync answers events, not a snapshot.
    const mid = events[Math.max(0, events.length - 60)];
    const expected = events.filter((e) => e.sequence > mid.sequence).map((e) => e.eventId);
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/orchestrator?token=${token}&lastEventId=${mid.eventId}`);
    const wsIds = await new Promise((resolve) => {
      const ids = [];
      ws.on('message', (m) => {
        const f = JSON.parse(String(m));
        if (f.type === 'resync_response') {
          for (const e of f.payload?.missedEvents ?? []) ids.push(e.eventId);
          ws.close();
          resolve(ids);
        }
      });
      ws.on('error', () => resolve(ids));
      setTimeout(() => resolve(ids), 10_000);
    });
    check(
      wsIds.length > 0 && JSON.stringify(wsIds) === JSON.stringify(expected),
      `round ${round}: WebSocket resync resumes with nothing missing (${wsIds.length} events)`,
    );
    const sse = await fetch(`${base}/sse/orchestrator?token=${token}`, {
      headers: { 'Last-Event-ID': mid.eventId },
      signal: AbortSignal.timeout(15_000),
    });
    const reader = sse.body.getReader();
    let text = '';
    const sseIds = [];
    while (sseIds.length < expected.length) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      const parts = text.split('\n\n');
      text = parts.pop();
      for (const p of parts) {
        const id = /^id: (.+)$/m.exec(p)?.[1];
        if (id) sseIds.push(id);
      }
    }
    await reader.cancel();
    check(
      JSON.stringify(sseIds) === JSON.stringify(expected),
      `round ${round}: SSE resumes from Last-Event-ID with nothing missing (${sseIds.length} events)`,
    );
    const polled = (await pollAll(base, token)).filter((e) => e.sequence > mid.sequence).map((e) => e.eventId);
    check(JSON.stringify(polled) === JSON.stringify(expected), `round ${round}: polling resumes with nothing missing`);
  }
} catch (err) {
  failed++;
  console.log(`FAIL ${err.message}`);
} finally {
  kill9(child);
  rmSync(state, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
