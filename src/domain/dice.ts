/**
 * Dice notation, rolled on the server. Grammar (case-insensitive):
 *
 *   expression := ['+'|'-'] term (('+'|'-') term)*
 *   term       := dice | integer
 *   dice       := [count] 'd' (sides | '%') [('kh'|'kl'|'k') keep]
 *
 * `d20` is `1d20`, `d%` is `1d100`, `4d6kh3` keeps the highest 3, `2d20kl1` the lowest, `k` means `kh`.
 * Bounds, so a roll is always cheap: at most MAX_DICE dice per term, sides in 2..MAX_SIDES, MAX_TERMS terms,
 * |sum of constants| <= MAX_MODIFIER, notation at most MAX_NOTATION_LENGTH characters.
 */
import { invalid } from '../errors';

/** Returns an integer uniformly distributed in [0, max). */
export type RandomSource = (max: number) => number;

export const MAX_DICE = 100;
export const MIN_SIDES = 2;
export const MAX_SIDES = 1000;
export const MAX_TERMS = 10;
export const MAX_MODIFIER = 10_000;
export const MAX_NOTATION_LENGTH = 100;

export interface DiceTerm {
  kind: 'dice';
  sign: 1 | -1;
  count: number;
  sides: number;
  keep?: { mode: 'highest' | 'lowest'; count: number };
  /** The term as normalised text, with its sign when negative: `-1d4`, `4d6kh3`. */
  text: string;
}

export interface ParsedNotation {
  /** Normalised: lower case, no spaces. */
  notation: string;
  dice: DiceTerm[];
  modifier: number;
}

export interface TermRoll {
  term: string;
  /** Every die rolled, in order. */
  dice: number[];
  /** The dice that count, in roll order (all of them without keep). */
  kept: number[];
  /** Sum of `kept`, negated for a subtracted term. */
  subtotal: number;
}

export interface DiceResult {
  notation: string;
  rolls: TermRoll[];
  modifier: number;
  total: number;
}

const TOKEN = /([+-])?(?:(\d*)d(\d+|%)(?:(kh|kl|k)(\d+))?|(\d+))/y;

/** Parses and bounds-checks a notation; throws INVALID_REQUEST naming the offending term. */
export function parseNotation(input: string): ParsedNotation {
  if (typeof input !== 'string')
    throw invalid('Dice notation must be a string', { issue: 'invalid_notation', field: 'notation' });
  if (input.length > MAX_NOTATION_LENGTH) {
    throw invalid(`Dice notation is too long: at most ${MAX_NOTATION_LENGTH} characters`, {
      issue: 'notation_too_long',
      field: 'notation',
      max: MAX_NOTATION_LENGTH,
    });
  }
  // Spaces may surround operators, never split a term ('2d6 3' is not '2d63').
  const notation = input
    .trim()
    .replace(/\s*([+-])\s*/g, '$1')
    .toLowerCase();
  if (!notation || /\s/.test(notation)) {
    throw invalid(`Invalid dice notation '${input}' (expected e.g. 2d6+3, d20, 4d6kh3)`, {
      issue: 'invalid_notation',
      field: 'notation',
    });
  }
  const dice: DiceTerm[] = [];
  let modifier = 0;
  let terms = 0;
  let pos = 0;
  while (pos < notation.length) {
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(notation);
    // Every term but the first needs an explicit operator.
    if (!m || m[0] === '' || (pos > 0 && !m[1])) {
      throw invalid(`Invalid dice notation '${input}' at '${notation.slice(pos, pos + 10)}' (expected e.g. 2d6+3, d20, 4d6kh3)`, {
        issue: 'invalid_notation',
        field: 'notation',
        position: pos,
      });
    }
    pos = TOKEN.lastIndex;
    terms += 1;
    if (terms > MAX_TERMS) {
      throw invalid(`Too many terms in '${input}': at most ${MAX_TERMS}`, {
        issue: 'too_many_terms',
        field: 'notation',
        max: MAX_TERMS,
      });
    }
    const sign = m[1] === '-' ? -1 : 1;
    const [, , countText, sidesText, keepMode, keepText, constText] = m;
    if (constText !== undefined) {
      modifier += sign * Number(constText);
      if (Math.abs(Number(constText)) > MAX_MODIFIER || Math.abs(modifier) > MAX_MODIFIER) {
        throw invalid(`Modifier too large in '${input}': at most ±${MAX_MODIFIER}`, {
          issue: 'modifier_too_large',
          field: 'notation',
          max: MAX_MODIFIER,
        });
      }
      continue;
    }
    const body = m[0].replace(/^[+-]/, '');
    const count = countText ? Number(countText) : 1;
    const sides = sidesText === '%' ? 100 : Number(sidesText);
    if (count < 1 || count > MAX_DICE) {
      throw invalid(`${count < 1 ? 'No' : 'Too many'} dice in '${body}': between 1 and ${MAX_DICE} per term`, {
        issue: count < 1 ? 'invalid_dice_count' : 'too_many_dice',
        field: 'notation',
        term: body,
        max: MAX_DICE,
      });
    }
    if (sides < MIN_SIDES || sides > MAX_SIDES) {
      throw invalid(`Invalid die in '${body}': between ${MIN_SIDES} and ${MAX_SIDES} sides`, {
        issue: 'invalid_sides',
        field: 'notation',
        term: body,
        min: MIN_SIDES,
        max: MAX_SIDES,
      });
    }
    const term: DiceTerm = { kind: 'dice', sign, count, sides, text: `${sign < 0 ? '-' : ''}${count}d${sidesText}` };
    if (keepMode) {
      const keep = Number(keepText);
      if (keep < 1 || keep > count) {
        throw invalid(`Cannot keep ${keep} of ${count} dice in '${body}'`, {
          issue: 'invalid_keep',
          field: 'notation',
          term: body,
        });
      }
      term.keep = { mode: keepMode === 'kl' ? 'lowest' : 'highest', count: keep };
      term.text += `${keepMode === 'kl' ? 'kl' : 'kh'}${keep}`;
    }
    dice.push(term);
  }
  return { notation, dice, modifier };
}

/** Rolls a parsed (or textual) notation with `random`. */
export function roll(notation: string | ParsedNotation, random: RandomSource): DiceResult {
  const parsed = typeof notation === 'string' ? parseNotation(notation) : notation;
  const rolls = parsed.dice.map((t): TermRoll => {
    const dice = Array.from({ length: t.count }, () => random(t.sides) + 1);
    let kept = dice;
    if (t.keep) {
      // Indices of the kept dice, chosen by value (ties: earlier die first), then reported in roll order.
      const order = dice
        .map((v, i) => ({ v, i }))
        .sort((a, b) => (t.keep?.mode === 'lowest' ? a.v - b.v : b.v - a.v) || a.i - b.i);
      const keepIdx = new Set(order.slice(0, t.keep.count).map((o) => o.i));
      kept = dice.filter((_, i) => keepIdx.has(i));
    }
    const sum = kept.reduce((s, v) => s + v, 0);
    return { term: t.text, dice, kept, subtotal: t.sign * sum };
  });
  const total = rolls.reduce((s, r) => s + r.subtotal, 0) + parsed.modifier;
  return { notation: parsed.notation, rolls, modifier: parsed.modifier, total };
}

/**
 * An unbiased RandomSource over `crypto.getRandomValues` (a global in Workers and Node 20). Rejection sampling:
 * a 32-bit draw at or above the largest multiple of `max` is thrown away, so every residue is equally likely.
 * `fill` is injectable so the rejection path can be tested with chosen words.
 */
export function createSecureRandom(fill: (words: Uint32Array) => void = (w) => crypto.getRandomValues(w)): RandomSource {
  const word = new Uint32Array(1);
  return (max: number): number => {
    if (!Number.isInteger(max) || max < 1 || max > 2 ** 32) throw new RangeError(`max must be an integer in 1..2^32, got ${max}`);
    const limit = 2 ** 32 - (2 ** 32 % max);
    for (;;) {
      fill(word);
      const x = word[0] as number;
      if (x < limit) return x % max;
    }
  };
}

/** The actor's default source. */
export const secureRandom: RandomSource = createSecureRandom();
