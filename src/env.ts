import type { Chunk } from './actors/chunk';
import type { Crafting } from './actors/crafting';
import type { CraftingQueue } from './actors/crafting-queue';
import type { EventBus } from './actors/event-bus';
import type { Hub } from './actors/hub';
import type { Race } from './actors/race';
import type { RateLimiter } from './actors/rate-limiter';
import type { Reconciliation } from './actors/reconciliation';
import type { Room } from './actors/room';

/** Bindings, vars and secrets of the Worker (wrangler.toml, .dev.vars, `wrangler secret put`). */
export interface Env {
  DB: D1Database;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  ROOM: DurableObjectNamespace<Room>;
  RACE: DurableObjectNamespace<Race>;
  CHUNK: DurableObjectNamespace<Chunk>;
  CRAFTING: DurableObjectNamespace<Crafting>;
  CRAFTING_QUEUE: DurableObjectNamespace<CraftingQueue>;
  /** Seed 003's event bus: one per tenant, key = tenantId. */
  EVENT_BUS: DurableObjectNamespace<EventBus>;
  /** Seed 003's reconciled entities: one per tenant, key = tenantId. */
  RECONCILIATION: DurableObjectNamespace<Reconciliation>;
  /** Service-wide gauges for /health (key `global`). */
  HUB: DurableObjectNamespace<Hub>;

  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  /** EarthRing's world seed for procedural generation (uint32, seed 000's `WORLD_SEED`); default 12345. */
  WORLD_SEED?: string;
  /** Who may read `GET /metrics` besides service and admin tokens: a static bearer token (secret), unset = none. */
  METRICS_TOKEN?: string;
  /** Roles whose access tokens may read `GET /metrics` (comma-separated); default `service,admin`. */
  METRICS_ROLES?: string;
  /** Origins allowed by CORS, comma-separated, `*` for a port or a subdomain label (src/http/middleware/cors.ts). */
  CORS_ORIGINS?: string;
  /** EarthRing's movement tick in ms (0-1000, default 100; 0 = each move at once): see src/actors/chunk.ts. */
  CHUNK_TICK_MS?: string;
  /** Socket.IO hub shard actors (1-64, default 4): sessions are spread over them. */
  HUB_SHARDS?: string;
  /** Secrets. */
  JWT_SECRET: string;
  ADMIN_USERNAME?: string;
  ADMIN_PASSWORD?: string;
}
