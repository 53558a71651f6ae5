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
// The client side uses the project's own client library (src/client/crafting-udp.ts), bundled with esbuild.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { now, round, rssKiB, sleep, summarize, waitFor } from '../lib/util.mjs';

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

export async function crafting(target, { quick, edge }) {
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
              w.onMaterials?.(h.seq);
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
          w.onMaterials = (seq) => seq > before && resolve(now());
        });
        const sent = now();
        const r = await peer.pushMaterials({ wood: sign });
        sign = -sign;
        if (r.status !== 200) {
          failures.push(`push ${r.status} ${JSON.stringify(r.error ?? r.dropped ?? '').slice(0, 120)}`);
          await sleep(100);
          continue;
        }
        const at = await Promise.race([arrived, sleep(2000).then(() => null)]);
        if (at === null) failures.push('no materials packet within 2 s');
        else latencies.push(at - sent);
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
    delivery: { ...summarize(latencies), failures: failures.length, firstFailures: failures.slice(0, 3) },
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
    notMeasured:
      '10,000 concurrent sessions: not attempted here (one registration per 2 sessions at 5/min per IP, and the open-files limit of scenario 3)',
  };
  for (const w of watchers) w.ws.close();
  await waitFor(() => watchers.every((w) => w.ws.readyState === WebSocket.CLOSED), 3000);
  return result;
}
