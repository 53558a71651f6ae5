import type { RateDecision, RateRule } from './limiter';

const MINUTE = 60_000;

/** Who a limit counts: the caller's IP, or the authenticated user (per tenant). */
export type LimitScope = 'ip' | 'user' | 'tenant';

export interface LimitConfig extends RateRule {
  /** The rule's id: names its stored state and appears as `details.scope` in a 429. */
  id: string;
}

/**
 * Seed 000's rate limits ("Rate Limiting" and the per-endpoint notes). A new per-route limit is a line here
 * plus `rateLimitBy('NAME', 'user')` on the route. WebSocket message limits (1000/min per connection) are
 * counted per user by each realtime actor with the same sliding window (`core/budgets.ts`), not here.
 */
export const LIMITS = {
  /** Every request, per IP: DoS protection. */
  GLOBAL: { id: 'global', limit: 1000, windowMs: MINUTE },
  /** register, login, refresh, logout, per IP. */
  AUTH: { id: 'auth', limit: 5, windowMs: MINUTE },
  /** Every authenticated route, per user. */
  USER: { id: 'user', limit: 500, windowMs: MINUTE },
  ZONE_CREATE: { id: 'zone_create', limit: 10, windowMs: MINUTE },
  STRUCTURE_PLACE: { id: 'structure_place', limit: 20, windowMs: MINUTE },
  CHUNK_REQUEST: { id: 'chunk_request', limit: 100, windowMs: MINUTE },
  /** Seed 002's health-check limit: `POST /health/batch` and `GET /health/ws` handshakes, per IP. */
  HEALTH: { id: 'health', limit: 60, windowMs: MINUTE },
  /** Seed 003: polling endpoint, 60/min per user. */
  EVENTS_POLL: { id: 'events_poll', limit: 60, windowMs: MINUTE },
  /** Seed 003: reconciliation endpoint, 10/min per user. */
  RECONCILE: { id: 'reconcile', limit: 10, windowMs: MINUTE },
  /** Seed 003: event publishing, 1,000 events a second per tenant (a batch costs its size). */
  EVENT_PUBLISH: { id: 'event_publish', limit: 1000, windowMs: 1000 },
} as const satisfies Record<string, LimitConfig>;

export type LimitName = keyof typeof LIMITS;

/** Whole seconds to wait, at least 1 (a `Retry-After: 0` invites an immediate retry that would fail). */
export const retryAfterSeconds = (d: RateDecision): number => Math.max(1, Math.ceil(d.retryAfterMs / 1000));
