import { ApiError } from '../errors';
import type { GeneratedChunk } from './procgen';
import {
  CHUNK_LENGTH,
  CHUNKS_PER_FLOOR,
  type ChunkRef,
  chunkIndexOf,
  type Floor,
  formatChunkId,
  normalizeChunkIndex,
  normalizeX,
  parseChunkId,
  parseChunkIndex,
  parseFloor,
} from './ring';

/** Chunk requests and metadata: what `GET /api/chunks/{id}`, `POST /api/chunks/request`, `chunk_request`
 * and `POST /api/v1/chunks/generate` accept, and which chunks a change touches. */
export const LOD_LEVELS = ['low', 'medium', 'high'] as const;
export type Lod = (typeof LOD_LEVELS)[number];
export const DEFAULT_LOD: Lod = 'medium';
/** The seed's `WORLD_SEED` default. */
export const DEFAULT_WORLD_SEED = 12_345;
/** One request loads at most this many chunks (a 5 km view each way plus the player's own chunk fits). */
export const MAX_CHUNKS_PER_REQUEST = 32;

export interface ChunkMetadata {
  id: string;
  floor: Floor;
  chunk_index: number;
  version: number;
  last_modified: string | null;
  is_dirty: boolean;
}

/**
 * Metadata of a chunk nobody has changed yet: version 1 is the generated baseline (as the generator's
 * response says); every zone or structure change in the chunk bumps it.
 */
export const defaultChunkMetadata = (ref: ChunkRef): ChunkMetadata => ({
  id: formatChunkId(ref),
  floor: ref.floor,
  chunk_index: ref.chunkIndex,
  version: 1,
  last_modified: null,
  is_dirty: false,
});

export function parseLod(value: unknown, field = 'lod_level'): Lod {
  if (value === undefined || value === null) return DEFAULT_LOD;
  if (typeof value !== 'string' || !(LOD_LEVELS as readonly string[]).includes(value)) {
    throw new ApiError('INVALID_REQUEST', `${field} must be one of ${LOD_LEVELS.join(', ')}`, {
      details: { field, issue: 'unknown_lod' },
    });
  }
  return value as Lod;
}

/** World seeds are unsigned 32-bit integers; absent means DEFAULT_WORLD_SEED. Numeric strings are accepted. */
export function parseWorldSeed(value: unknown, field = 'world_seed'): number {
  if (value === undefined || value === null || value === '') return DEFAULT_WORLD_SEED;
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new ApiError('INVALID_REQUEST', `${field} must be an integer from 0 to 4294967295`, {
      details: { field, issue: 'bad_seed' },
    });
  }
  return n;
}

export interface ChunkRequest {
  chunks: ChunkRef[];
  lod: Lod;
}

/** `{chunks: ["0_12345", ...], lod_level}`: ids validated one by one, duplicates dropped, order kept. */
export function parseChunkRequest(body: unknown): ChunkRequest {
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const ids = b.chunks;
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new ApiError('INVALID_REQUEST', 'chunks must be a non-empty array of chunk ids', {
      details: {
        field: 'chunks',
        issue: 'bad_type',
      },
    });
  }
  if (ids.length > MAX_CHUNKS_PER_REQUEST) {
    throw new ApiError('INVALID_REQUEST', `At most ${MAX_CHUNKS_PER_REQUEST} chunks per request`, {
      details: {
        field: 'chunks',
        issue: 'too_many',
      },
    });
  }
  const seen = new Set<string>();
  const chunks: ChunkRef[] = [];
  ids.forEach((id, i) => {
    const ref = parseChunkId(id, `chunks[${i}]`);
    const key = formatChunkId(ref);
    if (!seen.has(key)) {
      seen.add(key);
      chunks.push(ref);
    }
  });
  return { chunks, lod: parseLod(b.lod_level) };
}

export interface GenerateRequest {
  floor: Floor;
  chunkIndex: number;
  lod: Lod;
  worldSeed: number;
}

/** `POST /api/v1/chunks/generate` body: `{floor, chunk_index, lod_level, world_seed?}`. */
export function parseGenerateRequest(body: unknown): GenerateRequest {
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  return {
    floor: parseFloor(b.floor),
    chunkIndex: parseChunkIndex(b.chunk_index),
    lod: parseLod(b.lod_level),
    worldSeed: parseWorldSeed(b.world_seed),
  };
}

/**
 * The chunks an x extent touches on a floor (a zone's bbox; xMax may exceed C when it crosses the wrap).
 * These get a version bump and a `chunk_updated` when the zone changes.
 */
export function chunksInXRange(floor: Floor, xMin: number, xMax: number): ChunkRef[] {
  const first = Math.floor(xMin / CHUNK_LENGTH);
  const last = Math.max(first, Math.ceil(xMax / CHUNK_LENGTH) - 1);
  const count = Math.min(last - first + 1, CHUNKS_PER_FLOOR);
  return Array.from({ length: count }, (_, k) => ({ floor, chunkIndex: normalizeChunkIndex(first + k) }));
}

/** The chunk containing a point (re-exported here so chunk callers need one import). */
export const chunkRefAt = (floor: Floor, x: number): ChunkRef => ({ floor, chunkIndex: chunkIndexOf(x) });

// ---- binary geometry codec --------------------------------------------------------------------------------

/**
 * Chunk geometry as compact binary ("ERCG" v1), little-endian. The HTTP layer gzips it and base64-encodes
 * it for the JSON `geometry` field (gzip is a runtime API, so it is not done here). Coordinates are
 * chunk-local (u = x − chunk start, 0..1000; y as is) because float32 cannot hold ring x (2.64e8) to the
 * metre; the header carries the chunk to place them.
 *
 * Header, 48 bytes:
 *   0 u8[4] "ERCG"        4 u16 format (1)     6 u8 lod (0 low, 1 medium, 2 high)   7 u8 reserved (0)
 *   8 i32 floor           12 u32 chunk_index   16 u32 chunk_seed                    20 u32 world_seed
 *  24 u16 terrain cols   26 u16 terrain rows  28 f32 terrain spacing (m)
 *  32 u32 roads          36 u32 transit       40 u32 stations                       44 u32 buildings
 * Then, in this order:
 *   heights    f32[cols·rows], row-major from y = −200, column 0 at u = 0
 *   roads      per segment 24 bytes: f32 u0, y0, u1, y1, width; i32 kind (0 street, 1 highway)
 *   transit    per segment 20 bytes: f32 u0, y0, u1, y1; i32 kind (0 line, 1 connector)
 *   stations   per station  8 bytes: f32 u, y
 *   buildings  per building 24 bytes: f32 u_min, y_min, u_max, y_max, height; i32 kind
 *              (0 residential, 1 commercial, 2 industrial)
 * Records are listed in the same order as the generated chunk's arrays, so index i is element i.
 */
export const GEOMETRY_MAGIC = 'ERCG';
export const GEOMETRY_FORMAT = 1;
const HEADER_BYTES = 48;
const LOD_CODES: readonly Lod[] = ['low', 'medium', 'high'];
const BUILDING_KINDS = ['residential', 'commercial', 'industrial'] as const;

export interface DecodedGeometry {
  format: number;
  lod: Lod;
  floor: Floor;
  chunkIndex: number;
  chunkSeed: number;
  worldSeed: number;
  terrain: { cols: number; rows: number; spacing: number; heights: Float32Array };
  roads: { u0: number; y0: number; u1: number; y1: number; width: number; kind: 'street' | 'highway' }[];
  transit: { u0: number; y0: number; u1: number; y1: number; kind: 'line' | 'connector' }[];
  stations: { u: number; y: number }[];
  buildings: { uMin: number; yMin: number; uMax: number; yMax: number; height: number; kind: (typeof BUILDING_KINDS)[number] }[];
}

export function encodeChunkGeometry(chunk: GeneratedChunk): Uint8Array {
  const { terrain, roads, transit, stations, buildings } = chunk;
  const start = chunk.chunk.chunk_index * CHUNK_LENGTH;
  // Local u of a ring x in this chunk (the last chunk's right edge, stored as x = 0, comes out as 1000).
  const u = (x: number) => normalizeX(x - start);
  const size =
    HEADER_BYTES +
    4 * terrain.heights.length +
    24 * roads.length +
    20 * transit.length +
    8 * stations.length +
    24 * buildings.length;
  const buf = new ArrayBuffer(size);
  const v = new DataView(buf);
  for (let i = 0; i < 4; i++) v.setUint8(i, GEOMETRY_MAGIC.charCodeAt(i));
  v.setUint16(4, GEOMETRY_FORMAT, true);
  v.setUint8(6, LOD_CODES.indexOf(chunk.chunk.lod));
  v.setInt32(8, chunk.chunk.floor, true);
  v.setUint32(12, chunk.chunk.chunk_index, true);
  v.setUint32(16, chunk.chunk.chunk_seed, true);
  v.setUint32(20, chunk.chunk.world_seed, true);
  v.setUint16(24, terrain.cols, true);
  v.setUint16(26, terrain.rows, true);
  v.setFloat32(28, terrain.spacing, true);
  v.setUint32(32, roads.length, true);
  v.setUint32(36, transit.length, true);
  v.setUint32(40, stations.length, true);
  v.setUint32(44, buildings.length, true);
  let o = HEADER_BYTES;
  const f32 = (n: number) => {
    v.setFloat32(o, n, true);
    o += 4;
  };
  const i32 = (n: number) => {
    v.setInt32(o, n, true);
    o += 4;
  };
  for (const h of terrain.heights) f32(h);
  for (const r of roads) {
    f32(u(r.from[0]));
    f32(r.from[1]);
    f32(u(r.to[0]));
    f32(r.to[1]);
    f32(r.width);
    i32(r.kind === 'highway' ? 1 : 0);
  }
  for (const t of transit) {
    f32(u(t.from[0]));
    f32(t.from[1]);
    f32(u(t.to[0]));
    f32(t.to[1]);
    i32(t.kind === 'connector' ? 1 : 0);
  }
  for (const s of stations) {
    f32(u(s.position[0]));
    f32(s.position[1]);
  }
  for (const b of buildings) {
    const [p0, , p2] = b.footprint;
    f32(u(p0![0]));
    f32(p0![1]);
    f32(u(p2![0]));
    f32(p2![1]);
    f32(b.height);
    i32(BUILDING_KINDS.indexOf(b.kind));
  }
  return new Uint8Array(buf);
}

const decodeError = (issue: string, message: string) =>
  new ApiError('INVALID_REQUEST', message, { details: { field: 'geometry', issue } });

/** Inverse of encodeChunkGeometry; rejects truncated or foreign buffers. */
export function decodeChunkGeometry(bytes: Uint8Array): DecodedGeometry {
  if (bytes.byteLength < HEADER_BYTES) throw decodeError('truncated', 'Geometry buffer is shorter than its header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(v.getUint8(0), v.getUint8(1), v.getUint8(2), v.getUint8(3));
  if (magic !== GEOMETRY_MAGIC) throw decodeError('bad_magic', 'Not an ERCG geometry buffer');
  const format = v.getUint16(4, true);
  if (format !== GEOMETRY_FORMAT) throw decodeError('bad_format', `Unsupported geometry format ${format}`);
  const lod = LOD_CODES[v.getUint8(6)];
  if (!lod) throw decodeError('bad_format', 'Unknown LOD code');
  const cols = v.getUint16(24, true);
  const rows = v.getUint16(26, true);
  const [nRoads, nTransit, nStations, nBuildings] = [32, 36, 40, 44].map((at) => v.getUint32(at, true)) as [
    number,
    number,
    number,
    number,
  ];
  const need = HEADER_BYTES + 4 * cols * rows + 24 * nRoads + 20 * nTransit + 8 * nStations + 24 * nBuildings;
  if (bytes.byteLength !== need)
    throw decodeError('truncated', `Geometry buffer has ${bytes.byteLength} bytes, expected ${need}`);
  let o = HEADER_BYTES;
  const f32 = () => {
    const n = v.getFloat32(o, true);
    o += 4;
    return n;
  };
  const i32 = () => {
    const n = v.getInt32(o, true);
    o += 4;
    return n;
  };
  const heights = new Float32Array(cols * rows);
  for (let i = 0; i < heights.length; i++) heights[i] = f32();
  const roads = Array.from({ length: nRoads }, () => {
    const [u0, y0, u1, y1, width] = [f32(), f32(), f32(), f32(), f32()];
    return { u0, y0, u1, y1, width, kind: i32() === 1 ? ('highway' as const) : ('street' as const) };
  });
  const transit = Array.from({ length: nTransit }, () => {
    const [u0, y0, u1, y1] = [f32(), f32(), f32(), f32()];
    return { u0, y0, u1, y1, kind: i32() === 1 ? ('connector' as const) : ('line' as const) };
  });
  const stations = Array.from({ length: nStations }, () => ({ u: f32(), y: f32() }));
  const buildings = Array.from({ length: nBuildings }, () => {
    const [uMin, yMin, uMax, yMax, height] = [f32(), f32(), f32(), f32(), f32()];
    const kind = BUILDING_KINDS[i32()];
    if (!kind) throw decodeError('bad_format', 'Unknown building kind');
    return { uMin, yMin, uMax, yMax, height, kind };
  });
  return {
    format,
    lod,
    floor: v.getInt32(8, true),
    chunkIndex: v.getUint32(12, true),
    chunkSeed: v.getUint32(16, true),
    worldSeed: v.getUint32(20, true),
    terrain: { cols, rows, spacing: v.getFloat32(28, true), heights },
    roads,
    transit,
    stations,
    buildings,
  };
}
