import type { Lod } from './chunks';
import type { Vec } from './geometry';
import { CHUNK_LENGTH, type Floor, formatChunkId, normalizeChunkIndex, normalizeX, RING_CIRCUMFERENCE, RING_WIDTH } from './ring';
import type { PolygonGeometry, ZoneType } from './zones';

/**
 * Deterministic procedural generation of one chunk: 1,000 m along the ring (x) by 400 m across it
 * (y ∈ [−200, 200], the seed's `"width": 400.0`). Only integer arithmetic, +, −, ×, ÷ and floor are used
 * (no Math.sin/exp, whose last bits may differ between engines), so output is byte-identical everywhere.
 *
 * What depends on what:
 * - terrain heights: world seed, floor and the world position only (value noise on a lattice that wraps
 *   with the ring), so the heights on a shared chunk edge agree from both sides;
 * - road crossings on a chunk edge: world seed, floor and the edge only (`edgeLanes`), so the roads of two
 *   neighbours meet at the same points whichever chunk is generated first;
 * - everything inside a chunk: the chunk seed.
 * Roads, transit, buildings and zones are the same at every LOD (ids and routes must not change with the
 * viewer's detail level); LOD only sets the terrain grid spacing.
 */

// ---- hashing and PRNG -------------------------------------------------------------------------------------

/** MurmurHash3's 32-bit finaliser: a bijective avalanche mix of one 32-bit word. */
export function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85eb_ca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2_ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** h = 0x9E3779B9; for each word w (as uint32): h = fmix32(h XOR w). Returns h as uint32. */
export function hashWords(...words: number[]): number {
  let h = 0x9e37_79b9;
  for (const w of words) h = fmix32(h ^ (w >>> 0));
  return h;
}

/**
 * The chunk seed, exactly:
 *   chunk_seed = fmix32(fmix32(fmix32(0x9E3779B9 ^ world_seed) ^ (floor + 2)) ^ chunk_index)
 * with uint32 arithmetic and fmix32 the MurmurHash3 finaliser. (floor + 2 maps floors −2..15 to 0..17.)
 */
export const chunkSeed = (worldSeed: number, floor: Floor, chunkIndex: number): number =>
  hashWords(worldSeed, floor + 2, chunkIndex);

export interface Rng {
  /** Next uint32. */
  u32(): number;
  /** Uniform in [0, 1). */
  float(): number;
  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: a small, fast 32-bit PRNG; same seed, same sequence. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const u32 = () => {
    a = (a + 0x6d2b_79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const float = () => u32() / 4_294_967_296;
  const int = (min: number, max: number) => min + Math.floor(float() * (max - min + 1));
  return { u32, float, int, pick: (items) => items[int(0, items.length - 1)]! };
}

// ---- layout constants -------------------------------------------------------------------------------------

export const HALF_WIDTH = RING_WIDTH / 2;
/** Streets across the ring run between these y values; buildings keep inside ±BUILD_LIMIT_Y. */
export const STREET_END_Y = 170;
const BUILD_LIMIT_Y = 165;
/** The ring-long transit line runs along this y, outside the street grid (no level crossings). */
export const TRANSIT_Y = 185;
export const HIGHWAY_WIDTH = 24;
export const STREET_WIDTH = 12;
/** Terrain grid spacing per LOD, metres: 11×5, 41×17 and 101×41 vertices per chunk. */
export const TERRAIN_SPACING: Record<Lod, number> = { low: 100, medium: 25, high: 10 };

const SALT = { lanes: 0x4c41_4e45, streets: 0x5354_5245, buildings: 0x4255_494c, zones: 0x5a4f_4e45, transit: 0x5452_414e };

// ---- the road/transit network in chunk-local coordinates (u = x − chunk start) ----------------------------

export type EdgeMode = 'road' | 'transit';
export type EdgeKind = 'highway' | 'street' | 'line' | 'connector';

export interface LocalEdge {
  mode: EdgeMode;
  kind: EdgeKind;
  /** [u, y] with u ∈ [0, 1000]. */
  a: Vec;
  b: Vec;
}

export interface LocalNetwork {
  /** Cross streets' u positions, ascending. */
  streets: number[];
  edges: LocalEdge[];
  /** Station positions [u, y] on the transit line. */
  stations: Vec[];
}

/**
 * y values where roads cross the edge at x = edgeIndex·1000 (between chunk edgeIndex−1 and edgeIndex):
 * always the highway at y = 0, plus one or two streets, at least 40 m apart, multiples of 10 in ±160.
 */
export function edgeLanes(worldSeed: number, floor: Floor, edgeIndex: number): number[] {
  const rng = createRng(hashWords(worldSeed, floor + 2, normalizeChunkIndex(edgeIndex), SALT.lanes));
  const lanes = [0];
  const extra = rng.int(1, 2);
  for (let tries = 0; lanes.length < extra + 1 && tries < 16; tries++) {
    const y = rng.int(-16, 16) * 10;
    if (lanes.every((l) => Math.abs(l - y) >= 40)) lanes.push(y);
  }
  return lanes.sort((p, q) => p - q);
}

function pickInternalLanes(rng: Rng, taken: number[]): number[] {
  const out: number[] = [];
  const want = rng.int(0, 2);
  for (let tries = 0; out.length < want && tries < 16; tries++) {
    const y = rng.int(-16, 16) * 10;
    if ([...taken, ...out].every((l) => Math.abs(l - y) >= 30)) out.push(y);
  }
  return out;
}

/** The chunk's roads and transit in local coordinates; cheap (no terrain/buildings), used by routing. */
export function localNetwork(worldSeed: number, floor: Floor, chunkIndex: number): LocalNetwork {
  const seed = chunkSeed(worldSeed, floor, chunkIndex);
  const rng = createRng(hashWords(seed, SALT.streets));
  const left = edgeLanes(worldSeed, floor, chunkIndex);
  const right = edgeLanes(worldSeed, floor, chunkIndex + 1);

  // Two or three cross streets, one per equal slot of [100, 900], snapped to 10 m.
  const count = rng.int(2, 3);
  const slot = 800 / count;
  const streets = Array.from(
    { length: count },
    (_, k) => Math.round((100 + slot * k + rng.float() * (slot - 60) + 30) / 10) * 10,
  );

  const edges: LocalEdge[] = [];
  const road = (a: Vec, b: Vec, y: number) => edges.push({ mode: 'road', kind: y === 0 ? 'highway' : 'street', a, b });
  const nodesOn: number[][] = streets.map(() => [-STREET_END_Y, STREET_END_Y]);
  const first = streets[0]!;
  const last = streets[streets.length - 1]!;
  for (const y of left) {
    road([0, y], [first, y], y);
    nodesOn[0]!.push(y);
  }
  for (const y of right) {
    road([last, y], [CHUNK_LENGTH, y], y);
    nodesOn[streets.length - 1]!.push(y);
  }
  for (let k = 0; k + 1 < streets.length; k++) {
    for (const y of [0, ...pickInternalLanes(rng, [0])]) {
      road([streets[k]!, y], [streets[k + 1]!, y], y);
      nodesOn[k]!.push(y);
      nodesOn[k + 1]!.push(y);
    }
  }
  streets.forEach((u, k) => {
    const ys = [...new Set(nodesOn[k])].sort((p, q) => p - q);
    for (let i = 0; i + 1 < ys.length; i++) edges.push({ mode: 'road', kind: 'street', a: [u, ys[i]!], b: [u, ys[i + 1]!] });
  });

  // The transit line runs the whole ring; a third of the chunks have a station on their first cross street.
  const stations: Vec[] = [];
  if (hashWords(seed, SALT.transit) % 3 === 0) {
    stations.push([first, TRANSIT_Y]);
    edges.push({ mode: 'transit', kind: 'line', a: [0, TRANSIT_Y], b: [first, TRANSIT_Y] });
    edges.push({ mode: 'transit', kind: 'line', a: [first, TRANSIT_Y], b: [CHUNK_LENGTH, TRANSIT_Y] });
    edges.push({ mode: 'transit', kind: 'connector', a: [first, STREET_END_Y], b: [first, TRANSIT_Y] });
  } else {
    edges.push({ mode: 'transit', kind: 'line', a: [0, TRANSIT_Y], b: [CHUNK_LENGTH, TRANSIT_Y] });
  }
  return { streets, edges, stations };
}

// ---- terrain ----------------------------------------------------------------------------------------------

const smooth = (t: number) => t * t * (3 - 2 * t);

/** Value noise in [0, 1) on a lattice of `cell` metres that wraps with the ring (C is a multiple of cell). */
function valueNoise(worldSeed: number, floor: Floor, octave: number, cell: number, x: number, y: number): number {
  const period = RING_CIRCUMFERENCE / cell;
  const fx = normalizeX(x) / cell;
  const fy = (y + HALF_WIDTH) / cell;
  const i0 = Math.floor(fx);
  const j0 = Math.floor(fy);
  const tx = smooth(fx - i0);
  const ty = smooth(fy - j0);
  const v = (i: number, j: number) => hashWords(worldSeed, floor + 2, octave, i % period, j) / 4_294_967_296;
  const top = v(i0, j0) + (v(i0 + 1, j0) - v(i0, j0)) * tx;
  const bottom = v(i0, j0 + 1) + (v(i0 + 1, j0 + 1) - v(i0, j0 + 1)) * tx;
  return top + (bottom - top) * ty;
}

/** Deck height in metres at a world position: gentle relief (±1.25 m) of the ring's built surface. */
export function terrainHeight(worldSeed: number, floor: Floor, x: number, y: number): number {
  const h = 2 * valueNoise(worldSeed, floor, 0, 200, x, y) + 0.5 * valueNoise(worldSeed, floor, 1, 40, x, y) - 1.25;
  return Math.fround(h);
}

// ---- the generated chunk ----------------------------------------------------------------------------------

export interface Terrain {
  cols: number;
  rows: number;
  spacing: number;
  /** World x of column 0 (the chunk start) and y of row 0 (−200). */
  originX: number;
  originY: number;
  /** Row-major heights (row = y step, column = x step), float32 values. */
  heights: number[];
}

export interface RoadSegment {
  id: string;
  kind: 'highway' | 'street';
  width: number;
  from: Vec;
  to: Vec;
}

export interface TransitSegment {
  id: string;
  kind: 'line' | 'connector';
  line: string;
  from: Vec;
  to: Vec;
}

export interface Station {
  id: string;
  line: string;
  position: Vec;
}

export type BuildingKind = Extract<ZoneType, 'residential' | 'commercial' | 'industrial'>;

export interface Building {
  id: string;
  kind: BuildingKind;
  /** Closed axis-aligned rectangle, GeoJSON ring order. */
  footprint: Vec[];
  height: number;
  floors: number;
}

export interface GeneratedZone {
  id: string;
  name: string;
  zone_type: ZoneType;
  geometry: PolygonGeometry;
}

export interface GeneratedChunk {
  chunk: {
    chunk_id: string;
    floor: Floor;
    chunk_index: number;
    width: number;
    length: number;
    version: number;
    lod: Lod;
    world_seed: number;
    chunk_seed: number;
  };
  terrain: Terrain;
  roads: RoadSegment[];
  transit: TransitSegment[];
  stations: Station[];
  buildings: Building[];
  zones: GeneratedZone[];
}

export interface GenerateChunkInput {
  floor: Floor;
  chunkIndex: number;
  lod: Lod;
  worldSeed: number;
}

export const TRANSIT_LINE = 'ring_line';

const DISTRICT_TYPES: readonly ZoneType[] = ['residential', 'residential', 'commercial', 'commercial', 'industrial', 'park'];
const HEIGHTS: Record<BuildingKind, [number, number]> = { residential: [3, 14], commercial: [5, 40], industrial: [2, 6] };
const DENSITY: Record<BuildingKind, number> = { residential: 0.55, commercial: 0.7, industrial: 0.4 };

/** Whether rectangle r (u0, y0, u1, y1) keeps `clear` metres from a network edge (axis-aligned). */
function clearOf(r: [number, number, number, number], e: LocalEdge, clear: number): boolean {
  const half = (e.kind === 'highway' ? HIGHWAY_WIDTH : STREET_WIDTH) / 2 + clear;
  const eu0 = Math.min(e.a[0], e.b[0]) - half;
  const eu1 = Math.max(e.a[0], e.b[0]) + half;
  const ey0 = Math.min(e.a[1], e.b[1]) - half;
  const ey1 = Math.max(e.a[1], e.b[1]) + half;
  return r[2] <= eu0 || r[0] >= eu1 || r[3] <= ey0 || r[1] >= ey1;
}

/** Generates one chunk. Pure and deterministic: equal inputs give deep-equal (and byte-equal) output. */
export function generateChunk({ floor, chunkIndex, lod, worldSeed }: GenerateChunkInput): GeneratedChunk {
  const chunkId = formatChunkId({ floor, chunkIndex });
  const seed = chunkSeed(worldSeed, floor, chunkIndex);
  const start = chunkIndex * CHUNK_LENGTH;
  const abs = ([u, y]: Vec): Vec => [normalizeX(start + u), y];
  const net = localNetwork(worldSeed, floor, chunkIndex);

  // Terrain grid.
  const spacing = TERRAIN_SPACING[lod];
  const cols = CHUNK_LENGTH / spacing + 1;
  const rows = RING_WIDTH / spacing + 1;
  const heights: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) heights.push(terrainHeight(worldSeed, floor, start + c * spacing, -HALF_WIDTH + r * spacing));
  }

  // Roads and transit.
  const roads: RoadSegment[] = [];
  const transit: TransitSegment[] = [];
  for (const e of net.edges) {
    if (e.mode === 'road') {
      const kind = e.kind === 'highway' ? 'highway' : 'street';
      roads.push({
        id: `${chunkId}:r${roads.length}`,
        kind,
        width: kind === 'highway' ? HIGHWAY_WIDTH : STREET_WIDTH,
        from: abs(e.a),
        to: abs(e.b),
      });
    } else {
      transit.push({
        id: `${chunkId}:t${transit.length}`,
        kind: e.kind === 'connector' ? 'connector' : 'line',
        line: TRANSIT_LINE,
        from: abs(e.a),
        to: abs(e.b),
      });
    }
  }
  const stations = net.stations.map((p, i) => ({ id: `${chunkId}:s${i}`, line: TRANSIT_LINE, position: abs(p) }));

  // Districts: the spans between cross streets, each a zone type; equal neighbours merge.
  const zrng = createRng(hashWords(seed, SALT.zones));
  const cuts = [0, ...net.streets, CHUNK_LENGTH];
  const districts: { u0: number; u1: number; type: ZoneType }[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    const type = zrng.pick(DISTRICT_TYPES);
    const prev = districts[districts.length - 1];
    if (prev && prev.type === type) prev.u1 = cuts[k + 1]!;
    else districts.push({ u0: cuts[k]!, u1: cuts[k + 1]!, type });
  }
  const zones: GeneratedZone[] = districts.map((d, i) => {
    const ring: [number, number][] = [
      [d.u0, -HALF_WIDTH],
      [d.u1, -HALF_WIDTH],
      [d.u1, HALF_WIDTH],
      [d.u0, HALF_WIDTH],
      [d.u0, -HALF_WIDTH],
    ].map(([u, y]) => abs([u!, y!]) as [number, number]);
    return {
      id: `${chunkId}:z${i}`,
      name: `${d.type} district ${chunkId}/${i}`,
      zone_type: d.type,
      geometry: { type: 'Polygon', coordinates: [ring] },
    };
  });

  // Buildings: one candidate lot per 40 m cell, kept clear of every road; size and height by district.
  const brng = createRng(hashWords(seed, SALT.buildings));
  const buildings: Building[] = [];
  const roadEdges = net.edges.filter((e) => e.mode === 'road');
  for (let cu = 20; cu < CHUNK_LENGTH; cu += 40) {
    const district = districts.find((d) => cu >= d.u0 && cu < d.u1)!;
    for (let cy = -BUILD_LIMIT_Y + 20; cy <= BUILD_LIMIT_Y - 20; cy += 40) {
      const roll = brng.float();
      const w = brng.int(7, 15) * 2;
      const d = brng.int(7, 15) * 2;
      const storeys = brng.u32();
      if (district.type === 'park' || district.type === 'mixed_use' || !(district.type in DENSITY)) continue;
      const kind = district.type as BuildingKind;
      if (roll >= DENSITY[kind]) continue;
      const rect: [number, number, number, number] = [cu - w / 2, cy - d / 2, cu + w / 2, cy + d / 2];
      if (rect[0] < 5 || rect[2] > CHUNK_LENGTH - 5 || rect[1] < -BUILD_LIMIT_Y || rect[3] > BUILD_LIMIT_Y) continue;
      if (!roadEdges.every((e) => clearOf(rect, e, 4))) continue;
      const [lo, hi] = HEIGHTS[kind];
      const floors = lo + (storeys % (hi - lo + 1));
      const footprint: Vec[] = [
        abs([rect[0], rect[1]]),
        abs([rect[2], rect[1]]),
        abs([rect[2], rect[3]]),
        abs([rect[0], rect[3]]),
        abs([rect[0], rect[1]]),
      ];
      buildings.push({ id: `${chunkId}:b${buildings.length}`, kind, footprint, height: floors * 4, floors });
    }
  }

  return {
    chunk: {
      chunk_id: chunkId,
      floor,
      chunk_index: chunkIndex,
      width: RING_WIDTH,
      length: CHUNK_LENGTH,
      version: 1,
      lod,
      world_seed: worldSeed >>> 0,
      chunk_seed: seed,
    },
    terrain: { cols, rows, spacing, originX: start, originY: -HALF_WIDTH, heights },
    roads,
    transit,
    stations,
    buildings,
    zones,
  };
}

/** Generated content as structure records (`structures: [...]` of a chunk response), ids prefixed "gen:". */
export function generatedStructures(chunk: GeneratedChunk): {
  id: string;
  structure_type: 'building' | 'road' | 'transit';
  position: { x: number; y: number };
  floor: Floor;
  rotation: number;
  scale: number;
  properties: Record<string, unknown>;
}[] {
  const floor = chunk.chunk.floor;
  const mid = (a: Vec, b: Vec) => {
    const u = normalizeX(b[0] - a[0]);
    return { x: normalizeX(a[0] + u / 2), y: (a[1] + b[1]) / 2 };
  };
  return [
    ...chunk.buildings.map((b) => ({
      id: `gen:${b.id}`,
      structure_type: 'building' as const,
      position: mid(b.footprint[0]!, b.footprint[2]!),
      floor,
      rotation: 0,
      scale: 1,
      properties: { building_type: b.kind, height: b.height, floors: b.floors, footprint: b.footprint },
    })),
    ...chunk.roads.map((r) => ({
      id: `gen:${r.id}`,
      structure_type: 'road' as const,
      position: mid(r.from, r.to),
      floor,
      rotation: r.from[1] === r.to[1] ? 0 : 90,
      scale: 1,
      properties: { road_type: r.kind, width: r.width, from: r.from, to: r.to },
    })),
    ...chunk.transit.map((t) => ({
      id: `gen:${t.id}`,
      structure_type: 'transit' as const,
      position: mid(t.from, t.to),
      floor,
      rotation: t.from[1] === t.to[1] ? 0 : 90,
      scale: 1,
      properties: { transit_type: t.kind, line: t.line, from: t.from, to: t.to },
    })),
  ];
}
