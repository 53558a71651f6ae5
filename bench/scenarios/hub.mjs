// Scenario 8: seed 003's Socket.IO hub raced against a Socket.IO 4 server (issue 15), the same `socket.io-client`
// clients against both, each doing per operation what the hub does (bench/servers/socketio-hub.mjs):
//  - connect: N sockets (distinct users, signed tokens in `auth.token`), 50 handshakes in flight, until each has
//    its `connected` event: sockets/s; then resident memory per idle socket (all server processes, 5 s after);
//  - round trip: `message` (class C, direct to another user) emitted with an ack, emit to ack: one at a time, and
//    at 1,000/s offered on a fixed schedule (open loop); senders rotate so no user passes the 100/min budget;
//  - fan-out: one room of 100, then of 1,000 members; members take turns sending room messages (the payload
//    carries the sender's clock), stepping the rate up; deliveries/s to the other members and p50/p99 latency;
//    a step with over 1% missing or a p99 over 1 s ends the series.
// Not run on the `ws` baseline (no Socket.IO hub there).
import { io } from 'socket.io-client';
import { hubToken } from '../lib/hub-tokens.mjs';
import { makePayload, sentAtOfPayload } from '../lib/payload.mjs';
import { now, pool, poolSettled, round, rssKiB, sleep, summarize, waitFor, withTimeout } from '../lib/util.mjs';

const WAIT_MS = 20_000;
const PER_USER = 80; // messages a user sends in the scenario, under the 100/min budget
let runs = 0;

function memory(target) {
  return target.pids().reduce((a, p) => a + (rssKiB(p.pid) ?? 0), 0);
}

/** Base URL and per-client headers (EdgeRooms' per-IP limit counts handshakes per client address). */
function endpoint(target) {
  if (target.name === 'edgerooms')
    return { base: target.edge.base, headers: () => ({ 'CF-Connecting-IP': target.edge.addresses.next() }) };
  return { base: `http://127.0.0.1:${target.port}`, headers: () => ({}) };
}

export async function connectOne(url, headers, userId, tenant) {
  const socket = io(url, {
    auth: { token: await hubToken(userId, tenant) },
    transports: ['websocket'],
    extraHeaders: headers,
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
  });
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connected', resolve);
      socket.once('connect_error', reject);
    }),
    WAIT_MS,
    'hub connect',
  );
  socket.userId = String(userId);
  return socket;
}

const emitAck = (socket, event, data) =>
  withTimeout(new Promise((resolve) => socket.emit(event, data, resolve)), WAIT_MS, `${event} ack`);

/** Direct messages with acks: `total` at `rate`/s (0: one at a time); senders and recipients from `sockets`. */
async function roundTrips(sockets, { total, rate }) {
  const rtts = [];
  let errors = 0;
  let lost = 0;
  const send = (i) => {
    const from = sockets[Math.floor(i / PER_USER) % sockets.length];
    const to = sockets[(Math.floor(i / PER_USER) + 1) % sockets.length];
    const t0 = now();
    return withTimeout(
      new Promise((resolve) =>
        from.emit('message', { type: 'bench.rtt', recipientId: to.userId, payload: { i } }, (answer) => {
          if (answer?.messageId) rtts.push(now() - t0);
          else errors++;
          resolve();
        }),
      ),
      WAIT_MS,
      'ack',
    ).catch(() => {
      lost++;
    });
  };
  const started = now();
  if (rate === 0) {
    for (let i = 0; i < total; i++) await send(i);
  } else {
    const inflight = [];
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - started) * rate) / 1000) + 1);
      while (sent < due) inflight.push(send(sent++));
      await sleep(1);
    }
    await Promise.all(inflight);
  }
  const elapsed = now() - started;
  return {
    ...summarize(rtts),
    offered: rate || null,
    achieved: rate ? Math.round((total / elapsed) * 1000) : null,
    sent: total,
    errors,
    lost,
  };
}

/** One room of `members`: steps of `rates` room messages/s for `stepMs` each, members taking turns to send. */
async function fanOut(members, roomId, rates, stepMs) {
  let delivered = 0;
  let latencies = [];
  const onMessage = (m) => {
    if (m?.roomId !== roomId) return;
    delivered++;
    if (latencies.length < 200_000) {
      const t = sentAtOfPayload(m.payload);
      if (t !== null) latencies.push(now() - t);
    }
  };
  for (const s of members) s.on('message', onMessage);
  const steps = [];
  let next = 0;
  let iteration = 0;
  try {
    for (const rate of rates) {
      delivered = 0;
      latencies = [];
      let errors = 0;
      const total = Math.round((rate * stepMs) / 1000);
      const acks = [];
      const started = now();
      let sent = 0;
      while (sent < total) {
        const due = Math.min(total, Math.floor(((now() - started) * rate) / 1000) + 1);
        while (sent < due) {
          const from = members[next++ % members.length];
          const body = { type: 'bench.fanout', roomId, payload: makePayload(iteration++, now()) };
          acks.push(
            emitAck(from, 'message', body).then(
              (a) => a?.messageId || errors++,
              () => errors++,
            ),
          );
          sent++;
        }
        await sleep(5);
      }
      const expected = total * (members.length - 1);
      await waitFor(() => delivered >= expected, 5000);
      await Promise.all(acks);
      const elapsed = now() - started;
      const lat = summarize(latencies);
      const missing = expected === 0 ? 0 : 1 - delivered / expected;
      steps.push({
        rate,
        sent: total,
        expected,
        delivered,
        errors,
        deliveredPerSec: Math.round((delivered / Math.max(elapsed, stepMs)) * 1000),
        missingShare: round(missing, 4),
        p50: lat.p50,
        p99: lat.p99,
      });
      if (missing > 0.01 || (lat.p99 ?? 0) > 1000 || errors > 0) break;
    }
  } finally {
    for (const s of members) s.off('message', onMessage);
  }
  const passing = steps.filter((s) => s.missingShare <= 0.01 && (s.p99 ?? 0) <= 1000 && s.errors === 0);
  const best = passing.at(-1) ?? null;
  return { members: members.length, bestDeliveredPerSec: best?.deliveredPerSec ?? 0, bestP99: best?.p99 ?? null, steps };
}

/** Phases start only while the scenario is inside its own budget, so a slow server still reports what it did. */
const BUDGET_MS = 270_000;
let deadline = 0;
const phase = (run) =>
  now() > deadline
    ? Promise.resolve({ error: `not started: the scenario's ${BUDGET_MS / 1000} s budget was spent` })
    : run().catch((err) => ({ error: String(err?.message ?? err).slice(0, 300) }));

/** Every socket joins `roomId` (50 in flight); milliseconds until the last ack. */
export async function joinAll(sockets, roomId) {
  const t0 = now();
  await pool(sockets.length, 50, (i) =>
    withTimeout(
      new Promise((resolve) => sockets[i].emit('join_room', { roomId }, resolve)),
      Math.max(5000, Math.min(120_000, deadline - now())),
      'join_room ack',
    ),
  );
  return Math.round(now() - t0);
}

export async function hub(target, { quick }) {
  if (target.name === 'ws') return { notRun: 'the bare ws baseline has no Socket.IO hub' };
  const { base, headers } = endpoint(target);
  deadline = now() + BUDGET_MS;
  const total = quick ? 400 : 1000;
  const bigRoom = quick ? 400 : 1000;
  // Distinct users per run and target: budgets and presence start fresh.
  const firstUser = 7_000_000 + (Date.now() % 1_000_000) * 10 + runs++ * 2000;
  const tenant = `hubrace-${Date.now().toString(36)}`;
  await sleep(2000);
  const before = memory(target);
  const started = now();
  const results = await poolSettled(total, 50, (i) => connectOne(base, headers(), firstUser + i, tenant));
  const connectMs = now() - started;
  const sockets = results.filter((r) => r.ok).map((r) => r.value);
  const failures = results.filter((r) => !r.ok).map((r) => String(r.error?.message ?? r.error));
  const out = {
    connect: {
      sockets: sockets.length,
      failed: failures.length,
      firstFailure: failures[0] ?? null,
      perSec: Math.round((sockets.length / connectMs) * 1000),
    },
  };
  try {
    await sleep(5000);
    const after = memory(target);
    out.memory = {
      beforeKiB: before,
      afterKiB: after,
      perIdleSocketKiB: sockets.length ? round((after - before) / sockets.length, 1) : null,
    };
    if (sockets.length < total) throw new Error(`only ${sockets.length}/${total} connected: ${failures[0]}`);

    // Round trips first (no room members to announce presence to yet). Each phase that fails is reported as such.
    const idleN = quick ? 100 : 200;
    const loadedN = (quick ? 3 : 5) * 1000;
    out.roundTrip = await phase(async () => ({
      idle: await roundTrips(sockets.slice(-4), { total: idleN, rate: 0 }),
      at1000: await roundTrips(sockets.slice(100, -4), { total: loadedN, rate: 1000 }),
    }));

    // Rooms: the first 100 sockets join `small`, then all join `big`; each join is announced to the room's other
    // members (`presence_update`), so filling a room of n sends n(n-1)/2 announcements: the time is reported.
    out.fanOut100 = await phase(async () => {
      const joinMs = await joinAll(sockets.slice(0, 100), 'small');
      return {
        joinMs,
        ...(await fanOut(sockets.slice(0, 100), 'small', quick ? [20, 100] : [20, 50, 100, 200], quick ? 2000 : 3000)),
      };
    });
    out.fanOut1000 = await phase(async () => {
      const joinMs = await joinAll(sockets.slice(0, bigRoom), 'big');
      return {
        joinMs,
        ...(await fanOut(sockets.slice(0, bigRoom), 'big', quick ? [5, 20] : [5, 10, 20, 40], quick ? 2000 : 3000)),
      };
    });
  } finally {
    for (let i = 0; i < sockets.length; i += 200) {
      for (const s of sockets.slice(i, i + 200)) s.disconnect();
      await sleep(50);
    }
    await sleep(1000);
  }
  return out;
}

/**
 * The profile's load (`npm run bench:profile -- --hub`): `clients` hub sockets in one room; every second `rate`
 * room messages and `rate` direct messages, all acked, for `seconds`. Resolves to what was sent and delivered.
 */
export async function hubLoad(base, headers, { clients, rate, seconds }) {
  deadline = now() + BUDGET_MS;
  const tenant = `hubprof-${Date.now().toString(36)}`;
  const firstUser = 8_000_000 + (Date.now() % 1_000_000) * 10;
  const sockets = await pool(clients, 50, (i) => connectOne(base, headers(), firstUser + i, tenant));
  await joinAll(sockets, 'p');
  let delivered = 0;
  for (const s of sockets) s.on('message', () => delivered++);
  let sent = 0;
  const acks = [];
  const started = now();
  while (now() - started < seconds * 1000) {
    const due = Math.floor(((now() - started) * rate) / 1000) + 1;
    while (sent < due) {
      const from = sockets[sent % sockets.length];
      const to = sockets[(sent + 1) % sockets.length];
      acks.push(emitAck(from, 'message', { type: 'prof.room', roomId: 'p', payload: makePayload(sent, now()) }).catch(() => {}));
      acks.push(emitAck(from, 'message', { type: 'prof.direct', recipientId: to.userId, payload: { i: sent } }).catch(() => {}));
      sent++;
    }
    await sleep(5);
  }
  await Promise.all(acks);
  await sleep(500);
  for (const s of sockets) s.disconnect();
  return { sent: sent * 2, delivered };
}
