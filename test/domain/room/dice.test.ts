import { describe, expect, it } from 'vitest';
import { createSecureRandom, MAX_DICE, parseNotation, type RandomSource, roll, secureRandom } from '../../../src/domain/dice';
import { ApiError } from '../../../src/errors';

/** A source that answers from a script (values in [0, max)), to make rolls exact. */
const scripted = (values: number[]): RandomSource => {
  let i = 0;
  return (max) => {
    const v = values[i++ % values.length] as number;
    if (v >= max) throw new Error(`scripted value ${v} out of range ${max}`);
    return v;
  };
};

function issueOf(notation: string): string | undefined {
  try {
    parseNotation(notation);
  } catch (e) {
    if (e instanceof ApiError) {
      expect(e.code).toBe('INVALID_REQUEST');
      return e.details?.issue;
    }
    throw e;
  }
  return undefined;
}

describe('parseNotation', () => {
  it('reads standard notation: NdM+K, d20, d%, keep highest/lowest, several terms, spaces and case', () => {
    expect(parseNotation('2d6+3')).toEqual({
      notation: '2d6+3',
      dice: [{ kind: 'dice', sign: 1, count: 2, sides: 6, text: '2d6' }],
      modifier: 3,
    });
    expect(parseNotation('d20').dice[0]).toMatchObject({ count: 1, sides: 20, text: '1d20' });
    expect(parseNotation('d%').dice[0]).toMatchObject({ count: 1, sides: 100 });
    expect(parseNotation('4d6kh3').dice[0]?.keep).toEqual({ mode: 'highest', count: 3 });
    expect(parseNotation('2d20kl1').dice[0]?.keep).toEqual({ mode: 'lowest', count: 1 });
    expect(parseNotation('4d6k3').dice[0]?.text).toBe('4d6kh3');
    const multi = parseNotation(' 2D6 + 1d4 + 3 - 1d8 - 2 ');
    expect(multi.notation).toBe('2d6+1d4+3-1d8-2');
    expect(multi.dice.map((d) => d.text)).toEqual(['2d6', '1d4', '-1d8']);
    expect(multi.modifier).toBe(1);
    expect(parseNotation('-1d4').dice[0]?.sign).toBe(-1);
    expect(parseNotation('100d1000+10000').modifier).toBe(10_000);
    expect(parseNotation('d2+d2+d2+d2+d2+d2+d2+d2+d2+d2').dice).toHaveLength(10);
  });

  it('rejects abuse and garbage with a clear message', () => {
    let err: unknown;
    try {
      parseNotation('1000000d1000000');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('INVALID_REQUEST');
    expect((err as ApiError).message).toBe(`Too many dice in '1000000d1000000': between 1 and ${MAX_DICE} per term`);
    expect((err as ApiError).details).toMatchObject({ issue: 'too_many_dice', max: 100 });

    expect(issueOf('101d6')).toBe('too_many_dice');
    expect(issueOf('0d6')).toBe('invalid_dice_count');
    expect(issueOf('1d1')).toBe('invalid_sides');
    expect(issueOf('1d1001')).toBe('invalid_sides');
    expect(issueOf('1d0')).toBe('invalid_sides');
    expect(issueOf('4d6kh5')).toBe('invalid_keep');
    expect(issueOf('4d6kl0')).toBe('invalid_keep');
    expect(issueOf('d2+d2+d2+d2+d2+d2+d2+d2+d2+d2+1')).toBe('too_many_terms');
    expect(issueOf('1d6+10001')).toBe('modifier_too_large');
    expect(issueOf('1d6+6000+6000')).toBe('modifier_too_large');
    expect(issueOf(`1d6+${'9'.repeat(40)}`)).toBe('modifier_too_large');
    expect(issueOf(`1d6${'+1'.repeat(50)}`)).toBe('notation_too_long');
    for (const bad of ['', '   ', 'abc', '2d', 'd', '2d6+', '2d6++3', '2d6 3', '2x6', '2d6k', '1d6*2', '1.5d6', '2d6;DROP']) {
      expect(issueOf(bad), bad).toBe('invalid_notation');
    }
    expect(issueOf(42 as unknown as string)).toBe('invalid_notation');
  });
});

describe('roll', () => {
  it('rolls each term, keeps the right dice and totals with the modifier', () => {
    // 4d6kh3 with faces 1,5,3,5 -> keeps 5,3,5 ; then 1d4 -> 2 ; -1d8 -> 7
    const r = roll('4d6kh3+1d4-1d8+2', scripted([0, 4, 2, 4, 1, 6]));
    expect(r).toEqual({
      notation: '4d6kh3+1d4-1d8+2',
      rolls: [
        { term: '4d6kh3', dice: [1, 5, 3, 5], kept: [5, 3, 5], subtotal: 13 },
        { term: '1d4', dice: [2], kept: [2], subtotal: 2 },
        { term: '-1d8', dice: [7], kept: [7], subtotal: -7 },
      ],
      modifier: 2,
      total: 10,
    });
    const low = roll('3d20kl1', scripted([9, 2, 2]));
    expect(low.rolls[0]).toEqual({ term: '3d20kl1', dice: [10, 3, 3], kept: [3], subtotal: 3 });
    expect(roll('5', scripted([0]))).toEqual({ notation: '5', rolls: [], modifier: 5, total: 5 });
  });

  it('stays within bounds with the secure source', () => {
    for (let i = 0; i < 200; i++) {
      const r = roll('100d1000', secureRandom);
      expect(r.rolls[0]?.dice).toHaveLength(100);
      for (const d of r.rolls[0]?.dice ?? []) expect(d >= 1 && d <= 1000 && Number.isInteger(d)).toBe(true);
    }
  });
});

describe('secure random source', () => {
  it('returns integers in [0, max) for small, odd and huge ranges, and refuses bad ranges', () => {
    for (const max of [1, 2, 3, 6, 7, 1000, 2 ** 31 + 1, 2 ** 32]) {
      for (let i = 0; i < 500; i++) {
        const v = secureRandom(max);
        expect(Number.isInteger(v) && v >= 0 && v < max, `${v} for ${max}`).toBe(true);
      }
    }
    for (const bad of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) expect(() => secureRandom(bad)).toThrow(RangeError);
  });

  it('rejects the biased tail instead of folding it (rejection sampling)', () => {
    // For max = 3, 2^32 % 3 = 1, so the word 2^32 - 1 must be drawn again; 4 then gives 4 % 3 = 1.
    const words = [2 ** 32 - 1, 4];
    let calls = 0;
    const random = createSecureRandom((w) => {
      w[0] = words[calls++] as number;
    });
    expect(random(3)).toBe(1);
    expect(calls).toBe(2);
    // The word just below the limit is kept.
    const edge = createSecureRandom((w) => {
      w[0] = 2 ** 32 - 2;
    });
    expect(edge(3)).toBe((2 ** 32 - 2) % 3);
  });

  it('is unbiased enough over many d6 and d20 rolls (chi-square)', () => {
    for (const [sides, critical] of [
      [6, 20.52], // df 5, p = 0.001
      [20, 43.82], // df 19, p = 0.001
    ] as const) {
      const n = 60_000;
      const counts = new Array<number>(sides).fill(0);
      for (let i = 0; i < n; i++) counts[secureRandom(sides)]! += 1;
      const expected = n / sides;
      const chi = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
      expect(chi, `chi-square ${chi} for d${sides}: ${counts.join(',')}`).toBeLessThan(critical);
    }
  });
});
