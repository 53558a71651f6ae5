import { describe, expect, it } from 'vitest';
import {
  chunkRefAt,
  chunksInXRange,
  DEFAULT_WORLD_SEED,
  defaultChunkMetadata,
  parseChunkRequest,
  parseGenerateRequest,
  parseLod,
  parseWorldSeed,
} from '../../src/domain/chunks';
import { RING_CIRCUMFERENCE } from '../../src/domain/ring';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;

describe('chunk metadata and requests', () => {
  it('gives default metadata shaped like the seed', () => {
    expect(defaultChunkMetadata({ floor: 0, chunkIndex: 12345 })).toEqual({
      id: '0_12345',
      floor: 0,
      chunk_index: 12345,
      version: 1,
      last_modified: null,
      is_dirty: false,
    });
  });

  it('parses a chunk request, dropping duplicates and defaulting lod', () => {
    expect(parseChunkRequest({ chunks: ['0_12345', '0_12346', '0_12345'], lod_level: 'high' })).toEqual({
      chunks: [
        { floor: 0, chunkIndex: 12345 },
        { floor: 0, chunkIndex: 12346 },
      ],
      lod: 'high',
    });
    expect(parseChunkRequest({ chunks: ['-2_0'] }).lod).toBe('medium');
  });

  it('rejects bad chunk requests naming the failing entry', () => {
    expect(errorOf(() => parseChunkRequest({ chunks: [] })).details).toEqual({ field: 'chunks', issue: 'bad_type' });
    expect(errorOf(() => parseChunkRequest({})).code).toBe('INVALID_REQUEST');
    expect(errorOf(() => parseChunkRequest({ chunks: ['0_1', 'a_b'] })).details).toMatchObject({
      field: 'chunks[1]',
      issue: 'bad_format',
    });
    expect(errorOf(() => parseChunkRequest({ chunks: ['0_264000'] })).code).toBe('CHUNK_NOT_FOUND');
    expect(errorOf(() => parseChunkRequest({ chunks: Array.from({ length: 33 }, (_, i) => `0_${i}`) })).details.issue).toBe(
      'too_many',
    );
    expect(errorOf(() => parseChunkRequest({ chunks: ['0_1'], lod_level: 'ultra' })).details).toEqual({
      field: 'lod_level',
      issue: 'unknown_lod',
    });
  });

  it('parses generate requests and world seeds', () => {
    expect(parseGenerateRequest({ floor: 0, chunk_index: 12345, lod_level: 'medium', world_seed: 12345 })).toEqual({
      floor: 0,
      chunkIndex: 12345,
      lod: 'medium',
      worldSeed: 12345,
    });
    expect(parseGenerateRequest({ floor: 1, chunk_index: 0 }).worldSeed).toBe(DEFAULT_WORLD_SEED);
    expect(parseWorldSeed('4294967295')).toBe(4294967295);
    expect(parseLod(undefined)).toBe('medium');
  });

  it('rejects bad generate requests', () => {
    expect(errorOf(() => parseGenerateRequest({ floor: 0, chunk_index: 264000 })).details.field).toBe('chunk_index');
    expect(errorOf(() => parseGenerateRequest({ floor: -3, chunk_index: 1 })).details.field).toBe('floor');
    expect(errorOf(() => parseWorldSeed(-1)).details.issue).toBe('bad_seed');
    expect(errorOf(() => parseWorldSeed(2 ** 32)).details.issue).toBe('bad_seed');
    expect(errorOf(() => parseWorldSeed('12a')).details.issue).toBe('bad_seed');
  });
});

describe('chunks touched by an x range', () => {
  it('lists the chunks of a bbox, across the wrap', () => {
    expect(chunksInXRange(0, 1500, 3000).map((c) => c.chunkIndex)).toEqual([1, 2]);
    expect(chunksInXRange(0, 1500, 3001).map((c) => c.chunkIndex)).toEqual([1, 2, 3]);
    expect(chunksInXRange(2, C - 100, C + 50).map((c) => c.chunkIndex)).toEqual([263_999, 0]);
    expect(chunksInXRange(0, 500, 500)).toEqual([{ floor: 0, chunkIndex: 0 }]);
    expect(chunkRefAt(-1, C)).toEqual({ floor: -1, chunkIndex: 0 });
  });
});
