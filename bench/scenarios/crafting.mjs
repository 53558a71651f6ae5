// Scenario 7: seed 002's crafting sync on EdgeRooms (no baseline serves it). Sessions run in Crafting actors; each has
// one binary WebSocket watcher (`crafting-udp.v1`) receiving the 20 Hz progress stream. Measured:
// - bandwidth per session at 20 Hz: bytes of sync packets a watcher receives per second (deltas, with the default
//   keyframe every 20 deltas or 1 s), and over HTTP datagrams at 20 Hz a peer that asks for a keyframe every packet
//   (full state) against one on the default policy (deltas): request + answer packet bytes per second;
// - delivery: a service peer pushes a material change (`POST /udp/sessions/{id}/materials`, a delta body) and the
//   time until the session's watcher holds the resulting materials packet (Worker → Crafting → CraftingQueue →
//   Crafting → socket), p50/p99;
// - memory per active session: the actors' own state as they report it in `/metrics` (session, sync streams,
//   per-connection bookkeeping; JSON bytes) and, for scale, the workerd processes' RSS growth per session+watcher.
// - concurrent sessions (`craftingSessions`, `--crafting-sessions=N`): N unfinished sessions created and held, with
//   the creation rate, the runtime's memory and open files, and SQLite on disk per session (holdSessions below).
// The client side uses the project's own client library (src/client/crafting-udp.ts), bundled with esbuild.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { hubToken } from '../lib/hub-tokens.mjs';
import { AddressPool, now, round, rssKiB, sleep, summarize, waitFor } from '../lib/util.mjs';

async function clientLibrary(root) {
  const { build } = await import('esbuild');
  // Outside the checkout: the bundle is generated code, not the project's to lint.
  const out = join(mkdtempSync(join(tmpdir(), 'edgerooms-bench-')), 'crafting-udp.mjs');
  await build({
    entryPoints: [join(root, 'src', 'client', 'crafting-udp.ts')],
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile: out,
    logLevel: 'error',
  });
  return import(`${pathToFileURL(out).href}?v=${Date.now()}`);
}

const memory = (edge) => edge.runtimeProcesses().reduce((a, p) => a + (rssKiB(p.pid) ?? 0), 0);

async function scrape(edge) {
  const res = await fetch(`${edge.base}/metrics`, {
    headers: { authorization: `Bearer ${edge.adminToken}`, 'CF-Connecting-IP': edge.addresses.next() },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics: ${res.status} ${text.slice(0, 200)}`);
  const value = (name, labels = {}) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return value;
}

const openFiles = (edge) =>
  edge.runtimeProcesses().reduce((a, p) => {
    try {
      return a + readdirSync(`/proc/${p.pid}/fd`).length;
    } catch {
      return a;
    }
  }, 0);

/** Bytes of the Crafting actors' SQLite files (database and WAL) under the bench's state directory. */
function craftingDiskBytes(edge) {
  const dir = join(edge.state, 'v3', 'do', 'edgerooms-Crafting');
  try {
    return readdirSync(dir)
      .filter((f) => f !== 'metadata.sqlite' && !f.startsWith('metadata.'))
      .reduce((a, f) => a + statSync(join(dir, f)).size, 0);
  } catch {
    return 0;
  }
}

/**
 * Concurrent sessions: `count` unfinished sessions, each in its own Crafting actor (and one CraftingQueue actor per
 * two), created through the REST API as a client would. "Concurrent" means live at the same time: created and not
 * finished, state in its actor, answering at once. Each player (a token minted as EdgeRooms signs them, so no
 * registrations: 5/min per IP) starts an iron ingot ×5 (running, then paused: a paused session lives an hour) and a
 * second one that waits for its inputs (queued). No sockets: the runtime evicts an actor nobody talks to (its
 * SQLite stays; the next request wakes it), which is what lets one machine hold many; the sockets' own cost is
 * scenario 3's. Addresses come from a pool under the 1,000/min per-IP limit. Measured: creation rate, the
 * runtime's RSS and open files while creating (workerd keeps a resident actor's database, WAL and shared-memory
 * files open), SQLite on disk per session, and a sample read back to show they are held.
 */
async function holdSessions(edge, count) {
  const addresses = new AddressPool('10.102', 200);
  const players = Math.ceil(count / 2);
  const base = Date.now() * 1000;
  const rss0 = memory(edge);
  const files0 = openFiles(edge);
  const disk0 = craftingDiskBytes(edge);
  let peakFiles = files0;
  const ids = [];
  const failures = [];
  const call = async (method, path, token, body) => {
    const res = await fetch(`${edge.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'CF-Connecting-IP': addresses.next() },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : null, text };
  };
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < players) {
        const i = next++;
        try {
          const token = await hubToken(String(base + i), 'default');
          for (let k = 0; k < 2 && ids.length < count; k++) {
            const r = await call('POST', '/api/crafting/sessions', token, { recipeId: 'iron_ingot', quantity: 5 });
            if (r.status !== 201) throw new Error(`create ${r.status} ${r.text.slice(0, 120)}`);
            if (r.json.session.status === 'running') {
              const p = await call('POST', `/api/crafting/sessions/${r.json.id}/pause`, token, {});
              if (p.status !== 200) throw new Error(`pause ${p.status} ${p.text.slice(0, 120)}`);
            }
            ids.push({ id: r.json.id, player: String(base + i) });
          }
        } catch (err) {
          failures.push(String(err?.message ?? err));
        }
        if (i % 50 === 0) peakFiles = Math.max(peakFiles, openFiles(edge));
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  peakFiles = Math.max(peakFiles, openFiles(edge));
  const rssHeld = memory(edge);
  // Held: a sample read back, every one still unfinished.
  const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 100)) === 0);
  let unfinished = 0;
  for (const s of sample) {
    // A fresh token: those of the first players ran out (10 minutes) while the rest were created.
    const r = await call('GET', `/api/crafting/sessions/${s.id}`, await hubToken(s.player, 'default'));
    if (r.status === 200 && ['queued', 'paused', 'running'].includes(r.json.status)) unfinished += 1;
  }
  const created = ids.length;
  return {
    requested: count,
    created,
    seconds: round(seconds, 1),
    sessionsPerSecond: round(created / seconds, 1),
    sampleUnfinished: `${unfinished}/${sample.length}`,
    rssGrowthPerSessionKiB: created ? round((rssHeld - rss0) / created, 1) : null,
    openFiles: { before: files0, peak: peakFiles, after: openFiles(edge) },
    sqliteDiskBytesPerSession: created ? round((craftingDiskBytes(edge) - disk0) / created, 0) : null,
    failures: failures.length,
    firstFailures: failures.slice(0, 3),
  };
}

export async function crafting(target, { quick, edge, craftingSessions = 0 }) {
  if (target.name !== 'edgerooms') return { notRun: 'EdgeRooms only: no baseline serves seed 002' };
  const lib = await clientLibrary(edge.root);
  const players = quick ? 4 : 10;
  const measureS = quick ? 5 : 10;
  const pushS = quick ? 5 : 10;
  const service = edge.serviceTokens[0];

  const rssBefore = memory(edge);
  // Players of the default tenant (the service tokens' tenant), two 60 s sessions each.
  const sessions = [];
  for (let i = 0; i < players; i++) {
    const username = `c${edge.runId}${i}`.slice(0, 32);
    const reg = await edge.expect(
      'POST',
      '/api/auth/register',
      { body: { username, email: `${username}@bench.invalid`, password: 'SecurePass123!' }, auth: true },
      201,
    );
    await edge.expect(
      'POST',
      `/api/crafting/materials/${reg.user_id}`,
      { token: service, body: { changes: { iron_ore: 30 } } },
      200,
    );
    for (let k = 0; k < 2; k++) {
      const s = await edge.expect(
        'POST',
        '/api/crafting/sessions',
        { token: reg.access_token, body: { recipeId: 'iron_ingot', quantity: 10 } },
        201,
      );
      sessions.push({ id: s.id, token: reg.access_token, status: s.session.status });
    }
  }

  // One binary watcher per session.
  const watchers = await Promise.all(
    sessions.map(
      (s) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`${edge.wsBase}/ws/crafting/${s.id}`, ['crafting-udp.v1'], {
            headers: { authorization: `Bearer ${s.token}`, 'CF-Connecting-IP': edge.addresses.next() },
            perMessageDeflate: false,
          });
          const w = { ws, bytes: 0, packets: 0, keyframes: [], deltas: [], materialsSeq: 0, onMaterials: null };
          ws.on('message', (data, isBinary) => {
            if (!isBinary) return;
            const bytes = new Uint8Array(data);
            w.bytes += bytes.byteLength;
            w.packets += 1;
            const h = lib.decodePacket(bytes).header;
            if (h.flags & lib.FLAG_KEYFRAME) w.keyframes.push(bytes.byteLength);
            else w.deltas.push(bytes.byteLength);
            if (h.kind === lib.KIND_MATERIALS) {
              w.materialsSeq = h.seq;
              w.onMaterials?.(h.seq, Number(h.timestamp));
            }
          });
          ws.once('open', () => resolve(w));
          ws.once('error', reject);
        }),
    ),
  );
  await sleep(1000);
  const rssActive = memory(edge);

  // Bandwidth over the WebSocket: bytes received per session per second at the 20 Hz tick.
  for (const w of watchers) {
    w.bytes = 0;
    w.packets = 0;
    w.keyframes = [];
    w.deltas = [];
  }
  const t0 = now();
  await sleep(measureS * 1000);
  const elapsedS = (now() - t0) / 1000;
  const wsBytesPerSecond = watchers.reduce((a, w) => a + w.bytes, 0) / watchers.length / elapsedS;
  const wsPacketsPerSecond = watchers.reduce((a, w) => a + w.packets, 0) / watchers.length / elapsedS;
  const deltas = watchers.flatMap((w) => w.deltas);
  const keys = watchers.flatMap((w) => w.keyframes);
  const mean = (xs) => (xs.length ? round(xs.reduce((a, b) => a + b, 0) / xs.length, 1) : null);

  // Bandwidth over HTTP datagrams, 20 Hz, full state every packet against deltas.
  const http = async (keyframeInterval) => {
    const c = new lib.CraftingSyncClient({
      baseUrl: edge.base,
      sessionId: sessions[0].id,
      tenantId: 'default',
      token: sessions[0].token,
    });
    await c.connect({ keyframeInterval, keyframeIntervalMs: 60_000 });
    let bytes = 0;
    let exchanges = 0;
    const started = now();
    for (let i = 0; i < measureS * 20; i++) {
      const due = started + i * 50;
      if (now() < due) await sleep(due - now());
      const packet = c.packet('progress');
      const r = await c.send('progress', packet);
      if (!r.answer) continue;
      bytes += packet.byteLength + r.answer.byteLength;
      exchanges += 1;
    }
    // Per exchange (request + answer packet), and what 20 exchanges a second cost, whatever rate the loop reached.
    return { bytesPerExchange: bytes / Math.max(1, exchanges), achievedHz: exchanges / ((now() - started) / 1000) };
  };
  const httpFull = await http(1);
  const httpDelta = await http(20);

  // Delivery: material pushes from a service peer until the watcher holds the packet. One pushing session per
  // player (a push reaches both sessions of its player, so two pushers would see each other's packets).
  const latencies = [];
  // The packet's header timestamp is the server's clock when it sent it (the same machine's clock as the harness):
  // push sent → packet sent is the server's share, packet sent → packet read the harness's and the kernel's.
  const serverShare = [];
  const failures = [];
  await Promise.all(
    sessions.map(async (s, i) => {
      if (i % 2 === 1) return;
      const w = watchers[i];
      const peer = new lib.CraftingSyncClient({ baseUrl: edge.base, sessionId: s.id, tenantId: 'default', token: service });
      await peer.connect();
      const end = now() + pushS * 1000;
      let sign = 1;
      while (now() < end) {
        const before = w.materialsSeq;
        const arrived = new Promise((resolve) => {
          w.onMaterials = (seq, stamp) => seq > before && resolve({ at: now(), stamp });
        });
        const sentWall = Date.now();
        const sent = now();
        const r = await peer.pushMaterials({ wood: sign });
        sign = -sign;
        if (r.status !== 200) {
          failures.push(`push ${r.status} ${JSON.stringify(r.error ?? r.dropped ?? '').slice(0, 120)}`);
          await sleep(100);
          continue;
        }
        const got = await Promise.race([arrived, sleep(2000).then(() => null)]);
        if (got === null) failures.push('no materials packet within 2 s');
        else {
          latencies.push(got.at - sent);
          serverShare.push(got.stamp - sentWall);
        }
        await sleep(100);
      }
      w.onMaterials = null;
    }),
  );

  // Memory: the actors' own reports (every 5 s), then the processes'.
  await sleep(6000);
  const metric = await scrape(edge);
  const active = metric('edgerooms_crafting_active_sessions');
  const part = (p) => metric('edgerooms_crafting_state_bytes', { part: p });
  const perSession = (x) => (active ? round(x / active, 0) : null);
  const result = {
    sessions: sessions.length,
    running: sessions.filter((s) => s.status === 'running').length,
    watchers: watchers.length,
    bandwidth: {
      seconds: round(elapsedS, 1),
      wsBytesPerSecondPerSession: round(wsBytesPerSecond, 0),
      wsPacketsPerSecondPerSession: round(wsPacketsPerSecond, 1),
      meanDeltaPacketBytes: mean(deltas),
      meanKeyframePacketBytes: mean(keys),
      deltaToKeyframeRatio: mean(deltas) && mean(keys) ? round(mean(deltas) / mean(keys), 2) : null,
      httpDeltaBytesPerSecondAt20Hz: round(httpDelta.bytesPerExchange * 20, 0),
      httpFullStateBytesPerSecondAt20Hz: round(httpFull.bytesPerExchange * 20, 0),
      httpDeltaToFullRatio: round(httpDelta.bytesPerExchange / httpFull.bytesPerExchange, 2),
      httpAchievedHz: { delta: round(httpDelta.achievedHz, 1), full: round(httpFull.achievedHz, 1) },
      deltaBodyBytes: deltas.length ? round(mean(deltas) - 40, 1) : null,
      keyframeBodyBytes: keys.length ? round(mean(keys) - 40, 1) : null,
    },
    delivery: {
      ...summarize(latencies),
      server: summarize(serverShare),
      failures: failures.length,
      firstFailures: failures.slice(0, 3),
    },
    memory: {
      activeSessionsReported: active,
      stateBytesPerSession: {
        session: perSession(part('session')),
        sync: perSession(part('sync')),
        connections: perSession(part('connections')),
        total: perSession(part('session') + part('sync') + part('connections')),
      },
      sqliteBytesPerSession: perSession(metric('edgerooms_crafting_storage_bytes')),
      rssGrowthPerSessionKiB: round((rssActive - rssBefore) / sessions.length, 1),
    },
  };
  for (const w of watchers) w.ws.close();
  await waitFor(() => watchers.every((w) => w.ws.readyState === WebSocket.CLOSED), 3000);
  if (craftingSessions > 0) result.concurrent = await holdSessions(edge, craftingSessions);
  return result;
}
