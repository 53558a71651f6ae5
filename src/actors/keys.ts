import type { Env } from '../env';

/**
 * Every Durable Object's key, and a typed handle per actor kind: the one place that knows how actors are named.
 * Routes and actors reach an actor only through these (`chunkActor(env, tenantId, chunkId).relocate(...)`),
 * never with an inline `getByName`. Every key but the limiters' starts with the tenant, so one tenant's
 * traffic never lands in another's object.
 */

/** A chunk of EarthRing's world: `<tenantId>:<floor>_<chunkIndex>` (seed 000). */
export const chunkKey = (tenantId: string, chunkId: string): string => `${tenantId}:${chunkId}`;

/** A race: `<tenantId>:<raceId>` (seed 000's Racing). */
export const raceKey = (tenantId: string, raceId: number | string): string => `${tenantId}:${raceId}`;

/** Room ids in paths and actor keys. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A tenant's orchestrator channel (seed 004). */
export const orchestratorKey = (tenantId: string): string => `${tenantId}:orchestrator`;

/** A tenant's collaboration room. */
export const collabRoomKey = (tenantId: string, roomId: string): string => `${tenantId}:room:${roomId}`;

/** What a Room actor's key names: a tenant's orchestrator channel, or one of its collaboration rooms. */
export type RoomKind = { kind: 'orchestrator'; tenantId: string } | { kind: 'collab'; tenantId: string; roomId: string };

/** The inverse of `orchestratorKey` / `collabRoomKey`; null for any other name. */
export function parseRoomKey(name: string | undefined): RoomKind | null {
  const parts = (name ?? '').split(':');
  const tenantId = parts[0] ?? '';
  if (parts.length === 2 && parts[1] === 'orchestrator') return { kind: 'orchestrator', tenantId };
  if (parts.length === 3 && parts[1] === 'room' && ROOM_ID_PATTERN.test(parts[2] ?? ''))
    return { kind: 'collab', tenantId, roomId: parts[2] as string };
  return null;
}

/** A tenant's event bus (seed 003): one per tenant, named by the tenant id alone. */
export const eventBusKey = (tenantId: string): string => tenantId;

/** A tenant's reconciled entities (seed 003): one per tenant, named by the tenant id alone. */
export const reconciliationKey = (tenantId: string): string => tenantId;

/** A crafting session (seed 002): `<tenantId>:<sessionId>`. */
export const craftingKey = (tenantId: string, sessionId: string): string => `${tenantId}:${sessionId}`;

/** A player's crafting queue and materials (seed 002): `<tenantId>:<playerId>`. */
export const craftingQueueKey = (tenantId: string, playerId: string): string => `${tenantId}:${playerId}`;

/** Crafting session and player ids in paths and actor keys. */
export const CRAFTING_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The "tenant" `/health` probes the event bus and reconciliation actors with: not a valid tenant id, so no tenant's state is touched. */
export const HEALTH_PROBE_TENANT = '__health__';
/** A Socket.IO hub shard (seed 003): tenant-free, `hub:<n>`; sessions carry the shard in their sid, sockets their tenant. */
export const hubShardKey = (index: number): string => `hub:${index}`;

/** A rate limiter counting one authenticated user of a tenant (REST and the game socket share it). */
export const userLimiterKey = (tenantId: string, userId: string): string => `user:${tenantId}:${userId}`;

/** A rate limiter counting a whole tenant (seed 003's per-tenant publish limit). */
export const tenantLimiterKey = (tenantId: string): string => `tenant:${tenantId}`;

/** A rate limiter counting one client IP. */
export const ipLimiterKey = (ip: string): string => `ip:${ip}`;

/** The limiter object `/health` pings to see that Durable Objects answer. */
export const HEALTH_LIMITER_KEY = 'health';

// ---- typed handles ----------------------------------------------------------------------------------------

export const chunkActor = (env: Env, tenantId: string, chunkId: string) => env.CHUNK.getByName(chunkKey(tenantId, chunkId));

export const raceActor = (env: Env, tenantId: string, raceId: number | string) => env.RACE.getByName(raceKey(tenantId, raceId));

export const orchestratorActor = (env: Env, tenantId: string) => env.ROOM.getByName(orchestratorKey(tenantId));

export const collabRoomActor = (env: Env, tenantId: string, roomId: string) =>
  env.ROOM.getByName(collabRoomKey(tenantId, roomId));

export const eventBusActor = (env: Env, tenantId: string) => env.EVENT_BUS.getByName(eventBusKey(tenantId));

export const reconciliationActor = (env: Env, tenantId: string) => env.RECONCILIATION.getByName(reconciliationKey(tenantId));

export const craftingActor = (env: Env, tenantId: string, sessionId: string) =>
  env.CRAFTING.getByName(craftingKey(tenantId, sessionId));

export const craftingQueueActor = (env: Env, tenantId: string, playerId: string) =>
  env.CRAFTING_QUEUE.getByName(craftingQueueKey(tenantId, playerId));

export const hubActor = (env: Env, index: number) => env.HUB.getByName(hubShardKey(index));

/** `key` is one of `userLimiterKey`, `tenantLimiterKey`, `ipLimiterKey` or `HEALTH_LIMITER_KEY`. */
export const rateLimiterActor = (env: Env, key: string) => env.RATE_LIMITER.getByName(key);
