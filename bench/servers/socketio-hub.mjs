// The Socket.IO baseline's hub mode (scenario 8): what a team would write with Socket.IO 4 to serve seed 003's
// hub, doing per operation what EdgeRooms' hub does: the CONNECT verifies the same HS256 access token (issuer,
// audience, required claims, a revocation lookup) and answers `connected`; every client event spends the user's
// budget (100 a minute, sliding); `join_room` validates, joins, counts the user's sockets in the room and
// announces the first one with `presence_update` to the other members; `message` validates the seed's shape,
// checks membership, builds the seed's message object, delivers it to the room or the user (connection state
// recovery keeps it for a dropped socket, as the hub's log does), sends `message_ack` and acks `{messageId}`.
// Sockets that connect without `auth.token` keep the baseline's other duties (socketio-server.mjs).
import { randomUUID } from 'node:crypto';
import { jwtVerify } from 'jose';
import { z } from 'zod';
import { AUDIENCE, DEV_SECRET, ISSUER } from '../lib/hub-tokens.mjs';

const key = new TextEncoder().encode(DEV_SECRET);
const CLASSES = ['CLASS_A', 'CLASS_B', 'CLASS_C', 'CLASS_D'];
const LIMIT = 100;
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const metadata = z.record(z.string(), z.unknown()).refine((m) => JSON.stringify(m).length <= 4096);
const roomInput = z.object({ roomId: z.string().regex(ID) });
const messageInput = z
  .object({
    type: z.string().min(1).max(128),
    interactionClass: z.enum(CLASSES).optional(),
    recipientId: z.string().regex(ID).optional(),
    roomId: z.string().regex(ID).optional(),
    payload: z.unknown(),
    metadata: metadata.optional(),
  })
  .refine((m) => (m.recipientId === undefined) !== (m.roomId === undefined))
  .refine((m) => m.payload !== undefined);

/** jti → revoked (logout); empty in the bench, read on every CONNECT as the hub reads D1. */
const revoked = new Set();
/** `tenant|user` → send times in the last minute. */
const budgets = new Map();
/** `tenant|user|room` → the user's sockets in the room (`*`: all of them). */
const userRooms = new Map();

class HubError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function spend(userKey, now) {
  let times = budgets.get(userKey);
  if (!times) {
    times = [];
    budgets.set(userKey, times);
  }
  while (times.length > 0 && times[0] <= now - 60_000) times.shift();
  if (times.length >= LIMIT) throw new HubError('RATE_LIMIT', `More than ${LIMIT} messages per minute`);
  times.push(now);
}

function roomCount(d, room, delta) {
  const k = `${d.tenantId}|${d.userId}|${room}`;
  const next = Math.max(0, (userRooms.get(k) ?? 0) + delta);
  if (next === 0) userRooms.delete(k);
  else userRooms.set(k, next);
  return next;
}

const parse = (schema, value, event) => {
  const r = schema.safeParse(value);
  if (!r.success) throw new HubError('INVALID_REQUEST', `Invalid "${event}" payload: ${r.error.issues[0]?.message}`);
  return r.data;
};

export function attachHub(io) {
  const userRoom = (d) => `u:${d.tenantId}:${d.userId}`;
  const roomOf = (d, roomId) => `r:${d.tenantId}:${roomId}`;

  io.use(async (socket, next) => {
    const token = socket.handshake.auth?.token;
    if (token === undefined) return next();
    try {
      const { payload } = await jwtVerify(String(token), key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      });
      if (revoked.has(payload.jti)) throw new Error('Access token has been revoked');
      socket.data.hub = { tenantId: payload.tenantId, userId: payload.sub, username: payload.username, role: payload.role };
      next();
    } catch (err) {
      const e = new Error(err.message);
      e.data = { code: 'AUTH_FAILED' };
      next(e);
    }
  });

  const presence = (socket, roomId, status) =>
    socket.to(roomOf(socket.data.hub, roomId)).except(userRoom(socket.data.hub)).emit('presence_update', {
      userId: socket.data.hub.userId,
      status,
      metadata: {},
      roomId,
      timestamp: new Date().toISOString(),
    });

  io.on('connection', (socket) => {
    const d = socket.data.hub;
    if (!d) return;
    const joined = new Set();
    if (!socket.recovered) socket.join(userRoom(d));
    roomCount(d, '*', 1);
    socket.emit('connected', {
      connectionId: socket.id,
      clientId: `client-${randomUUID().slice(0, 20)}`,
      userId: d.userId,
      serverTime: new Date().toISOString(),
      interactionClasses: CLASSES,
    });

    const handle = (event, fn) =>
      socket.on(event, (raw, ack) => {
        try {
          if (event !== 'ping') spend(`${d.tenantId}|${d.userId}`, Date.now());
          fn(raw, typeof ack === 'function' ? ack : null);
        } catch (err) {
          const payload = { error: err.message, code: err.code ?? 'INTERNAL_ERROR' };
          socket.emit('error', payload);
          if (typeof ack === 'function') ack(payload);
        }
      });

    handle('ping', (_raw, ack) => {
      socket.emit('pong');
      ack?.();
    });
    handle('join_room', (raw, ack) => {
      const { roomId } = parse(roomInput, raw, 'join_room');
      if (!joined.has(roomId)) {
        if (joined.size >= 100) throw new HubError('INVALID_REQUEST', 'A connection may be in at most 100 rooms');
        joined.add(roomId);
        socket.join(roomOf(d, roomId));
        if (roomCount(d, roomId, 1) === 1) presence(socket, roomId, 'online');
      }
      socket.emit('room_joined', { roomId });
      ack?.({ roomId });
    });
    handle('leave_room', (raw, ack) => {
      const { roomId } = parse(roomInput, raw, 'leave_room');
      if (joined.delete(roomId)) {
        socket.leave(roomOf(d, roomId));
        if (roomCount(d, roomId, -1) === 0) presence(socket, roomId, 'offline');
      }
      socket.emit('room_left', { roomId });
      ack?.({ roomId });
    });
    handle('message', (raw, ack) => {
      const input = parse(messageInput, raw, 'message');
      const cls = input.interactionClass ?? 'CLASS_C';
      if (cls === 'CLASS_D') throw new HubError('INVALID_REQUEST', 'Class D is not accepted over realtime');
      if (input.roomId !== undefined && !joined.has(input.roomId))
        throw new HubError('AUTHZ_FAILED', `Join room "${input.roomId}" before sending to it`);
      const message = {
        messageId: randomUUID(),
        type: input.type,
        interactionClass: cls,
        tenantId: d.tenantId,
        senderId: d.userId,
        ...(input.recipientId !== undefined ? { recipientId: input.recipientId } : {}),
        ...(input.roomId !== undefined ? { roomId: input.roomId } : {}),
        payload: input.payload,
        timestamp: new Date().toISOString(),
        ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      };
      const to = input.roomId !== undefined ? roomOf(d, input.roomId) : userRoom({ ...d, userId: input.recipientId });
      socket.to(to).emit('message', message);
      socket.emit('message_ack', { messageId: message.messageId });
      ack?.({ messageId: message.messageId });
    });

    socket.on('disconnect', () => {
      for (const roomId of joined) if (roomCount(d, roomId, -1) === 0) presence(socket, roomId, 'offline');
      roomCount(d, '*', -1);
    });
  });
}
