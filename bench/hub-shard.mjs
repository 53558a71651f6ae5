#!/usr/bin/env node
// `npm run bench:hub -- <base>`: what one Socket.IO hub shard holds, measured with the real socket.io-client against
// a Worker started with HUB_SHARDS=1 (`npm run dev -- --port P --var HUB_SHARDS:1`). Prints, as JSON:
//  - sockets: WebSocket clients connected (CONNECT with a token, `connected` received) and how long that took;
//  - acceptedPerSec: class C direct messages one sender gets acknowledged per second (logged before the ack);
//  - fanout: room messages sent and deliveries per second to every member of one room;
//  - recovery: dropped sockets reconnecting with `recovered === true` (reconnectMs) and their missed messages
//    delivered (allMs), median of several trials.
// Tokens are signed with the local .dev.vars secret (the shard only verifies them).
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';

const base = process.argv[2] ?? 'http://127.0.0.1:8833';
const SOCKETS = Number(process.env.HUB_BENCH_SOCKETS ?? 500);
const MESSAGES = Number(process.env.HUB_BENCH_MESSAGES ?? 2000);
const ROOM_MESSAGES = Number(process.env.HUB_BENCH_ROOM_MESSAGES ?? 40);
const ROOM_MEMBERS = Number(process.env.HUB_BENCH_ROOM_MEMBERS ?? 200);
const RECOVERY_TRIALS = Number(process.env.HUB_BENCH_RECOVERY_TRIALS ?? 5);
const RECOVERY_MISSED = Number(process.env.HUB_BENCH_RECOVERY_MISSED ?? 20);
const SECRET = new TextEncoder().encode('dev-only-secret-change-me-0123456789abcdef0123456789abcdef');
const tenant = `bench-${Date.now().toString(36)}`;
// Fresh user ids each run: a user's message budget (the seed's 100 a minute) outlives a run.
const FIRST_USER = 1_000_000 + (Date.now() % 1_000) * 10_000;

const token = (userId) =>
  new SignJWT({ userId, tenantId: tenant, role: 'player', username: `bench${userId}` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer('edgerooms')
    .setAudience('edgerooms')
    .setIssuedAt()
    .setExpirationTime('15m') // the longest access token the service accepts
    .setJti(`bench-${userId}-${Math.random().toString(36).slice(2)}`)
    .sign(SECRET);

async function connect(userId) {
  // Each virtual client has its own address, as on the edge (a handshake counts against the per-IP limit).
  const n = (Number(userId) - FIRST_USER) % 60_000;
  const socket = io(base, {
    auth: { token: await token(userId) },
    transports: ['websocket'],
    reconnection: false,
    extraHeaders: { 'CF-Connecting-IP': `10.77.${n >> 8}.${n & 255}` },
  });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`socket ${userId} did not connect`)), 30_000);
    socket.once('connected', () => {
      clearTimeout(t);
      resolve();
    });
    socket.once('connect_error', (e) => reject(e));
  });
  return socket;
}

const ack = (socket, event, data) => new Promise((resolve) => socket.emit(event, data, resolve));

async function main() {
  const t0 = Date.now();
  const sockets = [];
  for (let i = 0; i < SOCKETS; i += 25) {
    sockets.push(
      ...(await Promise.all(Array.from({ length: Math.min(25, SOCKETS - i) }, (_, k) => connect(String(FIRST_USER + i + k))))),
    );
  }
  const connectMs = Date.now() - t0;
  // Sockets the shard drops before the recovery trials, by reason (reconnection is off, so they stay down).
  const dropped = {};
  let recoveryPhase = false;
  for (const s of sockets)
    s.on('disconnect', (reason) => {
      if (!recoveryPhase) dropped[reason] = (dropped[reason] ?? 0) + 1;
    });
  console.error(`connected ${sockets.length} in ${connectMs} ms`);

  // Accepted messages per second: one sender, direct messages to one receiver, 50 in flight.
  const [sender, receiver] = sockets;
  let received = 0;
  receiver.on('message', (m) => m.type === 'bench' && received++);
  const t1 = Date.now();
  // All in flight at once, 50 from each sender (the per-connection limit is the seed's 100 a minute).
  await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) => {
      const batch = Math.floor(i / 50);
      const from = batch === 0 ? sender : sockets[2 + ((batch - 1) % (sockets.length - 2))];
      return ack(from, 'message', {
        type: 'bench',
        interactionClass: process.env.HUB_BENCH_CLASS ?? 'CLASS_C',
        recipientId: String(FIRST_USER + 1),
        payload: i,
      });
    }),
  );
  console.error('accepted phase done');
  const acceptedPerSec = Math.round(MESSAGES / ((Date.now() - t1) / 1000));

  // Fan-out: ROOM_MEMBERS sockets join one room (each first join sends presence to the members already there, so
  // filling a room of n costs n²/2 deliveries); messages to it reach all members.
  const members = sockets.slice(0, Math.min(ROOM_MEMBERS, sockets.length));
  for (let i = 0; i < members.length; i += 25)
    await Promise.all(members.slice(i, i + 25).map((s) => ack(s, 'join_room', { roomId: 'bench' })));
  let deliveries = 0;
  for (const s of members) s.on('message', (m) => m.roomId === 'bench' && deliveries++);
  const expected = ROOM_MESSAGES * (members.length - 1);
  const t2 = Date.now();
  // All at once, each from another member (the per-connection limit is the seed's 100 a minute).
  await Promise.all(
    Array.from({ length: ROOM_MESSAGES }, (_, i) =>
      ack(members[i % members.length], 'message', { type: 'bench.room', roomId: 'bench', payload: i }),
    ),
  );
  while (deliveries < expected && Date.now() - t2 < 120_000) await new Promise((r) => setTimeout(r, 20));
  const fanoutMs = Date.now() - t2;
  console.error(`fanout ${deliveries}/${expected}`);

  // Recovery, RECOVERY_TRIALS times: a socket's transport drops, it misses RECOVERY_MISSED direct messages (acked
  // while it is away), it reconnects; reconnectMs is connect() to `connect` with `recovered === true`, allMs to the
  // last missed message delivered. Each trial has its own victim and sender (the seed's 100 a minute each).
  const trials = [];
  recoveryPhase = true;
  for (let trial = 0; trial < RECOVERY_TRIALS; trial++) {
    const index = sockets.length - 1 - trial;
    const victim = sockets[index];
    const other = sockets[1 + trial];
    const down = new Promise((r) => victim.once('disconnect', r));
    victim.io.engine.close();
    await down;
    const victimId = String(FIRST_USER + index);
    for (let i = 0; i < RECOVERY_MISSED; i++)
      await ack(other, 'message', { type: 'bench.missed', recipientId: victimId, payload: `${trial}-${i}` });
    let missed = 0;
    victim.on('message', (m) => m.type === 'bench.missed' && String(m.payload).startsWith(`${trial}-`) && missed++);
    const t3 = Date.now();
    victim.connect();
    await new Promise((r) => victim.once('connect', r));
    const reconnectMs = Date.now() - t3;
    while (missed < RECOVERY_MISSED && Date.now() - t3 < 10_000) await new Promise((r) => setTimeout(r, 2));
    trials.push({ recovered: victim.recovered, missedDelivered: missed, reconnectMs, allMs: Date.now() - t3 });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  console.log(
    JSON.stringify(
      {
        sockets: sockets.length,
        connectMs,
        dropped,
        acceptedPerSec,
        receivedLive: received,
        fanout: {
          members: members.length,
          messages: ROOM_MESSAGES,
          deliveries,
          expected,
          ms: fanoutMs,
          deliveriesPerSec: Math.round(deliveries / (fanoutMs / 1000)),
        },
        recovery: {
          missedPerTrial: RECOVERY_MISSED,
          allRecovered: trials.every((t) => t.recovered === true && t.missedDelivered === RECOVERY_MISSED),
          medianReconnectMs: median(trials.map((t) => t.reconnectMs)),
          medianAllMs: median(trials.map((t) => t.allMs)),
          trials,
        },
      },
      null,
      2,
    ),
  );
  for (const s of sockets) s.disconnect();
  process.exit(0);
}

await main();
