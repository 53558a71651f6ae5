import { describe, expect, it } from 'vitest';
import { mostRestrictive, type RateDecision, type RateRule, rateLimit } from '../../src/core/limiter';

const T0 = 1_700_000_000_123;
const FIVE_PER_MIN: RateRule = { limit: 5, windowMs: 60_000 };

/** Hits `n` times at `now`, threading the state; returns every decision. */
function burst(rule: RateRule, n: number, now = T0, tat?: number): { decisions: RateDecision[]; tat: number | undefined } {
  const decisions: RateDecision[] = [];
  let state = tat;
  for (let i = 0; i < n; i++) {
    const d = rateLimit(state, rule, now);
    decisions.push(d);
    state = d.tat;
  }
  return { decisions, tat: state };
}

describe('rateLimit (GCRA)', () => {
  it('admits a burst of N with Remaining counting down, and refuses the N+1th', () => {
    const { decisions } = burst(FIVE_PER_MIN, 6);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(decisions.every((d) => d.limit === 5)).toBe(true);
  });

  it('reports resetAt as the instant the bucket is full again and retryAfter as the wait for one more', () => {
    const first = rateLimit(undefined, FIVE_PER_MIN, T0);
    expect(first.resetAt).toBe(T0 + 12_000);
    expect(first.retryAfterMs).toBe(0);
    const { decisions } = burst(FIVE_PER_MIN, 6);
    const [fifth, sixth] = decisions.slice(4) as [RateDecision, RateDecision];
    expect(fifth.resetAt).toBe(T0 + 60_000);
    expect(sixth.allowed).toBe(false);
    expect(sixth.retryAfterMs).toBe(12_000);
    expect(sixth.resetAt).toBe(T0 + 60_000);
  });

  it('does not consume on a refusal: the state is unchanged and retrying later still works', () => {
    const { tat } = burst(FIVE_PER_MIN, 5);
    const refused = rateLimit(tat, FIVE_PER_MIN, T0 + 1_000);
    expect(refused.allowed).toBe(false);
    expect(refused.tat).toBe(tat);
    expect(refused.retryAfterMs).toBe(11_000);
    expect(rateLimit(refused.tat, FIVE_PER_MIN, T0 + 12_000).allowed).toBe(true);
  });

  it('refills one request every windowMs / N, not a whole window later', () => {
    const { tat } = burst(FIVE_PER_MIN, 5);
    expect(rateLimit(tat, FIVE_PER_MIN, T0 + 11_999).allowed).toBe(false);
    const after = rateLimit(tat, FIVE_PER_MIN, T0 + 12_000);
    expect(after.allowed).toBe(true);
    expect(after.remaining).toBe(0);
    // A full window of quiet refills the whole bucket.
    expect(rateLimit(tat, FIVE_PER_MIN, T0 + 60_000).remaining).toBe(4);
  });

  it('holds a steady flood to one request per interval after the burst: at most N + T/interval over a span T', () => {
    const rule: RateRule = { limit: 10, windowMs: 1_000 };
    let tat: number | undefined;
    const admitted: number[] = [];
    for (let t = T0; t < T0 + 5_000; t += 7) {
      const d = rateLimit(tat, rule, t);
      if (d.allowed) admitted.push(t);
      tat = d.tat;
    }
    expect(admitted.slice(0, 10).every((t) => t < T0 + 100)).toBe(true);
    // The k-th admission after the burst comes no earlier than k intervals after the start.
    for (let i = 10; i < admitted.length; i++) {
      expect(admitted[i] as number).toBeGreaterThanOrEqual(T0 + (i - 9) * 100);
    }
    expect(admitted.length).toBeLessThanOrEqual(10 + 50);
    expect(admitted.length).toBeGreaterThanOrEqual(10 + 48);
  });

  it('admits exactly N for limits whose interval is not a whole number of ms (60000/9, /17, /43, ...)', () => {
    for (let limit = 1; limit <= 1000; limit++) {
      const rule = { limit, windowMs: 60_000 };
      const { decisions } = burst(rule, limit + 1);
      expect(decisions.filter((d) => d.allowed).length, `limit ${limit}`).toBe(limit);
      expect(decisions[limit - 1]?.remaining, `limit ${limit}`).toBe(0);
    }
  });

  it('admits a client that waits exactly the interval, even when the interval is fractional', () => {
    const rule = { limit: 9, windowMs: 60_000 };
    let { tat } = burst(rule, 9);
    for (let j = 1; j <= 27; j++) {
      const d = rateLimit(tat, rule, Math.ceil(T0 + (j * 60_000) / 9));
      expect(d.allowed, `refill ${j}`).toBe(true);
      tat = d.tat;
    }
  });

  it('charges a cost of several units at once and refuses a cost above the limit', () => {
    const d = rateLimit(undefined, FIVE_PER_MIN, T0, 3);
    expect(d.allowed).toBe(true);
    expect(d.remaining).toBe(2);
    const more = rateLimit(d.tat, FIVE_PER_MIN, T0, 3);
    expect(more.allowed).toBe(false);
    expect(more.remaining).toBe(2);
    expect(rateLimit(undefined, FIVE_PER_MIN, T0, 6).allowed).toBe(false);
  });

  it('peeks with cost 0 without consuming', () => {
    const { tat } = burst(FIVE_PER_MIN, 2);
    const peek = rateLimit(tat, FIVE_PER_MIN, T0, 0);
    expect(peek).toMatchObject({ allowed: true, remaining: 3, tat });
  });

  it('rejects an invalid rule or cost instead of computing nonsense', () => {
    expect(() => rateLimit(undefined, { limit: 0, windowMs: 1000 }, T0)).toThrow(RangeError);
    expect(() => rateLimit(undefined, { limit: 1.5, windowMs: 1000 }, T0)).toThrow(RangeError);
    expect(() => rateLimit(undefined, { limit: 5, windowMs: 0 }, T0)).toThrow(RangeError);
    expect(() => rateLimit(undefined, FIVE_PER_MIN, T0, -1)).toThrow(RangeError);
  });
});

describe('mostRestrictive', () => {
  const allowed = (remaining: number, resetAt = T0): RateDecision => ({
    allowed: true,
    limit: 10,
    remaining,
    resetAt,
    retryAfterMs: 0,
    tat: resetAt,
  });
  const refused: RateDecision = { allowed: false, limit: 5, remaining: 0, resetAt: T0, retryAfterMs: 500, tat: T0 };

  it('prefers a refusal, then fewer remaining, then the later reset', () => {
    expect(mostRestrictive(undefined, allowed(3))).toEqual(allowed(3));
    expect(mostRestrictive(allowed(0), refused)).toBe(refused);
    expect(mostRestrictive(refused, allowed(0))).toBe(refused);
    expect(mostRestrictive(allowed(9), allowed(2)).remaining).toBe(2);
    expect(mostRestrictive(allowed(2), allowed(9)).remaining).toBe(2);
    expect(mostRestrictive(allowed(2, T0), allowed(2, T0 + 5)).resetAt).toBe(T0 + 5);
  });
});
