#!/usr/bin/env node
// `npm run bench:hub -- <base>`: what one Socket.IO hub shard holds, measured with the real socket.io-client against
// a Worker started with HUB_SHARDS=1 (`npm run dev -- --port P --var HUB_SHARDS:1`). Prints, as JSON:
//  - sockets: WebSocket clients connected (CONNECT with a token, `connected` received) and how long that took;
//  - acceptedPerSec: class C direct messages one sender gets acknowledged per second (logged before the ack);
//  - fanout: room messages sent and deliveries per second to every member of one room;
//  - recoveryMs: a dropped socket reconnecting with `recovered === true` and its missed messages.
// Tokens are signed with the local .dev.vars secret (the shard only verifies them).
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';

const base = process.argv[2] ?? 'http://127.0.0.1:8833';
const SOCKETS = Number(process.env.HUB_BENCH_SOCKETS ?? 500);
const MESSAGES = Number(process.env.HUB_BENCH_MESSAGES ?? 2000);
const ROOM_MESSAGES = Number(process.env.HUB_BENCH_ROOM_MESSAGES ?? 40);
const SECRET = new TextEncoder().encode('dev-only-secret-change-me-0123456789abcdef0123456789abcdef');
const tenant = `bench-${Date.now().toString(36)}`;

const token = (userId) =>
  new SignJWT({ userId, tenantId: tenant, role: 'player', username: `bench${userId}` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer('edgerooms')
    .setAudience('edgerooms')
    .setIssuedAt()
    .setExpirationTime('30m')
    .setJti(`bench-${userId}-${Math.random().toString(36).slice(2)}`)
    .sign(SECRET);

async function connect(userId) {
  const socket = io(base, { auth: { token: await token(userId) }, transports: ['websocket'], reconnection: false });
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
      ...(await Promise.all(Array.from({ length: Math.min(25, SOCKETS - i) }, (_, k) => connect(String(1_000_000 + i + k))))),
    );
  }
  const connectMs = Date.now() - t0;
  console.error(`connected ${sockets.length} in ${connectMs} ms`);

  // Accepted messages per second: one sender, direct messages to one receiver, 50 in flight.
  const [sender, receiver] = sockets;
  let received = 0;
  receiver.on('message', () => received++);
  const t1 = Date.now();
  // All in flight at once, 50 from each sender (the per-connection limit is the seed's 100 a minute).
  await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) => {
      const batch = Math.floor(i / 50);
      const from = batch === 0 ? sender : sockets[2 + ((batch - 1) % (sockets.length - 2))];
      return ack(from, 'message', {
        type: 'bench',
        interactionClass: process.env.HUB_BENCH_CLASS ?? 'CLASS_C',
        recipientId: '1000001',
        payload: i,
      });
    }),
  );
  console.error('accepted phase done');
  const acceptedPerSec = Math.round(MESSAGES / ((Date.now() - t1) / 1000));

  // Fan-out: every socket joins one room; messages to it reach all members.
  await Promise.all(sockets.map((s) => ack(s, 'join_room', { roomId: 'bench' })));
  let deliveries = 0;
  for (const s of sockets) s.on('message', (m) => m.roomId === 'bench' && deliveries++);
  const expected = ROOM_MESSAGES * (sockets.length - 1);
  const t2 = Date.now();
  // All at once, each from another member (the per-connection limit is the seed's 100 a minute).
  await Promise.all(
    Array.from({ length: ROOM_MESSAGES }, (_, i) =>
      ack(sockets[i % sockets.length], 'message', { type: 'bench.room', roomId: 'bench', payload: i }),
    ),
  );
  while (deliveries < expected && Date.now() - t2 < 120_000) await new Promise((r) => setTimeout(r, 20));
  const fanoutMs = Date.now() - t2;
  console.error(`fanout ${deliveries}/${expected}`);

  // Recovery: one socket drops, misses 5 messages, reconnects.
  const victim = sockets[sockets.length - 1];
  const other = sockets[0];
  const down = new Promise((r) => victim.once('disconnect', r));
  victim.io.engine.close();
  await down;
  const victimId = String(1_000_000 + sockets.length - 1);
  for (let i = 0; i < 5; i++) await ack(other, 'message', { type: 'bench.missed', recipientId: victimId, payload: i });
  const t3 = Date.now();
  let missed = 0;
  victim.on('message', (m) => m.type === 'bench.missed' && missed++);
  victim.connect();
  await new Promise((r) => victim.once('connect', r));
  while (missed < 5 && Date.now() - t3 < 10_000) await new Promise((r) => setTimeout(r, 5));
  const recoveryMs = Date.now() - t3;

  console.log(
    JSON.stringify(
      {
        sockets: sockets.length,
        connectMs,
        acceptedPerSec,
        receivedLive: received,
        fanout: {
          members: sockets.length,
          messages: ROOM_MESSAGES,
          deliveries,
          expected,
          ms: fanoutMs,
          deliveriesPerSec: Math.round(deliveries / (fanoutMs / 1000)),
        },
        recovery: { recovered: victim.recovered, missedDelivered: missed, ms: recoveryMs },
      },
      null,
      2,
    ),
  );
  for (const s of sockets) s.disconnect();
  process.exit(0);
}

await main();
