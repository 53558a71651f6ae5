import { ApiError, type ErrorCode } from '../errors';

/**
 * The ring model. x runs along the ring in metres and wraps: x = RING_CIRCUMFERENCE is x = 0.
 * y runs across the ring; 0 is the centre line. Floors are integers −2..15.
 */
export const RING_CIRCUMFERENCE = 264_000_000;
export const CHUNK_LENGTH = 1_000;
export const CHUNKS_PER_FLOOR = RING_CIRCUMFERENCE / CHUNK_LENGTH; // 264,000
export const MIN_FLOOR = -2;
export const MAX_FLOOR = 15;
/** The generated ring band: the seed's chunk `"width": 400.0`, so generated content has y ∈ [−200, 200]. */
export const RING_WIDTH = 400;
export const RING_HALF_WIDTH = RING_WIDTH / 2;
/**
 * The seed allows "any valid float" for y. We accept any finite y with |y| ≤ 1,000 km: far beyond anything
 * walkable, but it keeps products like x·y (areas, cross products) exact enough in float64.
 */
export const MAX_ABS_Y = 1_000_000;

export type Floor = number;
export interface Point {
  x: number;
  y: number;
}
export interface ChunkRef {
  floor: Floor;
  chunkIndex: number;
}

const HALF = RING_CIRCUMFERENCE / 2;

/** Maps any finite x onto [0, RING_CIRCUMFERENCE). */
export function normalizeX(x: number): number {
  const r = x % RING_CIRCUMFERENCE;
  const n = r < 0 ? r + RING_CIRCUMFERENCE : r;
  // r + C can round up to C for tiny negative r; and -0 must not leak into ids or JSON.
  return n >= RING_CIRCUMFERENCE || n === 0 ? 0 : n;
}

/** Signed shortest way from `from` to `to` along the ring, in [−C/2, C/2). */
export function wrappedDelta(from: number, to: number): number {
  let d = normalizeX(to - from);
  if (d >= HALF) d -= RING_CIRCUMFERENCE;
  return d;
}

/** Shortest distance along x between two ring positions, in [0, C/2]. */
export const wrappedDistanceX = (a: number, b: number): number => Math.abs(wrappedDelta(a, b));

/** Euclidean distance on the ring surface (x across the wrap the short way). */
export const ringDistance = (a: Point, b: Point): number => Math.hypot(wrappedDelta(a.x, b.x), b.y - a.y);

/** The representative of x that is closest to `reference` (may lie outside [0, C)): for unwrapped maths. */
export const unwrapX = (x: number, reference: number): number => reference + wrappedDelta(reference, x);

export const isValidFloor = (floor: unknown): floor is Floor =>
  typeof floor === 'number' && Number.isInteger(floor) && floor >= MIN_FLOOR && floor <= MAX_FLOOR;

/** Chunk index of a position; x is normalised first, so x = C is chunk 0. */
export const chunkIndexOf = (x: number): number => Math.floor(normalizeX(x) / CHUNK_LENGTH);

export const chunkOf = (floor: Floor, x: number): ChunkRef => ({ floor, chunkIndex: chunkIndexOf(x) });

export const chunkStartX = (chunkIndex: number): number => chunkIndex * CHUNK_LENGTH;

export const normalizeChunkIndex = (i: number): number => ((i % CHUNKS_PER_FLOOR) + CHUNKS_PER_FLOOR) % CHUNKS_PER_FLOOR;

/** Signed shortest index distance from chunk a to chunk b, in [−132,000, 132,000). */
export function chunkIndexDelta(a: number, b: number): number {
  let d = normalizeChunkIndex(b - a);
  if (d >= CHUNKS_PER_FLOOR / 2) d -= CHUNKS_PER_FLOOR;
  return d;
}

/** The chunks within `radius` of a chunk on the same floor, across the wrap, nearest first, excluding itself. */
export function neighbourChunks(ref: ChunkRef, radius = 1): ChunkRef[] {
  const out: ChunkRef[] = [];
  const r = Math.min(radius, Math.floor((CHUNKS_PER_FLOOR - 1) / 2));
  for (let d = 1; d <= r; d++) {
    out.push({ floor: ref.floor, chunkIndex: normalizeChunkIndex(ref.chunkIndex - d) });
    out.push({ floor: ref.floor, chunkIndex: normalizeChunkIndex(ref.chunkIndex + d) });
  }
  return out;
}

/** Chunk indices from the chunk of xFrom to the chunk of xTo, walking the shorter way round (inclusive). */
export function chunksBetween(xFrom: number, xTo: number): number[] {
  const a = chunkIndexOf(xFrom);
  const d = chunkIndexDelta(a, chunkIndexOf(xTo));
  const step = d < 0 ? -1 : 1;
  const out: number[] = [];
  for (let k = 0; k !== d + step; k += step) out.push(normalizeChunkIndex(a + k));
  return out;
}

// ---- chunk ids -------------------------------------------------------------------------------------------

export const formatChunkId = (ref: ChunkRef): string => `${ref.floor}_${ref.chunkIndex}`;

/**
 * Canonical chunk ids only: `"<floor>_<index>"`, decimal, no sign but the floor's "-", no leading zeros
 * ("0_01", "-0_5", "+1_2", " 0_1" are rejected), because the id is a D1 key and a Durable Object name:
 * two spellings of one chunk would be two actors. A malformed id is INVALID_REQUEST; a well-formed id of a
 * chunk that does not exist ("16_1", "0_264000") is CHUNK_NOT_FOUND.
 */
const CHUNK_ID = /^(-?[1-9]\d{0,2}|0)_([1-9]\d{0,9}|0)$/;

export function parseChunkId(id: unknown, field = 'chunk_id'): ChunkRef {
  if (typeof id !== 'string' || !CHUNK_ID.test(id)) {
    throw new ApiError('INVALID_REQUEST', `Chunk id must look like "floor_chunkIndex", e.g. "0_12345"`, {
      details: {
        field,
        issue: 'bad_format',
        value: typeof id === 'string' ? id.slice(0, 64) : typeof id,
      },
    });
  }
  const [f, i] = id.split('_') as [string, string];
  const floor = Number(f);
  const chunkIndex = Number(i);
  if (!isValidFloor(floor)) {
    throw new ApiError('CHUNK_NOT_FOUND', `No chunk ${id}: floor must be ${MIN_FLOOR}..${MAX_FLOOR}`, {
      details: {
        field,
        issue: 'floor_out_of_range',
      },
    });
  }
  if (chunkIndex >= CHUNKS_PER_FLOOR) {
    throw new ApiError('CHUNK_NOT_FOUND', `No chunk ${id}: chunk index must be 0..${CHUNKS_PER_FLOOR - 1}`, {
      details: {
        field,
        issue: 'index_out_of_range',
      },
    });
  }
  return { floor, chunkIndex };
}

// ---- input validation (seed: x 0..264,000,000, y any finite float, floor −2..15) --------------------------

/** Validates a floor; `code` lets zone/structure validators report under their own code. */
export function parseFloor(value: unknown, field = 'floor', code: ErrorCode = 'INVALID_REQUEST'): Floor {
  if (!isValidFloor(value)) {
    throw new ApiError(code, `${field} must be an integer from ${MIN_FLOOR} to ${MAX_FLOOR}`, {
      details: {
        field,
        issue: Number.isInteger(value) ? 'out_of_range' : 'bad_type',
      },
    });
  }
  return value;
}

/** Validates a chunk index 0..263,999 given as a number. */
export function parseChunkIndex(value: unknown, field = 'chunk_index'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= CHUNKS_PER_FLOOR) {
    throw new ApiError('INVALID_REQUEST', `${field} must be an integer from 0 to ${CHUNKS_PER_FLOOR - 1}`, {
      details: {
        field,
        issue: Number.isInteger(value) ? 'out_of_range' : 'bad_type',
      },
    });
  }
  return value;
}

/**
 * Validates `{x, y}`: x ∈ [0, 264,000,000] (the closed range the seed states; the end is normalised to 0),
 * y finite with |y| ≤ MAX_ABS_Y. Returns a fresh point with x normalised.
 */
export function parsePosition(value: unknown, field = 'position', code: ErrorCode = 'INVALID_REQUEST'): Point {
  const bad = (issue: string, message: string) => new ApiError(code, message, { details: { field, issue } });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('bad_type', `${field} must be an object {x, y}`);
  }
  const { x, y } = value as Record<string, unknown>;
  if (typeof x !== 'number' || typeof y !== 'number') throw bad('bad_type', `${field}.x and ${field}.y must be numbers`);
  if (!Number.isFinite(x) || !Number.isFinite(y)) throw bad('non_finite', `${field} must be finite numbers`);
  if (x < 0 || x > RING_CIRCUMFERENCE) {
    throw bad('out_of_range', `${field}.x must be from 0 to ${RING_CIRCUMFERENCE} (the ring circumference)`);
  }
  if (Math.abs(y) > MAX_ABS_Y) throw bad('out_of_range', `${field}.y must be within ±${MAX_ABS_Y}`);
  return { x: normalizeX(x), y: y === 0 ? 0 : y };
}
