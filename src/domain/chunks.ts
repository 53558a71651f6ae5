import { DomainError } from './errors';
import {
  CHUNK_LENGTH,
  CHUNKS_PER_FLOOR,
  type ChunkRef,
  chunkIndexOf,
  type Floor,
  formatChunkId,
  normalizeChunkIndex,
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
    throw new DomainError('INVALID_REQUEST', `${field} must be one of ${LOD_LEVELS.join(', ')}`, { field, issue: 'unknown_lod' });
  }
  return value as Lod;
}

/** World seeds are unsigned 32-bit integers; absent means DEFAULT_WORLD_SEED. Numeric strings are accepted. */
export function parseWorldSeed(value: unknown, field = 'world_seed'): number {
  if (value === undefined || value === null || value === '') return DEFAULT_WORLD_SEED;
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new DomainError('INVALID_REQUEST', `${field} must be an integer from 0 to 4294967295`, { field, issue: 'bad_seed' });
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
    throw new DomainError('INVALID_REQUEST', 'chunks must be a non-empty array of chunk ids', {
      field: 'chunks',
      issue: 'bad_type',
    });
  }
  if (ids.length > MAX_CHUNKS_PER_REQUEST) {
    throw new DomainError('INVALID_REQUEST', `At most ${MAX_CHUNKS_PER_REQUEST} chunks per request`, {
      field: 'chunks',
      issue: 'too_many',
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
