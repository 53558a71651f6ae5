import type { RateLimiter } from './actors/rate-limiter';
import type { Room } from './actors/room';

/** Bindings, vars and secrets of the Worker (wrangler.toml, .dev.vars, `wrangler secret put`). */
export interface Env {
  DB: D1Database;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  ROOM: DurableObjectNamespace<Room>;

  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  /** Secrets. */
  JWT_SECRET: string;
  ADMIN_USERNAME?: string;
  ADMIN_PASSWORD?: string;
}
