/**
 * The one rate limiter: GCRA, the exact form of a token bucket. A key's whole state is one number, its
 * theoretical arrival time (TAT), so it can live in a Durable Object's storage for REST limits or in a
 * WebSocket attachment for per-connection limits, and be persisted on every hit at no real cost.
 *
 * A rule of `limit` per `windowMs` admits a burst of `limit` and then one more every `windowMs / limit`,
 * never more than `limit` in any `windowMs` after a full bucket.
 */
export interface RateRule {
  /** Requests admitted per window. */
  limit: number;
  windowMs: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests still admitted right now. */
  remaining: number;
  /** When the bucket is full again, ms since the epoch (the `X-RateLimit-Reset` instant). */
  resetAt: number;
  /** 0 when allowed; else how long until one more request is admitted. */
  retryAfterMs: number;
  /** The state to store for the next call. */
  tat: number;
}

/** Pure: decides one hit of `cost` against `rule` for a key whose stored state is `tat` (undefined = never seen). */
export function rateLimit(tat: number | undefined, rule: RateRule, now: number, cost = 1): RateDecision {
  const interval = rule.windowMs / rule.limit;
  const burst = rule.windowMs; // the bucket holds `limit` intervals
  const base = Math.max(tat ?? now, now);
  const next = base + interval * cost;
  const allowAt = next - burst;
  if (allowAt > now) {
    const current = Math.max(tat ?? now, now);
    return {
      allowed: false,
      limit: rule.limit,
      remaining: Math.max(0, Math.floor((now + burst - current) / interval)),
      resetAt: current,
      retryAfterMs: Math.ceil(allowAt - now),
      tat: tat ?? now,
    };
  }
  return {
    allowed: true,
    limit: rule.limit,
    remaining: Math.max(0, Math.floor((now + burst - next) / interval)),
    resetAt: next,
    retryAfterMs: 0,
    tat: next,
  };
}
