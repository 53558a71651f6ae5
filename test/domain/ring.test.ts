import { describe, expect, it } from 'vitest';
import {
  CHUNKS_PER_FLOOR,
  chunkIndexDelta,
  chunkIndexOf,
  chunkOf,
  chunksBetween,
  formatChunkId,
  neighbourChunks,
  normalizeX,
  parseChunkId,
  parseChunkIndex,
  parseFloor,
  parsePosition,
  RING_CIRCUMFERENCE,
  ringDistance,
  unwrapX,
  wrappedDelta,
  wrappedDistanceX,
} from '../../src/domain/ring';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;

describe('x normalisation and wrapped distances', () => {
  it('normalises onto [0, C) and treats C as 0', () => {
    expect(normalizeX(C)).toBe(0);
    expect(normalizeX(0)).toBe(0);
    expect(Object.is(normalizeX(-0), 0)).toBe(true);
    expect(normalizeX(-1)).toBe(C - 1);
    expect(normalizeX(C + 5)).toBe(5);
    expect(normalizeX(-1e-9)).toBeLessThan(C);
  });

  it('takes the short way across the wrap point', () => {
    expect(wrappedDelta(C - 100, 50)).toBe(150);
    expect(wrappedDelta(50, C - 100)).toBe(-150);
    expect(wrappedDelta(1000, 4000)).toBe(3000);
    expect(wrappedDistanceX(C - 1, 1)).toBe(2);
    expect(ringDistance({ x: C - 30, y: 0 }, { x: 10, y: 30 })).toBe(50);
    expect(unwrapX(10, C - 30)).toBe(C + 10);
    expect(unwrapX(C - 10, 30)).toBe(-10);
  });

  it('half the ring away is the maximum distance', () => {
    expect(wrappedDistanceX(0, C / 2)).toBe(C / 2);
    expect(wrappedDistanceX(C / 4, (3 * C) / 4)).toBe(C / 2);
  });
});

describe('chunks', () => {
  it('maps positions to chunks, x = C to chunk 0', () => {
    expect(chunkIndexOf(12_345_678)).toBe(12_345);
    expect(chunkIndexOf(999.999)).toBe(0);
    expect(chunkIndexOf(1000)).toBe(1);
    expect(chunkIndexOf(C - 0.5)).toBe(CHUNKS_PER_FLOOR - 1);
    expect(chunkIndexOf(C)).toBe(0);
    expect(chunkOf(3, 5_500)).toEqual({ floor: 3, chunkIndex: 5 });
  });

  it('finds neighbours across the wrap (263,999 ↔ 0)', () => {
    expect(neighbourChunks({ floor: 0, chunkIndex: 0 })).toEqual([
      { floor: 0, chunkIndex: 263_999 },
      { floor: 0, chunkIndex: 1 },
    ]);
    expect(neighbourChunks({ floor: -2, chunkIndex: 263_999 }, 2).map((c) => c.chunkIndex)).toEqual([263_998, 0, 263_997, 1]);
    expect(chunkIndexDelta(263_999, 0)).toBe(1);
    expect(chunkIndexDelta(0, 263_999)).toBe(-1);
  });

  it('lists the chunks between two x values the short way round', () => {
    expect(chunksBetween(12_345, 15_678)).toEqual([12, 13, 14, 15]);
    expect(chunksBetween(15_678, 12_345)).toEqual([15, 14, 13, 12]);
    expect(chunksBetween(C - 1500, 700)).toEqual([263_998, 263_999, 0]);
    expect(chunksBetween(500, 600)).toEqual([0]);
  });
});

describe('chunk ids', () => {
  it('formats and parses canonical ids', () => {
    expect(parseChunkId('0_12345')).toEqual({ floor: 0, chunkIndex: 12_345 });
    expect(parseChunkId('-2_0')).toEqual({ floor: -2, chunkIndex: 0 });
    expect(parseChunkId('15_263999')).toEqual({ floor: 15, chunkIndex: 263_999 });
    expect(formatChunkId({ floor: -1, chunkIndex: 7 })).toBe('-1_7');
    expect(parseChunkId(formatChunkId({ floor: 4, chunkIndex: 100 }))).toEqual({ floor: 4, chunkIndex: 100 });
  });

  it('rejects malformed ids as INVALID_REQUEST', () => {
    for (const bad of ['a_b', '0_01', '00_1', '-0_5', '+1_2', ' 0_1', '0_1 ', '0-1', '0_', '_1', '0_1_2', '0_1.5', '', 42]) {
      const e = errorOf(() => parseChunkId(bad));
      expect(e.code, String(bad)).toBe('INVALID_REQUEST');
      expect(e.details).toMatchObject({ field: 'chunk_id', issue: 'bad_format' });
    }
  });

  it('rejects well-formed ids of chunks that do not exist as CHUNK_NOT_FOUND', () => {
    expect(errorOf(() => parseChunkId('0_264000'))).toMatchObject({
      code: 'CHUNK_NOT_FOUND',
      details: { issue: 'index_out_of_range' },
    });
    expect(errorOf(() => parseChunkId('16_1'))).toMatchObject({
      code: 'CHUNK_NOT_FOUND',
      details: { issue: 'floor_out_of_range' },
    });
    expect(errorOf(() => parseChunkId('-3_1')).code).toBe('CHUNK_NOT_FOUND');
  });
});

describe('position, floor and index validation', () => {
  it('accepts the seed ranges and normalises x = C to 0', () => {
    expect(parsePosition({ x: 12_345, y: 0 })).toEqual({ x: 12_345, y: 0 });
    expect(parsePosition({ x: C, y: -150.5 })).toEqual({ x: 0, y: -150.5 });
    expect(parsePosition({ x: 0, y: 999_999 })).toEqual({ x: 0, y: 999_999 });
    expect(parseFloor(-2)).toBe(-2);
    expect(parseFloor(15)).toBe(15);
    expect(parseChunkIndex(263_999)).toBe(263_999);
  });

  it('rejects out-of-range, non-finite and mistyped values with field and issue', () => {
    expect(errorOf(() => parsePosition({ x: -1, y: 0 })).details).toEqual({ field: 'position', issue: 'out_of_range' });
    expect(errorOf(() => parsePosition({ x: C + 1, y: 0 })).details.issue).toBe('out_of_range');
    expect(errorOf(() => parsePosition({ x: 1, y: Number.NaN })).details.issue).toBe('non_finite');
    expect(errorOf(() => parsePosition({ x: 1, y: 2e6 })).details.issue).toBe('out_of_range');
    expect(errorOf(() => parsePosition({ x: '1', y: 0 })).details.issue).toBe('bad_type');
    expect(errorOf(() => parsePosition([1, 2])).details.issue).toBe('bad_type');
    expect(errorOf(() => parsePosition(null, 'start_point', 'INVALID_STRUCTURE'))).toMatchObject({
      code: 'INVALID_STRUCTURE',
      details: { field: 'start_point' },
    });
    expect(errorOf(() => parseFloor(16)).details).toEqual({ field: 'floor', issue: 'out_of_range' });
    expect(errorOf(() => parseFloor(-3)).details.issue).toBe('out_of_range');
    expect(errorOf(() => parseFloor(1.5)).details.issue).toBe('bad_type');
    expect(errorOf(() => parseFloor('0')).details.issue).toBe('bad_type');
    expect(errorOf(() => parseChunkIndex(264_000)).details.issue).toBe('out_of_range');
    expect(errorOf(() => parseChunkIndex(-1)).code).toBe('INVALID_REQUEST');
  });
});
