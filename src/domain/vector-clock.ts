/**
 * Vector clocks: one counter per client (`{ "client-789": 3 }`); a missing entry is 0. The order between two
 * clocks says whether one change saw the other (`before`/`after`), both saw the same (`equal`), or neither saw
 * the other (`concurrent`).
 */
export type VectorClock = Record<string, number>;
export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

/** How `a` relates to `b`: `after` means `a` descends from `b` (it has seen everything `b` has, and more). */
export function compareClocks(a: VectorClock, b: VectorClock): ClockOrder {
  let less = false;
  let greater = false;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key] ?? 0;
    const y = b[key] ?? 0;
    if (x < y) less = true;
    else if (x > y) greater = true;
    if (less && greater) return 'concurrent';
  }
  if (less) return 'before';
  if (greater) return 'after';
  return 'equal';
}

/** True when `a` happened before or equals `b` (everything `a` has seen, `b` has seen). */
export const clockLeq = (a: VectorClock, b: VectorClock): boolean => {
  const order = compareClocks(a, b);
  return order === 'before' || order === 'equal';
};

/** The pointwise maximum: a clock that has seen both. */
export function mergeClocks(a: VectorClock, b: VectorClock): VectorClock {
  const out: VectorClock = { ...a };
  for (const [key, n] of Object.entries(b)) out[key] = Math.max(out[key] ?? 0, n);
  return out;
}
