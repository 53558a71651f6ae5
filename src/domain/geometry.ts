import { RING_CIRCUMFERENCE } from './ring';

/**
 * Planar geometry for the ring surface. Ring coordinates wrap in x; these helpers work on *unwrapped*
 * coordinates (`unwrapPath` makes a path continuous first), so the usual planar formulas hold.
 * Rings here are open: the closing position of a GeoJSON ring is dropped.
 */
export type Vec = readonly [number, number];

export interface Bbox {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/**
 * Unwraps a path so that each step takes the short way round: x becomes continuous, may leave [0, C).
 * Each x moves by a whole number of ring lengths (never by accumulated deltas), so equal inputs at the
 * same lap give bit-identical outputs and a closed ring stays exactly closed.
 */
export function unwrapPath(path: readonly Vec[], startX: number): Vec[] {
  const out: Vec[] = [];
  let prev = startX;
  for (const [x, y] of path) {
    const ux = x + RING_CIRCUMFERENCE * Math.round((prev - x) / RING_CIRCUMFERENCE);
    out.push([ux, y]);
    prev = ux;
  }
  return out;
}

/** Shifts x by whole ring lengths so that the smallest x lands in [0, C). */
export function shiftToCanonical(rings: Vec[][]): Vec[][] {
  const minX = Math.min(...rings.flatMap((r) => r.map((p) => p[0])));
  const k = Math.floor(minX / RING_CIRCUMFERENCE) * RING_CIRCUMFERENCE;
  return k === 0 ? rings : rings.map((r) => r.map(([x, y]) => [x - k, y] as Vec));
}

export function bboxOf(points: readonly Vec[]): Bbox {
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const [x, y] of points) {
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
    if (y < yMin) yMin = y;
    if (y > yMax) yMax = y;
  }
  return { xMin, xMax, yMin, yMax };
}

/** Twice the signed area of the triangle abc: > 0 counter-clockwise, 0 collinear. */
export const orient = (a: Vec, b: Vec, c: Vec): number => (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);

/** c is on segment ab, given that a, b, c are collinear. */
const within = (a: Vec, b: Vec, c: Vec): boolean =>
  Math.min(a[0], b[0]) <= c[0] && c[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= c[1] && c[1] <= Math.max(a[1], b[1]);

/** Closed segments ab and cd share at least one point (crossing, touching or overlapping). */
export function segmentsIntersect(a: Vec, b: Vec, c: Vec, d: Vec): boolean {
  const o1 = Math.sign(orient(a, b, c));
  const o2 = Math.sign(orient(a, b, d));
  const o3 = Math.sign(orient(c, d, a));
  const o4 = Math.sign(orient(c, d, b));
  // Each segment's ends on different sides of (or on) the other's line: they meet (the classic test).
  if (o1 !== o2 && o3 !== o4) return true;
  if (o1 === 0 && within(a, b, c)) return true;
  if (o2 === 0 && within(a, b, d)) return true;
  if (o3 === 0 && within(c, d, a)) return true;
  if (o4 === 0 && within(c, d, b)) return true;
  return false;
}

/** Consecutive segments a→b→c overlap beyond their shared vertex b (a spike folding back on itself). */
const adjacentOverlap = (a: Vec, b: Vec, c: Vec): boolean =>
  orient(a, b, c) === 0 && (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]) < 0;

export interface Crossing {
  ringA: number;
  segmentA: number;
  ringB: number;
  segmentB: number;
}

/**
 * First pair of intersecting edges among open rings (edge i runs from vertex i to i+1, wrapping), or null.
 * Edges of one ring that share a vertex may only meet at it. Sort-and-sweep on x: O(n log n + k) where k is
 * the number of edge pairs whose x-ranges overlap; a comb shape makes k quadratic, which the callers bound
 * with a vertex cap.
 */
export function findCrossing(rings: readonly (readonly Vec[])[]): Crossing | null {
  interface Edge {
    ring: number;
    seg: number;
    n: number;
    a: Vec;
    b: Vec;
    minX: number;
    maxX: number;
    minY: number;
    maxY: number;
  }
  const edges: Edge[] = [];
  rings.forEach((ring, r) => {
    const n = ring.length;
    for (let i = 0; i < n; i++) {
      const a = ring[i]!;
      const b = ring[(i + 1) % n]!;
      edges.push({
        ring: r,
        seg: i,
        n,
        a,
        b,
        minX: Math.min(a[0], b[0]),
        maxX: Math.max(a[0], b[0]),
        minY: Math.min(a[1], b[1]),
        maxY: Math.max(a[1], b[1]),
      });
    }
  });
  // Spikes between neighbours are found here; the sweep below skips neighbour pairs.
  for (const [r, ring] of rings.entries()) {
    const n = ring.length;
    for (let i = 0; i < n; i++) {
      if (adjacentOverlap(ring[i]!, ring[(i + 1) % n]!, ring[(i + 2) % n]!)) {
        return { ringA: r, segmentA: i, ringB: r, segmentB: (i + 1) % n };
      }
    }
  }
  edges.sort((p, q) => p.minX - q.minX);
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i]!;
    for (let j = i + 1; j < edges.length; j++) {
      const f = edges[j]!;
      if (f.minX > e.maxX) break;
      if (f.minY > e.maxY || f.maxY < e.minY) continue;
      if (e.ring === f.ring) {
        const gap = Math.abs(e.seg - f.seg);
        if (gap === 1 || gap === e.n - 1) continue;
      }
      if (segmentsIntersect(e.a, e.b, f.a, f.b)) {
        const [x, y] = e.ring < f.ring || (e.ring === f.ring && e.seg < f.seg) ? [e, f] : [f, e];
        return { ringA: x.ring, segmentA: x.seg, ringB: y.ring, segmentB: y.seg };
      }
    }
  }
  return null;
}

/** Signed area of an open ring (shoelace), computed relative to its first vertex for precision. */
export function ringSignedArea(ring: readonly Vec[]): number {
  const [ox, oy] = ring[0] ?? [0, 0];
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const a = ring[i]!;
    const b = ring[(i + 1) % ring.length]!;
    s += (a[0] - ox) * (b[1] - oy) - (b[0] - ox) * (a[1] - oy);
  }
  return s / 2;
}

export type RingSide = 'inside' | 'boundary' | 'outside';

/** Where p lies relative to an open ring (even-odd rule; points on an edge are 'boundary'). */
export function pointInRing(p: Vec, ring: readonly Vec[]): RingSide {
  let inside = false;
  const n = ring.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const a = ring[i]!;
    const b = ring[j]!;
    if (orient(a, b, p) === 0 && within(a, b, p)) return 'boundary';
    if (a[1] > p[1] !== b[1] > p[1]) {
      const xCross = a[0] + ((p[1] - a[1]) * (b[0] - a[0])) / (b[1] - a[1]);
      if (p[0] < xCross) inside = !inside;
    }
  }
  return inside ? 'inside' : 'outside';
}

/** Closest point to p on segment ab, with t ∈ [0, 1] its position along ab and its distance. */
export function projectOnSegment(p: Vec, a: Vec, b: Vec): { point: Vec; t: number; distance: number } {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
  const point: Vec = [a[0] + t * dx, a[1] + t * dy];
  return { point, t, distance: Math.hypot(p[0] - point[0], p[1] - point[1]) };
}

export const distance = (a: Vec, b: Vec): number => Math.hypot(b[0] - a[0], b[1] - a[1]);
