import { describe, expect, it } from 'vitest';
import { decide, type HitLog, hit, mostRestrictive, type RateDecision, type RateRule } from '../../src/core/limiter';
import { maxInAnyWindow } from '../support/windows';

const T0 = 1_700_000_000_123;
const FIVE_PER_MIN: RateRule = { limit: 5, windowMs: 60_000 };

/** Hits `n` times at `now` on `log`; returns every decision. */
function burst(rule: RateRule, n: number, now = T0, log: HitLog = []): RateDecision[] {
  return Array.from({ length: n }, () => hit(log, rule, now));
}

describe('sliding window limiter', () => {
  it('admits N with Remaining counting down, and refuses the N+1th', () => {
    const decisions = burst(FIVE_PER_MIN, 6);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(decisions.every((d) => d.limit === 5)).toBe(true);
  });

  it('"5 per minute" admits at most 5 in ANY rolling 60 s (a token bucket let 9-10 through in 61 s)', () => {
    // A client that retries the moment it is told it may: the worst case for the limit.
    const log: HitLog = [];
    const admitted: number[] = [];
    let t = T0;
    while (t < T0 + 61_000) {
      const d = hit(log, FIVE_PER_MIN, t);
      if (d.allowed) admitted.push(t);
      t += d.allowed ? 1 : Math.max(1, d.retryAfterMs);
    }
    expect(maxInAnyWindow(admitted, 60_000)).toBe(5);
    expect(admitted.filter((a) => a < T0 + 61_000).length).toBeLessThanOrEqual(10);
    expect(admitted.filter((a) => a < T0 + 60_000).length).toBe(5);
  });

  it('holds any pattern of hits to N per window, for many limits and arrival patterns', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const rule of [
      { limit: 1, windowMs: 1_000 },
      { limit: 9, windowMs: 60_000 },
      { limit: 100, windowMs: 60_000 },
      { limit: 1000, windowMs: 1_000 },
    ]) {
      const log: HitLog = [];
      const admitted: number[] = [];
      let t = T0;
      for (let i = 0; i < 5_000; i++) {
        t += Math.floor(rand() * ((rule.windowMs / rule.limit) * 2));
        if (hit(log, rule, t).allowed) admitted.push(t);
      }
      expect(maxInAnyWindow(admitted, rule.windowMs), `${rule.limit}/${rule.windowMs}`).toBeLessThanOrEqual(rule.limit);
      expect(log.length).toBeLessThanOrEqual(rule.limit);
    }
  });

  it('says when the oldest hit leaves the window: retryAfter, and Reset when all have', () => {
    const log: HitLog = [];
    hit(log, FIVE_PER_MIN, T0);
    for (let i = 1; i < 5; i++) hit(log, FIVE_PER_MIN, T0 + i * 1_000);
    const refused = hit(log, FIVE_PER_MIN, T0 + 10_000);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 50_000, resetAt: T0 + 64_000 });
    expect(hit(log, FIVE_PER_MIN, T0 + 59_999).allowed).toBe(false);
    const again = hit(log, FIVE_PER_MIN, T0 + 60_000);
    expect(again).toMatchObject({ allowed: true, remaining: 0 });
    expect(hit(log, FIVE_PER_MIN, T0 + 60_000).allowed).toBe(false);
  });

  it('does not consume on a refusal', () => {
    const log: HitLog = [];
    burst(FIVE_PER_MIN, 5, T0, log);
    const before = JSON.stringify(log);
    expect(hit(log, FIVE_PER_MIN, T0 + 1_000).allowed).toBe(false);
    expect(JSON.stringify(log)).toBe(before);
  });

  it('charges a cost of several units at once and refuses a cost above the limit', () => {
    const log: HitLog = [];
    const d = hit(log, FIVE_PER_MIN, T0, 3);
    expect(d).toMatchObject({ allowed: true, remaining: 2 });
    expect(hit(log, FIVE_PER_MIN, T0, 3)).toMatchObject({ allowed: false, remaining: 2 });
    expect(hit([], FIVE_PER_MIN, T0, 6).allowed).toBe(false);
    expect(log).toEqual([[T0, 3]]);
  });

  it('peeks with cost 0 without consuming', () => {
    const log: HitLog = [];
    burst(FIVE_PER_MIN, 2, T0, log);
    expect(decide(log, FIVE_PER_MIN, T0, 0)).toMatchObject({ allowed: true, remaining: 3 });
    expect(log).toEqual([[T0, 2]]);
  });

  it('rejects an invalid rule or cost instead of computing nonsense', () => {
    expect(() => hit([], { limit: 0, windowMs: 1000 }, T0)).toThrow(RangeError);
    expect(() => hit([], { limit: 1.5, windowMs: 1000 }, T0)).toThrow(RangeError);
    expect(() => hit([], { limit: 5, windowMs: 0 }, T0)).toThrow(RangeError);
    expect(() => hit([], FIVE_PER_MIN, T0, -1)).toThrow(RangeError);
  });
});

describe('mostRestrictive', () => {
  const allowed = (remaining: number, resetAt = T0): RateDecision => ({
    allowed: true,
    limit: 10,
    remaining,
    resetAt,
    retryAfterMs: 0,
  });
  const refused: RateDecision = { allowed: false, limit: 5, remaining: 0, resetAt: T0, retryAfterMs: 500 };

  it('prefers a refusal, then fewer remaining, then the later reset', () => {
    expect(mostRestrictive(undefined, allowed(3))).toEqual(allowed(3));
    expect(mostRestrictive(allowed(0), refused)).toBe(refused);
    expect(mostRestrictive(refused, allowed(0))).toBe(refused);
    expect(mostRestrictive(allowed(9), allowed(2)).remaining).toBe(2);
    expect(mostRestrictive(allowed(2), allowed(9)).remaining).toBe(2);
    expect(mostRestrictive(allowed(2, T0), allowed(2, T0 + 5)).resetAt).toBe(T0 + 5);
  });
});
