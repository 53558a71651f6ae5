import { ApiError } from '../errors';
import { distance, projectOnSegment, type Vec } from './geometry';
import { type EdgeMode, localNetwork } from './procgen';
import {
  CHUNK_LENGTH,
  chunkIndexOf,
  type Floor,
  MAX_ABS_Y,
  normalizeChunkIndex,
  normalizeX,
  type Point,
  RING_CIRCUMFERENCE,
  wrappedDelta,
} from './ring';

/**
 * Racing routes over the generated road/transit network. Works in a local frame: X = metres from the start
 * of the chunk holding the first point, unwrapped (each step the short way round), so routes across the
 * wrap point are ordinary paths. Output coordinates are ring positions again (x ∈ [0, C), consecutive
 * points joined the short way), the same convention as zone polygons.
 */
export const MAX_ROUTE_CHUNKS = 256;
/** A start, end or checkpoint farther than this from any usable edge is "not on the network". */
export const MAX_SNAP_DISTANCE = 250;
export const DEFAULT_TOLERANCE = 5;
/** A manual route must start/end/pass within this of the network point nearest the start/end/checkpoint. */
export const WAYPOINT_RADIUS = 50;
export const MAX_ROUTE_POSITIONS = 10_000;

export interface LineString {
  type: 'LineString';
  coordinates: [number, number][];
}

export interface RouteQuery {
  worldSeed: number;
  floor: Floor;
  start: Point;
  end: Point;
  checkpoints?: Point[];
  /** Network modes a vehicle may use; default roads only. */
  modes?: EdgeMode[];
}

export interface PlannedRoute {
  route: LineString;
  /** Metres along the route. */
  length: number;
  /** Metres of each leg (start → checkpoint 1 → … → end). */
  legs: number[];
  /** The network points the start, checkpoints and end were snapped to, in order. */
  waypoints: Point[];
}

const routeError = (issue: string, message: string, extra: Record<string, unknown> = {}) =>
  new ApiError('INVALID_REQUEST', message, { details: { field: 'route', issue, ...extra } });

// ---- the network of a span of chunks ----------------------------------------------------------------------

interface Edge {
  a: number;
  b: number;
  len: number;
}

interface Network {
  frameStart: number;
  xs: number[];
  ys: number[];
  edges: Edge[];
  adj: { to: number; len: number }[][];
}

/** Builds the graph of chunk offsets kFrom..kTo around the frame chunk; nodes on shared edges merge. */
function buildNetwork(
  worldSeed: number,
  floor: Floor,
  frameChunk: number,
  kFrom: number,
  kTo: number,
  modes: EdgeMode[],
): Network {
  if (kTo - kFrom + 1 > MAX_ROUTE_CHUNKS) {
    throw routeError('too_long', `A route may span at most ${MAX_ROUTE_CHUNKS} chunks (${MAX_ROUTE_CHUNKS} km)`);
  }
  const net: Network = { frameStart: frameChunk * CHUNK_LENGTH, xs: [], ys: [], edges: [], adj: [] };
  const ids = new Map<string, number>();
  const node = (x: number, y: number) => {
    const key = `${x},${y}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = net.xs.length;
      ids.set(key, id);
      net.xs.push(x);
      net.ys.push(y);
      net.adj.push([]);
    }
    return id;
  };
  for (let k = kFrom; k <= kTo; k++) {
    const offset = k * CHUNK_LENGTH;
    for (const e of localNetwork(worldSeed, floor, normalizeChunkIndex(frameChunk + k)).edges) {
      if (!modes.includes(e.mode)) continue;
      const a = node(offset + e.a[0], e.a[1]);
      const b = node(offset + e.b[0], e.b[1]);
      const len = Math.hypot(e.b[0] - e.a[0], e.b[1] - e.a[1]);
      net.edges.push({ a, b, len });
      net.adj[a]!.push({ to: b, len });
      net.adj[b]!.push({ to: a, len });
    }
  }
  return net;
}

const pos = (net: Network, id: number): Vec => [net.xs[id]!, net.ys[id]!];

interface Snap {
  edge: Edge;
  t: number;
  point: Vec;
  distance: number;
}

function snap(net: Network, p: Vec): Snap | null {
  let best: Snap | null = null;
  for (const edge of net.edges) {
    const pr = projectOnSegment(p, pos(net, edge.a), pos(net, edge.b));
    if (!best || pr.distance < best.distance) best = { edge, t: pr.t, point: pr.point, distance: pr.distance };
  }
  return best && best.distance <= MAX_SNAP_DISTANCE ? best : null;
}

/** Min-heap of [priority, node]. */
class Heap {
  private items: [number, number][] = [];
  get size() {
    return this.items.length;
  }
  push(item: [number, number]) {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]![0] <= a[i]![0]) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): [number, number] {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]![0] < a[m]![0]) m = l;
        if (r < a.length && a[r]![0] < a[m]![0]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * A* from snap s to snap t. Virtual nodes S and T sit on their edges and link to the edge's ends (and to each
 * other when both lie on one edge). Returns the path as frame points, or null when unreachable.
 */
function shortestPath(net: Network, s: Snap, t: Snap): { points: Vec[]; length: number } | null {
  const n = net.xs.length;
  const S = n;
  const T = n + 1;
  const extra = new Map<number, { to: number; len: number }[]>();
  const link = (a: number, b: number, len: number) => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const list = extra.get(x) ?? [];
      list.push({ to: y, len });
      extra.set(x, list);
    }
  };
  link(S, s.edge.a, s.t * s.edge.len);
  link(S, s.edge.b, (1 - s.t) * s.edge.len);
  link(T, t.edge.a, t.t * t.edge.len);
  link(T, t.edge.b, (1 - t.t) * t.edge.len);
  if (s.edge === t.edge) link(S, T, Math.abs(s.t - t.t) * s.edge.len);
  const at = (id: number): Vec => (id === S ? s.point : id === T ? t.point : pos(net, id));
  const goal = t.point;
  const h = (id: number) => distance(at(id), goal);
  const g = new Float64Array(n + 2).fill(Number.POSITIVE_INFINITY);
  const prev = new Int32Array(n + 2).fill(-1);
  const done = new Uint8Array(n + 2);
  g[S] = 0;
  const heap = new Heap();
  heap.push([h(S), S]);
  while (heap.size > 0) {
    const [, u] = heap.pop();
    if (done[u]) continue;
    done[u] = 1;
    if (u === T) break;
    const out = [...(u < n ? net.adj[u]! : []), ...(extra.get(u) ?? [])];
    for (const { to, len } of out) {
      const cand = g[u]! + len;
      if (cand < g[to]!) {
        g[to] = cand;
        prev[to] = u;
        heap.push([cand + h(to), to]);
      }
    }
  }
  if (!Number.isFinite(g[T]!)) return null;
  const ids: number[] = [];
  for (let v = T; v !== -1; v = prev[v]!) ids.push(v);
  return { points: ids.reverse().map(at), length: g[T]! };
}

/** Drops repeated points and middle points of straight runs. */
function simplify(points: Vec[]): Vec[] {
  const out: Vec[] = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) continue;
    const before = out[out.length - 2];
    if (before && last) {
      const cross = (last[0] - before[0]) * (p[1] - last[1]) - (last[1] - before[1]) * (p[0] - last[0]);
      const dot = (last[0] - before[0]) * (p[0] - last[0]) + (last[1] - before[1]) * (p[1] - last[1]);
      if (cross === 0 && dot > 0) out.pop();
    }
    out.push(p);
  }
  return out;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const toRing = (frameStart: number, [x, y]: Vec): [number, number] => [round3(normalizeX(frameStart + x)), round3(y)];

/** Frame X of each point, each the short way from the previous one; the frame starts at the first point's chunk. */
function frameOf(points: Point[]): { frameChunk: number; xs: number[] } {
  const frameChunk = chunkIndexOf(points[0]!.x);
  const xs: number[] = [];
  let x = points[0]!.x - frameChunk * CHUNK_LENGTH;
  points.forEach((p, i) => {
    if (i > 0) x += wrappedDelta(points[i - 1]!.x, p.x);
    xs.push(x);
  });
  return { frameChunk, xs };
}

const chunkSpan = (xs: number[]) => ({
  kFrom: Math.floor(Math.min(...xs) / CHUNK_LENGTH) - 1,
  kTo: Math.floor(Math.max(...xs) / CHUNK_LENGTH) + 1,
});

/** `route_generation: "auto"`: shortest path start → checkpoints (in order) → end, each leg the short way. */
export function findRoute(q: RouteQuery): PlannedRoute {
  const modes = q.modes ?? ['road'];
  const stops = [q.start, ...(q.checkpoints ?? []), q.end];
  const { frameChunk, xs } = frameOf(stops);
  const { kFrom, kTo } = chunkSpan(xs);
  const net = buildNetwork(q.worldSeed, q.floor, frameChunk, kFrom, kTo, modes);
  const snaps = stops.map((p, i) => {
    const s = snap(net, [xs[i]!, p.y]);
    if (!s) {
      const field = i === 0 ? 'start_point' : i === stops.length - 1 ? 'end_point' : `checkpoints[${i - 1}]`;
      throw new ApiError('INVALID_REQUEST', `${field} is more than ${MAX_SNAP_DISTANCE} m from any usable road or line`, {
        details: {
          field,
          issue: 'off_network',
        },
      });
    }
    return s;
  });
  const points: Vec[] = [];
  const legs: number[] = [];
  for (let i = 0; i + 1 < snaps.length; i++) {
    const leg = shortestPath(net, snaps[i]!, snaps[i + 1]!);
    if (!leg) throw routeError('unreachable', `No connected path for leg ${i + 1}`, { leg: i });
    points.push(...leg.points);
    legs.push(leg.length);
  }
  return {
    route: { type: 'LineString', coordinates: simplify(points).map((p) => toRing(net.frameStart, p)) },
    length: legs.reduce((s, l) => s + l, 0),
    legs,
    waypoints: snaps.map((s) => {
      const [x, y] = toRing(net.frameStart, s.point);
      return { x, y };
    }),
  };
}

// ---- manual routes ----------------------------------------------------------------------------------------

/** Parses a GeoJSON LineString of ring positions (x ∈ [0, C], |y| ≤ MAX_ABS_Y). */
export function parseLineString(value: unknown, field = 'route'): LineString {
  const bad = (issue: string, message: string, extra: Record<string, unknown> = {}) =>
    new ApiError('INVALID_REQUEST', message, { details: { field, issue, ...extra } });
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'LineString') {
    throw bad('bad_type', `${field} must be a GeoJSON LineString`);
  }
  const coords = (value as { coordinates?: unknown }).coordinates;
  if (!Array.isArray(coords)) throw bad('bad_type', `${field}.coordinates must be an array`);
  if (coords.length < 2) throw bad('too_few_positions', `${field} needs at least two positions`);
  if (coords.length > MAX_ROUTE_POSITIONS)
    throw bad('too_many_positions', `${field} may have at most ${MAX_ROUTE_POSITIONS} positions`);
  const out = coords.map((p: unknown, i): [number, number] => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number') {
      throw bad('bad_position', `Position ${i} must be [x, y]`, { position: i });
    }
    const [x, y] = p as [number, number];
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw bad('non_finite', `Position ${i} is not finite`, { position: i });
    if (x < 0 || x > RING_CIRCUMFERENCE || Math.abs(y) > MAX_ABS_Y) {
      throw bad('out_of_range', `Position ${i} is outside the ring`, { position: i });
    }
    return [normalizeX(x), y];
  });
  return { type: 'LineString', coordinates: out };
}

/** Uniform grid over edges so "which edges are within tolerance of p" is cheap. */
function edgeGrid(net: Network, cell: number) {
  const grid = new Map<string, number[]>();
  net.edges.forEach((e, i) => {
    const [ax, ay] = pos(net, e.a);
    const [bx, by] = pos(net, e.b);
    for (let gx = Math.floor(Math.min(ax, bx) / cell); gx <= Math.floor(Math.max(ax, bx) / cell); gx++) {
      for (let gy = Math.floor(Math.min(ay, by) / cell); gy <= Math.floor(Math.max(ay, by) / cell); gy++) {
        const key = `${gx},${gy}`;
        const list = grid.get(key) ?? [];
        list.push(i);
        grid.set(key, list);
      }
    }
  });
  return (p: Vec, tol: number): number[] => {
    const found = new Set<number>();
    for (let gx = Math.floor((p[0] - tol) / cell); gx <= Math.floor((p[0] + tol) / cell); gx++) {
      for (let gy = Math.floor((p[1] - tol) / cell); gy <= Math.floor((p[1] + tol) / cell); gy++) {
        for (const i of grid.get(`${gx},${gy}`) ?? []) {
          const e = net.edges[i]!;
          if (projectOnSegment(p, pos(net, e.a), pos(net, e.b)).distance <= tol) found.add(i);
        }
      }
    }
    return [...found];
  };
}

export interface ManualRouteCheck extends RouteQuery {
  route: unknown;
  /** Metres a route may stray from a road's centre line; default 5. */
  tolerance?: number;
}

/**
 * `route_generation: "manual"`: the route must run on the network (every point sampled at most `tolerance`
 * apart within `tolerance` of a usable edge, and consecutive samples on the same or touching edges, so it
 * cannot hop between roads that do not meet), start and end at the start/end point's network spot, and pass
 * the checkpoints in order. Returns the parsed route and its length; errors name the failing segment.
 */
export function validateManualRoute(q: ManualRouteCheck): { route: LineString; length: number } {
  const tolerance = q.tolerance ?? DEFAULT_TOLERANCE;
  const route = parseLineString(q.route);
  const pts = route.coordinates.map(([x, y]) => ({ x, y }));
  const stops = [q.start, ...(q.checkpoints ?? []), q.end];
  const { frameChunk, xs } = frameOf([...pts, ...stops]);
  const routeXs = xs.slice(0, pts.length);
  // Stops in the route's frame: each the short way from the route's first point.
  const first = routeXs[0]!;
  const stopXs = stops.map((s) => first + wrappedDelta(pts[0]!.x, s.x));
  const { kFrom, kTo } = chunkSpan([...routeXs, ...stopXs]);
  const net = buildNetwork(q.worldSeed, q.floor, frameChunk, kFrom, kTo, q.modes ?? ['road']);
  const near = edgeGrid(net, 50);
  const targets = stops.map((s, i) => {
    const sn = snap(net, [stopXs[i]!, s.y]);
    if (!sn) throw routeError('off_network', 'A start, end or checkpoint is not near the network', { stop: i });
    return sn.point;
  });

  const step = Math.max(1, tolerance);
  let next = 1; // index into targets of the next checkpoint to pass (targets[0] is the start)
  let prevNear: number[] | null = null;
  let length = 0;
  const startTarget = targets[0]!;
  const p0: Vec = [routeXs[0]!, pts[0]!.y];
  if (distance(p0, startTarget) > WAYPOINT_RADIUS) {
    throw routeError('wrong_start', `The route must start within ${WAYPOINT_RADIUS} m of the start point's road`);
  }
  for (let i = 0; i + 1 < pts.length; i++) {
    const a: Vec = [routeXs[i]!, pts[i]!.y];
    const b: Vec = [routeXs[i + 1]!, pts[i + 1]!.y];
    const segLen = distance(a, b);
    length += segLen;
    const n = Math.max(1, Math.ceil(segLen / step));
    for (let k = i === 0 ? 0 : 1; k <= n; k++) {
      const p: Vec = [a[0] + ((b[0] - a[0]) * k) / n, a[1] + ((b[1] - a[1]) * k) / n];
      const here = near(p, tolerance);
      const at = () => toRing(net.frameStart, p);
      if (here.length === 0) throw routeError('off_network', `Segment ${i} leaves the network`, { segment: i, position: at() });
      if (prevNear && !connected(net, prevNear, here)) {
        throw routeError('disconnected', `Segment ${i} jumps between roads that do not meet`, { segment: i, position: at() });
      }
      prevNear = here;
      // Checkpoints (not the end) are passed in order.
      if (next < targets.length - 1 && distance(p, targets[next]!) <= WAYPOINT_RADIUS) next++;
    }
  }
  if (next < targets.length - 1) {
    throw routeError('checkpoint_missed', `The route does not pass checkpoint ${next} in order`, { checkpoint: next - 1 });
  }
  const last: Vec = [routeXs[routeXs.length - 1]!, pts[pts.length - 1]!.y];
  if (distance(last, targets[targets.length - 1]!) > WAYPOINT_RADIUS) {
    throw routeError('wrong_end', `The route must end within ${WAYPOINT_RADIUS} m of the end point's road`);
  }
  return { route, length };
}

/** Two sample neighbourhoods connect when they share an edge or hold edges with a common node. */
function connected(net: Network, a: number[], b: number[]): boolean {
  const nodes = new Set<number>();
  for (const i of a) {
    if (b.includes(i)) return true;
    nodes.add(net.edges[i]!.a);
    nodes.add(net.edges[i]!.b);
  }
  return b.some((i) => nodes.has(net.edges[i]!.a) || nodes.has(net.edges[i]!.b));
}
