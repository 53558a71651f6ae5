/**
 * The one rate limiter: GCRA, the exact form of a token bucket. A key's whole state is one number, its
 * theoretical arrival time (TAT), so it can live in a Durable Object's storage for REST limits or in a
 * WebSocket attachment for per-connection limits, and be persisted on every hit at no real cost.
 *
 * A rule of `limit` per `windowMs` admits a burst of `limit` and then one more every `windowMs / limit`: over
 * any span T, at most `limit + T / interval`, so a sustained rate of `limit` per `windowMs`.
 */
export interface RateRule {
  /** Requests admitted per window (a positive integer). */
  limit: number;
  /** Window length, ms (positive). */
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

/**
 * Time grid: 1/1024 ms. `windowMs / limit` is rarely exact (60000 / 9), and adding such fractions to a 13-digit
 * epoch number rounds each time, which once refused the last request of a full burst. The emission interval is
 * rounded down onto the grid (so a client that waits the true interval is never refused), which makes every sum
 * below exact: whole-ms `now` plus multiples of 2^-10 fit a double's 53 bits until the year 2248.
 */
const GRID_PER_MS = 1024;

/**
 * Pure: decides one hit of `cost` (a whole number; 0 peeks) against `rule` for a key whose stored state is `tat`
 * (undefined = never seen), at `now` in whole ms since the epoch. A refusal leaves `tat` unchanged.
 */
export function rateLimit(tat: number | undefined, rule: RateRule, now: number, cost = 1): RateDecision {
  if (!(Number.isInteger(rule.limit) && rule.limit > 0 && rule.windowMs > 0)) {
    throw new RangeError(`Invalid rate rule: ${rule.limit} per ${rule.windowMs} ms`);
  }
  if (!(Number.isInteger(cost) && cost >= 0)) throw new RangeError(`Invalid rate cost: ${cost}`);
  const interval = Math.max(1, Math.floor((rule.windowMs * GRID_PER_MS) / rule.limit)) / GRID_PER_MS;
  const burst = interval * rule.limit; // the bucket holds `limit` intervals, about `windowMs`
  // "ms ahead of now": exact, since both numbers sit on the grid.
  const ahead = Math.max((tat ?? now) - now, 0);
  const nextAhead = ahead + interval * cost;
  const remainingAfter = (used: number) => Math.max(0, Math.floor((burst - used) / interval));
  if (nextAhead > burst) {
    return {
      allowed: false,
      limit: rule.limit,
      remaining: remainingAfter(ahead),
      resetAt: now + ahead,
      retryAfterMs: Math.ceil(nextAhead - burst),
      tat: tat ?? now,
    };
  }
  return {
    allowed: true,
    limit: rule.limit,
    remaining: remainingAfter(nextAhead),
    resetAt: now + nextAhead,
    retryAfterMs: 0,
    tat: now + nextAhead,
  };
}

/**
 * Of two decisions, the one a client must heed: a refusal over an admission, then the fewer remaining, then the
 * later reset. Used to render one set of `X-RateLimit-*` headers when a request passed several limits.
 */
export function mostRestrictive(a: RateDecision | undefined, b: RateDecision): RateDecision {
  if (!a) return b;
  if (a.allowed !== b.allowed) return a.allowed ? b : a;
  if (!a.allowed) return b.retryAfterMs > a.retryAfterMs ? b : a;
  if (a.remaining !== b.remaining) return b.remaining < a.remaining ? b : a;
  return b.resetAt > a.resetAt ? b : a;
}
