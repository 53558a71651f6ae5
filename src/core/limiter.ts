/**
 * The one rate limiter: an exact sliding window. "N per window" admits at most N hits in ANY span of `windowMs`
 * (a token bucket admits a burst of N and then refills, so "5 per minute" let 9 through in 61 s). The state of a
 * key is the log of its admitted hits inside the window, as `[time, count]` pairs (a batch is one pair), so it
 * holds at most `limit` pairs: small enough to keep in memory and to persist (`budgets.ts`).
 */
export interface RateRule {
  /** Hits admitted in any span of `windowMs` (a positive integer). */
  limit: number;
  /** Window length, ms (positive). */
  windowMs: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Hits still admitted right now. */
  remaining: number;
  /** When every hit now in the window has left it, ms since the epoch (the `X-RateLimit-Reset` instant). */
  resetAt: number;
  /** 0 when allowed; else how long until this hit would be admitted. */
  retryAfterMs: number;
}

/** Admitted hits inside the window, oldest first: `[time in ms since the epoch, count]`. */
export type HitLog = Array<[number, number]>;

function assertRule(rule: RateRule, cost: number): void {
  if (!(Number.isInteger(rule.limit) && rule.limit > 0 && rule.windowMs > 0)) {
    throw new RangeError(`Invalid rate rule: ${rule.limit} per ${rule.windowMs} ms`);
  }
  if (!(Number.isInteger(cost) && cost >= 0)) throw new RangeError(`Invalid rate cost: ${cost}`);
}

/** Drops the hits that have left the window ending at `now`: a hit at `t` counts while `now < t + windowMs`. */
function prune(log: HitLog, windowMs: number, now: number): void {
  let drop = 0;
  while (drop < log.length && (log[drop] as [number, number])[0] + windowMs <= now) drop++;
  if (drop) log.splice(0, drop);
}

/** Hits in the log (a plain loop: this runs on every hit, over up to `limit` pairs). */
function used(log: HitLog): number {
  let sum = 0;
  for (let i = 0; i < log.length; i++) sum += (log[i] as [number, number])[1];
  return sum;
}

/**
 * Decides one hit of `cost` (0 peeks) at `now` without recording it; prunes `log` in place. A refusal says when
 * enough of the oldest hits will have left the window for this one to fit.
 */
export function decide(log: HitLog, rule: RateRule, now: number, cost = 1): RateDecision {
  assertRule(rule, cost);
  prune(log, rule.windowMs, now);
  const inWindow = used(log);
  const last = log[log.length - 1];
  const resetAt = last ? last[0] + rule.windowMs : now;
  if (inWindow + cost <= rule.limit) {
    return {
      allowed: true,
      limit: rule.limit,
      remaining: rule.limit - inWindow - cost,
      resetAt: cost > 0 ? now + rule.windowMs : resetAt,
      retryAfterMs: 0,
    };
  }
  // Free `inWindow + cost - limit` slots, oldest first; a cost above the limit never fits (a whole window).
  let toFree = inWindow + cost - rule.limit;
  let retryAfterMs = rule.windowMs;
  if (cost <= rule.limit) {
    for (const [t, n] of log) {
      toFree -= n;
      if (toFree <= 0) {
        retryAfterMs = t + rule.windowMs - now;
        break;
      }
    }
  }
  return { allowed: false, limit: rule.limit, remaining: Math.max(0, rule.limit - inWindow), resetAt, retryAfterMs };
}

/**
 * Records an admitted hit of `cost` at `at` (hits in the same ms share a pair). The log stays in time order: a
 * lease (`leases.ts`) is recorded at its expiry, a little in the future, so a later plain hit may sort before it.
 */
export function record(log: HitLog, at: number, cost = 1): void {
  if (cost <= 0) return;
  let i = log.length;
  while (i > 0 && (log[i - 1] as [number, number])[0] > at) i--;
  const before = log[i - 1];
  if (before && before[0] === at) before[1] += cost;
  else log.splice(i, 0, [at, cost]);
}

/**
 * Takes back up to `count` hits recorded at exactly `at` (a lease's unspent tokens, given back by the isolate
 * that will no longer spend them); nothing when that pair has left the window. Returns how many were taken back.
 */
export function unrecord(log: HitLog, at: number, count: number): number {
  const i = log.findIndex(([t]) => t === at);
  const pair = log[i];
  if (!pair || count <= 0) return 0;
  const back = Math.min(count, pair[1]);
  pair[1] -= back;
  if (pair[1] === 0) log.splice(i, 1);
  return back;
}

/** `decide`, then `record` when admitted. */
export function hit(log: HitLog, rule: RateRule, now: number, cost = 1): RateDecision {
  const d = decide(log, rule, now, cost);
  if (d.allowed) record(log, now, cost);
  return d;
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
