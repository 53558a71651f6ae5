/**
 * The ingress guard's nesting limit. Deeply nested input parses fine but overflows the stack of whatever walks it
 * next (structured clone across RPC, zod, a dialect): 2,500 nested objects answered 500. Everything a client
 * sends (REST bodies, JSON and MessagePack frames, HTTP-sent frames) is measured here, without recursion,
 * before its parse result travels further. GeoJSON polygons need 4 levels; no seed message needs more than ~8.
 */
export const MAX_NESTING_DEPTH = 32;

const OPEN_OBJECT = 123; // {
const OPEN_ARRAY = 91; // [
const CLOSE_OBJECT = 125; // }
const CLOSE_ARRAY = 93; // ]
const QUOTE = 34; // "
const BACKSLASH = 92; // \

/** The deepest nesting of objects and arrays in a JSON text, by one linear scan that skips strings. */
export function jsonTextDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) i++;
      else if (ch === QUOTE) inString = false;
    } else if (ch === QUOTE) inString = true;
    else if (ch === OPEN_OBJECT || ch === OPEN_ARRAY) {
      depth++;
      if (depth > max) max = depth;
    } else if (ch === CLOSE_OBJECT || ch === CLOSE_ARRAY) depth--;
  }
  return max;
}

/** True when a decoded value (MessagePack, or JSON already parsed) nests deeper than `limit`; iterative. */
export function valueDeeperThan(value: unknown, limit = MAX_NESTING_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > limit) return true;
    const children = Array.isArray(v) ? v : v instanceof Uint8Array ? [] : Object.values(v);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return false;
}

/** The message a refused input carries, the same on every surface. */
export const tooDeepMessage = (limit = MAX_NESTING_DEPTH): string => `Input nests deeper than ${limit} levels`;
