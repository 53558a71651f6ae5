import type { Budgets } from './budgets';
import type { RateDecision, RateRule } from './limiter';

/**
 * Limiter leases: the limiter object grants a Worker isolate a few hits of a rule at once and the isolate spends
 * them in memory, so most requests make no object call. The sliding window stays exact ("at most N in any rolling
 * window", across isolates and evictions):
 *
 * - The object counts a lease's hits as spent when it grants them, recorded at the lease's expiry (grant time +
 *   `LEASE_MS`), not at the grant: a hit spent at any moment of the lease then stays in the window at least as long
 *   as the hit itself would.
 * - The isolate spends a lease only until `LEASE_MS - LEASE_MARGIN_MS` after it asked (its own clock; the margin
 *   covers clock skew between the isolate's machine and the object's).
 * - Unspent hits are given back when the isolate renews (they are then never spent); an isolate that dies with a
 *   lease loses them, which only counts more than happened, never less.
 *
 * Lease sizes adapt per key: 1 at first, doubled while leases run out before they expire, the number actually used
 * when one expires, at most a twentieth of the limit.
 */
export const LEASE_MS = 1_000;
/** How much earlier than the object's recorded expiry the isolate stops spending a lease. */
export const LEASE_MARGIN_MS = 200;

export interface LeaseGrant {
  /** `granted` hits spent; `remaining` counts the whole lease as spent. A refusal grants 0. */
  decision: RateDecision;
  granted: number;
  /** When the hits were recorded (the lease's expiry by the object's clock): names them for a give-back. */
  stamp: number;
}

/** A lease's unspent hits, given back when the isolate renews it. */
export interface GiveBack {
  stamp: number;
  count: number;
}

/** The largest lease of a rule: a twentieth of its limit (a lease is capacity other isolates cannot use for a second). */
export const maxLease = (rule: RateRule): number => Math.max(1, Math.floor(rule.limit / 20));

/** The object's side: takes back `giveBack`, then grants up to `want` hits of `rule` for `key`, at least one or none. */
export function grantLease(
  budgets: Budgets,
  key: string,
  rule: RateRule,
  want: number,
  now: number,
  giveBack?: GiveBack,
): LeaseGrant {
  if (!(Number.isInteger(want) && want >= 1)) throw new RangeError(`Invalid lease size: ${want}`);
  if (giveBack) {
    if (!(Number.isFinite(giveBack.stamp) && Number.isInteger(giveBack.count) && giveBack.count >= 0)) {
      throw new RangeError(`Invalid lease give-back: ${JSON.stringify(giveBack)}`);
    }
    budgets.giveBack(key, giveBack.stamp, giveBack.count, now);
  }
  const one = budgets.check(key, rule, now, 1);
  if (!one.allowed) return { decision: one, granted: 0, stamp: 0 };
  const granted = Math.min(want, maxLease(rule), one.remaining + 1);
  const stamp = now + LEASE_MS;
  budgets.commit(key, rule, now, granted, stamp);
  return { decision: { ...one, remaining: one.remaining + 1 - granted, resetAt: stamp + rule.windowMs }, granted, stamp };
}

/** What renewing a lease brought: the grant (null: nothing was counted, e.g. a revoked token) and the caller's extra answer. */
export interface Renewal<T> {
  grant: LeaseGrant | null;
  extra: T;
}

/** One hit spent from a lease: its decision for the `X-RateLimit-*` headers (null when nothing was counted). */
export interface Spent<T> {
  decision: RateDecision | null;
  extra: T;
}

interface Held<T> {
  stamp: number;
  left: number;
  size: number;
  /** The rule's remaining at the grant, with the whole lease counted as spent. */
  remaining: number;
  /** The isolate spends no more after this instant (its own clock). */
  until: number;
  extra: T;
}

/**
 * The isolate's side: the leases it holds, by key. A request spends one hit of a held lease, or renews it with one
 * object call (concurrent requests for the same key wait for that call instead of making their own).
 *
 * Headers under a lease: `Remaining` is the object's remaining at the grant plus the lease's unspent hits (exact
 * in one isolate, except that hits which left the window during the lease's second are not yet seen free again;
 * with several isolates, each counts the others' leases as spent); `Reset` is a window after this hit.
 */
export class LeaseBook<T> {
  private readonly held = new Map<string, Held<T>>();
  private readonly renewing = new Map<string, Promise<void>>();
  private readonly waiting = new Map<string, number>();

  constructor(private readonly maxKeys = 10_000) {}

  async spend(key: string, rule: RateRule, renew: (want: number, giveBack?: GiveBack) => Promise<Renewal<T>>): Promise<Spent<T>> {
    for (;;) {
      const now = Date.now();
      const h = this.held.get(key);
      if (h && h.left > 0 && now < h.until) {
        h.left--;
        const decision = {
          allowed: true,
          limit: rule.limit,
          remaining: h.remaining + h.left,
          resetAt: now + rule.windowMs,
          retryAfterMs: 0,
        };
        return { decision, extra: h.extra };
      }
      const pending = this.renewing.get(key);
      if (!pending) return this.renew(key, h, rule, renew, now);
      this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
      try {
        await pending;
      } finally {
        const w = (this.waiting.get(key) ?? 1) - 1;
        if (w > 0) this.waiting.set(key, w);
        else this.waiting.delete(key);
      }
    }
  }

  /** Makes every lease whose key starts with `prefix` renew at its next hit (a revocation: the answer is asked again). */
  expire(prefix: string): void {
    for (const [key, h] of this.held) if (key.startsWith(prefix)) h.until = 0;
  }

  private async renew(
    key: string,
    old: Held<T> | undefined,
    rule: RateRule,
    renew: (want: number, giveBack?: GiveBack) => Promise<Renewal<T>>,
    now: number,
  ): Promise<Spent<T>> {
    const max = maxLease(rule);
    const size = !old ? 1 : old.left === 0 ? Math.min(max, old.size * 2) : Math.max(1, old.size - old.left);
    const want = Math.min(max, Math.max(size, 1 + (this.waiting.get(key) ?? 0)));
    const giveBack = old && old.left > 0 ? { stamp: old.stamp, count: old.left } : undefined;
    // Whatever the answer, the old lease is not spent again: given back, or lost if the call fails (stricter).
    this.held.delete(key);
    let settle = () => {};
    this.renewing.set(key, new Promise<void>((resolve) => (settle = resolve)));
    try {
      const { grant, extra } = await renew(want, giveBack);
      if (!grant || grant.granted === 0) return { decision: grant?.decision ?? null, extra };
      const held: Held<T> = {
        stamp: grant.stamp,
        left: grant.granted - 1,
        size: want,
        remaining: grant.decision.remaining,
        until: now + LEASE_MS - LEASE_MARGIN_MS,
        extra,
      };
      this.keep(key, held);
      const decision = { ...grant.decision, remaining: held.remaining + held.left, resetAt: Date.now() + rule.windowMs };
      return { decision, extra };
    } finally {
      this.renewing.delete(key);
      settle();
    }
  }

  /** Bounded: past `maxKeys` the least recently renewed lease is dropped (its unspent hits stay counted). */
  private keep(key: string, held: Held<T>): void {
    this.held.set(key, held);
    if (this.held.size > this.maxKeys) this.held.delete(this.held.keys().next().value as string);
  }
}
