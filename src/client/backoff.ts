/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the delay
 * before retry `attempt` is uniform in [0, min(cap, base * 2^attempt)). Full jitter spreads a crowd of clients
 * that lost the same server, so they do not all come back in the same millisecond.
 */
export interface BackoffOptions {
  /** First ceiling, ms (default 1,000). */
  base?: number;
  /** Largest ceiling, ms (default 30,000). */
  cap?: number;
  /** Uniform source in [0, 1); injectable so tests can pin it. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1000;
export const DEFAULT_BACKOFF_CAP_MS = 30_000;

/** The ceiling for `attempt` (0-based): min(cap, base * 2^attempt). */
export function backoffCeiling(attempt: number, options: BackoffOptions = {}): number {
  const base = options.base ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = options.cap ?? DEFAULT_BACKOFF_CAP_MS;
  if (!(base >= 0 && cap >= 0)) throw new RangeError('backoff base and cap must be >= 0');
  const n = Math.max(0, Math.floor(attempt));
  // 2^n overflows to Infinity long after it passed any sane cap; Math.min takes care of it.
  return Math.min(cap, base * 2 ** n);
}

/** Pure: the delay in ms before retry `attempt` (0-based), in [0, backoffCeiling(attempt)]. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const random = options.random ?? Math.random;
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffCeiling(attempt, options));
}
