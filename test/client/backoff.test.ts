import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay } from '../../src/client';

describe('backoffDelay (full jitter)', () => {
  it('doubles the ceiling per attempt from 1 s and caps it at 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100, 5000].map((n) => backoffCeiling(n))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000,
    ]);
    expect(backoffCeiling(3, { base: 100, cap: 500 })).toBe(500);
    expect(backoffCeiling(2, { base: 100, cap: 500 })).toBe(400);
  });

  it('spans [0, min(cap, base * 2^n)]: the lowest draw is 0, the highest stays under the ceiling', () => {
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(30_000, 1000 * 2 ** n);
      expect(backoffDelay(n, { random: () => 0 })).toBe(0);
      const top = backoffDelay(n, { random: () => 0.999999 });
      expect(top).toBeLessThanOrEqual(ceiling);
      expect(top).toBeGreaterThanOrEqual(ceiling - 1);
      expect(backoffDelay(n, { random: () => 0.5 })).toBe(Math.floor(ceiling / 2));
    }
  });

  it('is jittered: real random draws stay in bounds and spread over the range', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThanOrEqual(16_000);
    expect(new Set(draws).size).toBeGreaterThan(500);
    // Each quarter of the range gets a fair share: not bunched at the ceiling like plain exponential backoff.
    for (let q = 0; q < 4; q++) {
      const inQuarter = draws.filter((d) => d >= q * 4000 && d < (q + 1) * 4000).length;
      expect(inQuarter).toBeGreaterThan(300);
    }
  });

  it('clamps a misbehaving random source and rejects negative settings', () => {
    expect(backoffDelay(1, { random: () => 7 })).toBe(2000);
    expect(backoffDelay(1, { random: () => -1 })).toBe(0);
    expect(backoffDelay(-3, { random: () => 0.5 })).toBe(500);
    expect(() => backoffDelay(1, { base: -1 })).toThrow(RangeError);
  });
});
