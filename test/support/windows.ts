/** The most hits in any span of `windowMs` among hit times `ts` (sorted): the limiter's promise is that this ≤ N. */
export function maxInAnyWindow(ts: number[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < ts.length; end++) {
    while ((ts[end] as number) - (ts[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}
