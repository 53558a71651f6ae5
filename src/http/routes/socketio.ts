import { Hono, type MiddlewareHandler } from 'hono';
import { hubActor } from '../../actors/keys';
import { shardCount, shardOfId } from '../../domain/hub';
import type { AppEnv } from '../context';
import { globalRateLimit } from '../middleware/rate-limit';

/** A handshake (no `sid`) counts against the per-IP limit; the requests of an open session do not. */
const handshakeLimit: MiddlewareHandler<AppEnv> = (c, next) =>
  new URL(c.req.url).searchParams.has('sid') ? next() : globalRateLimit(c, next);

/**
 * Seed 003's Socket.IO endpoint, `/socket.io/` (Engine.IO v4 + Socket.IO v5): every request of one Engine.IO
 * session reaches the shard its `sid` names (`<shard>.<random>`); a handshake lands on a random shard.
 * Authentication is the Socket.IO CONNECT's `auth.token`, checked by the shard.
 */
export const socketio = new Hono<AppEnv>().all('/socket.io/*', handshakeLimit, (c) => {
  const sid = new URL(c.req.url).searchParams.get('sid');
  const total = shardCount(c.env.HUB_SHARDS);
  const shard = sid === null ? Math.floor(Math.random() * total) : shardOfId(sid, total);
  if (shard === null) return c.json({ code: 1, message: 'Session ID unknown' }, 400);
  return hubActor(c.env, shard).fetch(c.req.raw);
});
