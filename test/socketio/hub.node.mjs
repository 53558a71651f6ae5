// Seed 003's Socket.IO hub with the real socket.io-client v4 in Node, against `npm run dev` (scripts/socketio-test.mjs).
// Each test gets { base, log, shared }; sockets opened through `open()` are closed after the test.
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const WAIT_MS = 8_000;
const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef0123456789abcdef';
const PASSWORD = 'SecurePass123!';

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  expected ${e}\n  actual   ${a}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randomIp = () => `198.19.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
const unique = (p) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

/** A registered user of `tenant` with a real access token. */
async function register(base, tenant) {
  const username = unique('hub').replaceAll('-', '_');
  const res = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': randomIp() },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD, tenant_id: tenant }),
  });
  const body = await res.json();
  assert(res.status === 201, `register: ${res.status} ${JSON.stringify(body)}`);
  return { token: body.access_token, userId: String(body.user_id), username, tenant };
}

/** Collects every event a socket receives, for waits on what already arrived. */
function record(socket) {
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, args }));
  return socket;
}

function waitFor(socket, event, predicate = () => true, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const seen = socket.received?.find((r) => r.event === event && predicate(...r.args));
    if (seen) return resolve(seen.args);
    const timer = setTimeout(() => {
      socket.offAny(handler);
      reject(new Error(`timed out waiting for "${event}" on ${socket.id ?? 'socket'}`));
    }, ms);
    const handler = (name, ...args) => {
      if (name !== event || !predicate(...args)) return;
      clearTimeout(timer);
      socket.offAny(handler);
      resolve(args);
    };
    socket.onAny(handler);
  });
}

function waitConnectError(socket, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for connect_error')), ms);
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      reject(new Error('connected, expected connect_error'));
    });
  });
}

/** Nothing of `event` (matching) arrives within `ms`. */
async function expectNone(socket, event, predicate = () => true, ms = 600) {
  await sleep(ms);
  const got = socket.received.filter((r) => r.event === event && predicate(...r.args));
  assert(got.length === 0, `unexpected "${event}": ${JSON.stringify(got.map((g) => g.args))}`);
}

function makeOpen(shared, base) {
  const sockets = [];
  shared.cleanup = async () => {
    for (const s of sockets.splice(0)) s.disconnect();
  };
  return async (user, options = {}) => {
    const socket = record(
      io(base, {
        auth: { token: user.token },
        query: options.clientId ? { clientId: options.clientId } : {},
        transports: options.transports ?? ['websocket'],
        reconnectionDelay: 100,
        reconnectionDelayMax: 200,
        ...options.extra,
      }),
    );
    sockets.push(socket);
    if (options.expectError) return socket;
    const [connected] = await waitFor(socket, 'connected');
    socket.connectedEvent = connected;
    return socket;
  };
}

const shardOf = (socket) => Number(socket.io.engine.id.split('.')[0]);

/** Sockets for users until they sit on at least `minShards` shards. */
async function spread(open, users, minShards, perUser = 1) {
  const sockets = [];
  for (let round = 0; round < 12; round++) {
    for (const u of users) for (let i = 0; i < perUser; i++) sockets.push({ user: u, socket: await open(u) });
    if (new Set(sockets.map((s) => shardOf(s.socket))).size >= minShards) return sockets;
  }
  throw new Error('sessions never spread over the shards');
}

const ackOf = (socket, event, data) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), WAIT_MS);
    socket.emit(event, data, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });

export const tests = [
  {
    name: 'WebSocket only: connected event, clientId kept, ping → pong',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const a = await register(base, unique('t'));
      const s = await open(a, { clientId: 'client-123' });
      assertEqual(s.io.engine.transport.name, 'websocket', 'transport');
      const c = s.connectedEvent;
      assert(typeof c.connectionId === 'string' && c.connectionId === s.id, 'connectionId is the socket id');
      assertEqual(c.clientId, 'client-123', 'clientId kept');
      assert(!Number.isNaN(Date.parse(c.serverTime)), 'serverTime is ISO');
      assertEqual(c.interactionClasses, ['CLASS_A', 'CLASS_B', 'CLASS_C', 'CLASS_D'], 'classes');
      s.emit('ping');
      await waitFor(s, 'pong');
      const generated = await open(a);
      assert(/^client-/.test(generated.connectedEvent.clientId), 'clientId generated when absent');
    },
  },
  {
    name: 'polling only: a direct message and its acks',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sa = await open(a, { transports: ['polling'] });
      const sb = await open(b, { transports: ['polling'] });
      assertEqual(sa.io.engine.transport.name, 'polling', 'transport');
      const answer = await ackOf(sa, 'message', { type: 'chat.message', recipientId: b.userId, payload: { text: 'hi' } });
      assert(typeof answer.messageId === 'string', 'ack callback has messageId');
      const [ack] = await waitFor(sa, 'message_ack');
      assertEqual(ack.messageId, answer.messageId, 'message_ack event too');
      const [msg] = await waitFor(sb, 'message');
      assertEqual(
        { ...msg, timestamp: undefined },
        {
          messageId: answer.messageId,
          type: 'chat.message',
          interactionClass: 'CLASS_C',
          tenantId: tenant,
          senderId: a.userId,
          recipientId: b.userId,
          payload: { text: 'hi' },
          timestamp: undefined,
        },
        'the seed message object',
      );
      assert(!Number.isNaN(Date.parse(msg.timestamp)), 'timestamp');
    },
  },
  {
    name: 'polling then upgrade to WebSocket, messages on both sides of it',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sb = await open(b);
      const sa = await open(a, { transports: ['polling', 'websocket'] });
      await new Promise((resolve, reject) => {
        if (sa.io.engine.transport.name === 'websocket') return resolve();
        const t = setTimeout(() => reject(new Error('no upgrade')), WAIT_MS);
        sa.io.engine.once('upgrade', () => {
          clearTimeout(t);
          resolve();
        });
      });
      assertEqual(sa.io.engine.transport.name, 'websocket', 'upgraded');
      sa.emit('message', { type: 'after.upgrade', recipientId: b.userId, payload: 1 });
      await waitFor(sb, 'message', (m) => m.type === 'after.upgrade');
      sb.emit('message', { type: 'to.upgraded', recipientId: a.userId, payload: 2 });
      await waitFor(sa, 'message', (m) => m.type === 'to.upgraded');
    },
  },
  {
    name: 'auth: missing, malformed, badly signed, expired and revoked tokens get connect_error AUTH_FAILED; another namespace is invalid',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const a = await register(base, unique('t'));
      const key = new TextEncoder().encode(DEV_SECRET);
      const claims = { userId: a.userId, tenantId: a.tenant, role: 'player', username: a.username };
      const sign = (k, exp) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(a.userId)
          .setIssuer('edgerooms')
          .setAudience('edgerooms')
          .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
          .setExpirationTime(exp)
          .setJti(unique('jti'))
          .sign(k);
      const cases = [
        ['missing', undefined],
        ['malformed', 'not-a-jwt'],
        ['bad signature', await sign(new TextEncoder().encode('another-secret-0123456789abcdef0123456789'), '10m')],
        ['expired', await sign(key, Math.floor(Date.now() / 1000) - 60)],
      ];
      for (const [what, token] of cases) {
        const s = await open({ token }, { expectError: true, extra: { reconnection: false } });
        const err = await waitConnectError(s);
        assertEqual(err.data?.code, 'AUTH_FAILED', `${what}: err.data.code`);
        assert(typeof err.message === 'string' && err.message.length > 0, `${what}: message`);
      }
      const good = await open(a);
      assert(good.connected, 'a valid token connects');
      // Only the main namespace is served: another gets the protocol's "Invalid namespace".
      const other = io(`${base}/admin`, {
        auth: { token: a.token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      const nspErr = await waitConnectError(other).finally(() => other.disconnect());
      assertEqual(nspErr.message, 'Invalid namespace', 'another namespace');
      const logout = await fetch(`${base}/api/auth/logout`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${a.token}`, 'CF-Connecting-IP': randomIp(), 'Content-Type': 'application/json' },
        body: '{}',
      });
      assert(logout.status < 300, `logout ${logout.status}`);
      const revoked = await open(a, { expectError: true, extra: { reconnection: false } });
      const err = await waitConnectError(revoked);
      assertEqual(err.data?.code, 'AUTH_FAILED', 'revoked: code');
      assert(/revoked/.test(err.message), `revoked: message says so (${err.message})`);
    },
  },
  {
    name: 'rooms across shards: join, broadcast to every member on every shard, leave',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const users = [await register(base, tenant), await register(base, tenant), await register(base, tenant)];
      const all = await spread(open, users, Math.min(shared.shards, 3));
      const roomId = unique('room');
      for (const { socket } of all) {
        const answer = await ackOf(socket, 'join_room', { roomId });
        assertEqual(answer, { roomId }, 'join ack');
        await waitFor(socket, 'room_joined', (d) => d.roomId === roomId);
      }
      const sender = all[0].socket;
      sender.emit('message', { type: 'room.chat', roomId, payload: { text: 'to all' } });
      for (const { socket } of all.slice(1))
        await waitFor(socket, 'message', (m) => m.roomId === roomId && m.type === 'room.chat');
      await expectNone(sender, 'message', (m) => m.type === 'room.chat', 300);
      const leaver = all[1].socket;
      leaver.emit('leave_room', { roomId });
      await waitFor(leaver, 'room_left', (d) => d.roomId === roomId);
      sender.emit('message', { type: 'room.after-leave', roomId, payload: {} });
      await waitFor(all[2].socket, 'message', (m) => m.type === 'room.after-leave');
      await expectNone(leaver, 'message', (m) => m.type === 'room.after-leave', 300);
      // Not a member: refused.
      const outsider = await open(users[0]);
      outsider.emit('message', { type: 'x', roomId: unique('other'), payload: 1 });
      const [err] = await waitFor(outsider, 'error');
      assertEqual(err.code, 'AUTHZ_FAILED', 'sending to a room not joined');
    },
  },
  {
    name: 'direct messages reach every tab of the recipient on every shard; never another tenant',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const other = await register(base, unique('t2'));
      const tabs = (await spread(open, [b], Math.min(shared.shards, 2))).map((x) => x.socket);
      const sa = await open(a);
      const so = await open(other);
      sa.emit('message', { type: 'dm', recipientId: b.userId, payload: 'hello' });
      for (const t of tabs) await waitFor(t, 'message', (m) => m.type === 'dm' && m.senderId === a.userId);
      // Another tenant names b's user id: nothing reaches b; the same room name in two tenants does not mix.
      so.emit('message', { type: 'cross', recipientId: b.userId, payload: 'x' });
      await waitFor(so, 'message_ack');
      const roomId = unique('shared-name');
      await ackOf(sa, 'join_room', { roomId });
      await ackOf(so, 'join_room', { roomId });
      so.emit('message', { type: 'cross-room', roomId, payload: 'x' });
      await waitFor(so, 'message_ack');
      await expectNone(sa, 'message', (m) => m.type === 'cross-room');
      for (const t of tabs) await expectNone(t, 'message', (m) => m.type === 'cross', 50);
    },
  },
  {
    name: 'presence: first join and last leave, one update per change, not one per tab',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const roomId = unique('room');
      const sb = await open(b);
      await ackOf(sb, 'join_room', { roomId });
      const a1 = await open(a);
      const a2 = await open(a);
      await ackOf(a1, 'join_room', { roomId });
      const [online] = await waitFor(sb, 'presence_update', (p) => p.userId === a.userId && p.status === 'online');
      assertEqual(online.roomId, roomId, 'presence names the room');
      await ackOf(a2, 'join_room', { roomId });
      await expectNone(sb, 'presence_update', (p) => p.userId === a.userId && p !== online && p.status === 'online', 400);
      a1.emit('presence_update', { status: 'away', metadata: { statusMessage: 'In a meeting' } });
      a2.emit('presence_update', { status: 'away', metadata: { statusMessage: 'In a meeting' } });
      const [away] = await waitFor(sb, 'presence_update', (p) => p.status === 'away');
      assertEqual(away.metadata, { statusMessage: 'In a meeting' }, 'metadata');
      await expectNone(sb, 'presence_update', (p) => p.status === 'away' && p !== away, 400);
      assert(
        sb.received.filter((r) => r.event === 'presence_update' && r.args[0].status === 'away').length === 1,
        'one per change',
      );
      a1.emit('leave_room', { roomId });
      await waitFor(a1, 'room_left');
      await expectNone(sb, 'presence_update', (p) => p.status === 'offline', 300);
      a2.disconnect();
      await waitFor(sb, 'presence_update', (p) => p.userId === a.userId && p.status === 'offline');
      a1.emit('presence_update', { status: 'bogus' });
      const [err] = await waitFor(a1, 'error');
      assertEqual(err.code, 'INVALID_REQUEST', 'bad status');
    },
  },
  {
    name: 'interaction classes: A live without ack, C acked, D refused naming the REST path, bad input refused',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sa = await open(a);
      const sb = await open(b);
      sa.emit('message', { type: 'typing', interactionClass: 'CLASS_A', recipientId: b.userId, payload: {} });
      const [m] = await waitFor(sb, 'message', (x) => x.type === 'typing');
      assertEqual(m.interactionClass, 'CLASS_A', 'class A delivered');
      await expectNone(sa, 'message_ack', () => true, 300);
      const c = await ackOf(sa, 'message', { type: 'chat', interactionClass: 'CLASS_C', recipientId: b.userId, payload: {} });
      assert(typeof c.messageId === 'string', 'class C acked');
      const d = await ackOf(sa, 'message', { type: 'pay', interactionClass: 'CLASS_D', recipientId: b.userId, payload: {} });
      assertEqual(d.code, 'INVALID_REQUEST', 'class D refused');
      assert(d.error.includes('/api/reconciliation/reconcile'), 'names the REST path');
      await expectNone(sb, 'message', (x) => x.type === 'pay', 300);
      for (const bad of [{}, { type: 'x', payload: 1 }, { type: 'x', roomId: 'r', recipientId: b.userId, payload: 1 }, 'str']) {
        const answer = await ackOf(sa, 'message', bad);
        assertEqual(answer.code, 'INVALID_REQUEST', `bad message ${JSON.stringify(bad)}`);
      }
      const unknown = await ackOf(sa, 'no_such_event', {});
      assertEqual(unknown.code, 'INVALID_REQUEST', 'unknown event');
    },
  },
  {
    name: 'class A coalescing: a burst goes out as its first and latest, in order; another type is not coalesced away',
    async run({ base, shared, log }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sa = await open(a);
      const sb = await open(b);
      const acks = [];
      for (let i = 0; i < 20; i++) {
        sa.emit('message', { type: 'cursor', interactionClass: 'CLASS_A', recipientId: b.userId, payload: i }, (x) =>
          acks.push(x),
        );
      }
      sa.emit('message', { type: 'typing', interactionClass: 'CLASS_A', recipientId: b.userId, payload: 'typing' });
      await waitFor(sb, 'message', (m) => m.type === 'cursor' && m.payload === 19);
      await waitFor(sb, 'message', (m) => m.type === 'typing');
      await sleep(300);
      const got = sb.received.filter((r) => r.event === 'message' && r.args[0].type === 'cursor').map((r) => r.args[0].payload);
      assertEqual(got[0], 0, 'the first goes out at once');
      assertEqual(got[got.length - 1], 19, 'the latest always arrives');
      assert(
        got.every((p, i) => i === 0 || p > got[i - 1]),
        `in order, none twice: ${got}`,
      );
      assert(got.length <= 20, 'never more than was sent');
      assertEqual(acks.length, 20, 'every class A message is acked (fire and forget)');
      assert(
        acks.every((x) => typeof x.messageId === 'string'),
        'acks carry message ids',
      );
      shared.coalesced = `${got.length} of 20 delivered`;
      log(`class A burst of 20: ${got.length} delivered (${got.join(', ')})`);
    },
  },
  {
    name: 'class B: stored in the tenant event bus; an offline recipient reads it in the next poll, others never',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b, c] = [await register(base, tenant), await register(base, tenant), await register(base, tenant)];
      const poll = async (user) => {
        const res = await fetch(`${base}/api/events/poll?limit=100`, {
          headers: { Authorization: `Bearer ${user.token}`, 'X-Tenant-ID': tenant, 'CF-Connecting-IP': randomIp() },
        });
        const body = await res.json();
        assert(res.status === 200, `poll ${res.status} ${JSON.stringify(body)}`);
        return body.events;
      };
      const sa = await open(a);
      // b is offline: the message is only stored.
      const answer = await ackOf(sa, 'message', {
        type: 'invoice.ready',
        interactionClass: 'CLASS_B',
        recipientId: b.userId,
        payload: { invoice: 42 },
      });
      assert(typeof answer.messageId === 'string', `acked: ${JSON.stringify(answer)}`);
      await waitFor(sa, 'message_ack', (x) => x.messageId === answer.messageId);
      const events = await poll(b);
      const stored = events.find((e) => e.eventId === answer.messageId);
      assert(stored, `b's poll has the message: ${JSON.stringify(events)}`);
      assertEqual(stored.eventType, 'message', 'eventType');
      assertEqual(stored.payload.payload, { invoice: 42 }, 'payload is the seed message');
      assertEqual(stored.payload.interactionClass, 'CLASS_B', 'class');
      assert(!(await poll(c)).some((e) => e.eventId === answer.messageId), "c never sees b's direct message");
      // A room message: live to the members online, readable by every member.
      const roomId = unique('room');
      const sc = await open(c);
      await ackOf(sa, 'join_room', { roomId });
      await ackOf(sc, 'join_room', { roomId });
      const roomMsg = await ackOf(sa, 'message', { type: 'notice', interactionClass: 'CLASS_B', roomId, payload: 'all' });
      await waitFor(sc, 'message', (m) => m.messageId === roomMsg.messageId);
      assert(
        (await poll(c)).some((e) => e.eventId === roomMsg.messageId),
        'room member reads it',
      );
      assert(!(await poll(b)).some((e) => e.eventId === roomMsg.messageId), 'non-member does not');
    },
  },
  {
    name: 'binary payloads travel as attachments both ways',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sa = await open(a, { transports: ['polling'] });
      const sb = await open(b);
      sa.emit('message', { type: 'file', recipientId: b.userId, payload: { bytes: Buffer.from([1, 2, 3, 250]) } });
      const [m] = await waitFor(sb, 'message', (x) => x.type === 'file');
      assert(Buffer.isBuffer(m.payload.bytes), 'binary arrives as a Buffer');
      assertEqual([...m.payload.bytes], [1, 2, 3, 250], 'bytes');
      sb.emit('message', { type: 'file-back', recipientId: a.userId, payload: Buffer.from([9, 8]) });
      const [back] = await waitFor(sa, 'message', (x) => x.type === 'file-back');
      assertEqual([...back.payload], [9, 8], 'binary over polling (base64)');
    },
  },
  {
    name: 'rate limit: past 100 messages a minute an error RATE_LIMIT, nothing delivered, the socket stays',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sa = await open(a);
      const sb = await open(b);
      // 150 at once: the first 100 are the burst the limit allows; refusals follow (one more is admitted every
      // 600 ms, so some of the rest pass only if sending takes that long).
      const answers = await Promise.all(
        Array.from({ length: 150 }, (_, i) => ackOf(sa, 'message', { type: 'burst', recipientId: b.userId, payload: i })),
      );
      assert(
        answers.slice(0, 100).every((x) => typeof x.messageId === 'string'),
        'the first 100 are accepted',
      );
      const refused = answers.map((x, i) => (x.code === 'RATE_LIMIT' ? i : -1)).filter((i) => i >= 0);
      assert(refused.length > 0, 'some are refused');
      const [err] = await waitFor(sa, 'error', (e) => e.code === 'RATE_LIMIT');
      assert(err.details.retryAfterMs > 0, 'retryAfterMs');
      const lastAccepted = answers
        .map((x, i) => (x.messageId ? i : -1))
        .filter((i) => i >= 0)
        .pop();
      await waitFor(sb, 'message', (m) => m.type === 'burst' && m.payload === lastAccepted);
      const delivered = sb.received
        .filter((r) => r.event === 'message' && r.args[0].type === 'burst')
        .map((r) => r.args[0].payload);
      assert(
        refused.every((i) => !delivered.includes(i)),
        'nothing refused is delivered',
      );
      sa.emit('ping');
      await waitFor(sa, 'pong');
      assert(sa.connected, 'still connected');
    },
  },
  {
    name: 'rate limit: Engine.IO control packets and the seed ping never count; 100 messages still pass after them',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sb = await open(b);
      // Polling first, then the upgrade (probe, upgrade and noop packets), then 150 noops and 150 seed pings.
      const sa = await open(a, { transports: ['polling', 'websocket'] });
      if (sa.io.engine.transport.name !== 'websocket') await new Promise((resolve) => sa.io.engine.once('upgrade', resolve));
      for (let i = 0; i < 150; i++) sa.io.engine._sendPacket('noop'); // engine.io-client's own sender
      for (let i = 0; i < 150; i++) sa.emit('ping');
      await waitFor(sa, 'pong', () => sa.received.filter((r) => r.event === 'pong').length === 150);
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => ackOf(sa, 'message', { type: 'after-control', recipientId: b.userId, payload: i })),
      );
      assert(
        answers.every((x) => typeof x.messageId === 'string'),
        `all 100 accepted: ${JSON.stringify(answers.find((x) => !x.messageId))}`,
      );
      await waitFor(sb, 'message', (m) => m.type === 'after-control' && m.payload === 99);
      assert(!sa.received.some((r) => r.event === 'error'), 'no error event');
    },
  },
  {
    name: 'maxPayload: a larger WebSocket frame closes 1009, a larger POST gets 413; the shard keeps serving',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const a = await register(base, unique('t'));
      const ws = new WebSocket(`${base.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      const [opened] = await Promise.all([new Promise((resolve) => ws.once('message', (d) => resolve(String(d))))]);
      const { maxPayload } = JSON.parse(opened.slice(1));
      assertEqual(maxPayload, 1_000_000, 'maxPayload in the open packet');
      const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
      ws.send(`4${'x'.repeat(maxPayload)}`);
      assertEqual(await closed, 1009, 'close code');
      const handshake = await (await fetch(`${base}/socket.io/?EIO=4&transport=polling`)).text();
      const { sid } = JSON.parse(handshake.slice(1));
      const big = await fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body: `4${'x'.repeat(maxPayload)}`,
      });
      assertEqual(big.status, 413, 'POST past maxPayload');
      // socket.io-client: an event past maxPayload ends the transport; the client reconnects and carries on.
      const s = await open(a);
      const down = new Promise((resolve) => s.once('disconnect', resolve));
      s.emit('message', { type: 'huge', recipientId: a.userId, payload: 'y'.repeat(maxPayload) });
      assertEqual(await down, 'transport close', 'disconnect reason');
      await waitFor(s, 'connected', (c) => c !== s.connectedEvent);
      s.emit('ping');
      await waitFor(s, 'pong');
    },
  },
  {
    name: 'recovery: a dropped transport reconnects recovered, rooms kept, missed messages once and in order',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const tenant = unique('t');
      const [a, b] = [await register(base, tenant), await register(base, tenant)];
      const sb = await open(b);
      const roomId = unique('room');
      await ackOf(sb, 'join_room', { roomId });
      const outcomes = new Set();
      for (let attempt = 0; attempt < 8 && outcomes.size < 2; attempt++) {
        const sa = await open(a);
        await ackOf(sa, 'join_room', { roomId });
        sb.emit('message', { type: 'before', roomId, payload: attempt });
        await waitFor(sa, 'message', (m) => m.type === 'before' && m.payload === attempt);
        const id = sa.id;
        const shardBefore = shardOf(sa);
        // The transport drops and stays down while messages are sent; then the client reconnects.
        sa.io.reconnection(false);
        const down = new Promise((resolve) => sa.once('disconnect', resolve));
        sa.io.engine.close();
        await down;
        const missed = [];
        for (let i = 0; i < 3; i++) {
          const ackd = await ackOf(sb, 'message', { type: 'missed', roomId, payload: `${attempt}-${i}` });
          missed.push(ackd.messageId);
          const dm = await ackOf(sb, 'message', { type: 'missed-dm', recipientId: a.userId, payload: `${attempt}-${i}` });
          missed.push(dm.messageId);
        }
        const t0 = Date.now();
        const up = new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no reconnect')), WAIT_MS);
          sa.once('connect', () => {
            clearTimeout(t);
            resolve();
          });
        });
        sa.io.reconnection(true);
        sa.connect();
        await up;
        shared.recoveryMs = Date.now() - t0;
        assert(sa.recovered === true, 'socket.recovered');
        assertEqual(sa.id, id, 'same socket id');
        await sleep(300);
        const got = sa.received
          .filter((r) => r.event === 'message' && r.args[0].type.startsWith('missed'))
          .map((r) => r.args[0].messageId);
        const mine = got.filter((x) => missed.includes(x));
        assertEqual(mine, missed, 'every missed message once, in order');
        sb.emit('message', { type: 'after', roomId, payload: attempt });
        await waitFor(sa, 'message', (m) => m.type === 'after' && m.payload === attempt);
        outcomes.add(shardOf(sa) === shardBefore ? 'same shard' : 'other shard');
        sa.disconnect();
      }
      assert(outcomes.has('other shard'), `recovered across shards (${[...outcomes]})`);
    },
  },
  {
    name: 'bad packets get the protocol answer and never take a shard down',
    async run({ base, shared }) {
      const open = makeOpen(shared, base);
      const ws = (path) => new WebSocket(`${base.replace('http', 'ws')}${path}`);
      const closes = (socket) => new Promise((resolve) => socket.on('close', (code) => resolve(code)));
      const firstMessage = (socket) => new Promise((resolve) => socket.once('message', (d) => resolve(String(d))));
      // '2': a client ping, the wrong heartbeat direction in v4 (the reference server ends the session).
      for (const bad of ['2', '4abc', '42{}', '42abc["x"]', 'zzz', '451-["message",{"_placeholder":true,"num":3}]']) {
        const s = ws('/socket.io/?EIO=4&transport=websocket');
        await firstMessage(s);
        s.send(bad);
        if (bad.startsWith('451-')) s.send(Buffer.from([1]));
        await closes(s);
      }
      const r1 = await fetch(`${base}/socket.io/?EIO=3&transport=polling`);
      assertEqual([r1.status, await r1.json()], [400, { code: 5, message: 'Unsupported protocol version' }], 'EIO=3');
      const r2 = await fetch(`${base}/socket.io/?EIO=4&transport=carrier-pigeon`);
      assertEqual([r2.status, (await r2.json()).code], [400, 0], 'unknown transport');
      const r3 = await fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=0.doesnotexist00`);
      assertEqual([r3.status, (await r3.json()).code], [400, 1], 'unknown sid');
      const r4 = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, { method: 'POST', body: '40' });
      assertEqual([r4.status, (await r4.json()).code], [400, 2], 'POST handshake');
      const a = await register(base, unique('t'));
      const s = await open(a);
      assert(s.connected, 'the hub still serves');
    },
  },
];
