import { describe, expect, it } from 'vitest';
import { decodeChunkGeometry, encodeChunkGeometry } from '../../src/domain/chunks';
import { findCrossing, type Vec } from '../../src/domain/geometry';
import {
  chunkSeed,
  createRng,
  edgeLanes,
  fmix32,
  type GeneratedChunk,
  generateChunk,
  generatedStructures,
  localNetwork,
  TRANSIT_Y,
} from '../../src/domain/procgen';
import { CHUNKS_PER_FLOOR, RING_CIRCUMFERENCE, wrappedDelta } from '../../src/domain/ring';
import { parseZoneGeometry } from '../../src/domain/zones';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;
const W = 12345;

describe('chunk seed and PRNG', () => {
  it('matches the documented formula (values computed independently)', () => {
    expect(chunkSeed(12345, 0, 12345)).toBe(1446725518);
    expect(chunkSeed(12345, 0, 0)).toBe(1089109547);
    expect(chunkSeed(0, -2, 0)).toBe(1680814304);
    expect(chunkSeed(12345, 15, 263999)).toBe(2116942219);
    expect(chunkSeed(4294967295, 0, 1)).toBe(3652485226);
    expect(fmix32(0)).toBe(0);
  });

  it('differs between neighbouring chunks, floors and worlds', () => {
    const seeds = new Set([chunkSeed(W, 0, 1), chunkSeed(W, 0, 2), chunkSeed(W, 1, 1), chunkSeed(W + 1, 0, 1)]);
    expect(seeds.size).toBe(4);
  });

  it('is mulberry32 (first outputs for seed 1) and stays in range', () => {
    const rng = createRng(1);
    expect([rng.u32(), rng.u32(), rng.u32()]).toEqual([2693262067, 11749833, 2265367787]);
    const r = createRng(99);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      const n = r.int(-3, 3);
      expect(n >= -3 && n <= 3 && Number.isInteger(n)).toBe(true);
    }
  });
});

const encodeJson = (c: GeneratedChunk) => new TextEncoder().encode(JSON.stringify(c));

describe('generateChunk', () => {
  const input = { floor: 0, chunkIndex: 12345, lod: 'medium' as const, worldSeed: W };

  it('is byte-identical for the same inputs, and differs for another chunk', () => {
    const a = generateChunk(input);
    const b = generateChunk({ ...input });
    expect(encodeJson(a)).toEqual(encodeJson(b));
    expect(encodeChunkGeometry(a)).toEqual(encodeChunkGeometry(b));
    expect(JSON.stringify(generateChunk({ ...input, chunkIndex: 12346 }))).not.toBe(JSON.stringify(a));
  });

  it('returns the seed metadata and real content', () => {
    const c = generateChunk(input);
    expect(c.chunk).toEqual({
      chunk_id: '0_12345',
      floor: 0,
      chunk_index: 12345,
      width: 400,
      length: 1000,
      version: 1,
      lod: 'medium',
      world_seed: W,
      chunk_seed: 1446725518,
    });
    expect(c.roads.length).toBeGreaterThan(4);
    expect(c.roads.some((r) => r.kind === 'highway')).toBe(true);
    expect(c.transit.length).toBeGreaterThan(0);
    expect(c.zones.length).toBeGreaterThan(0);
    const all = Array.from({ length: 20 }, (_, i) => generateChunk({ ...input, chunkIndex: i }));
    expect(all.reduce((n, k) => n + k.buildings.length, 0)).toBeGreaterThan(50);
    expect(all.some((k) => k.stations.length > 0)).toBe(true);
  });

  it('sizes the terrain grid by LOD and keeps everything else equal', () => {
    const low = generateChunk({ ...input, lod: 'low' });
    const high = generateChunk({ ...input, lod: 'high' });
    expect([low.terrain.cols, low.terrain.rows]).toEqual([11, 5]);
    expect([high.terrain.cols, high.terrain.rows]).toEqual([101, 41]);
    expect(high.terrain.heights).toHaveLength(101 * 41);
    expect(high.roads).toEqual(low.roads);
    expect(high.buildings).toEqual(low.buildings);
    // Shared grid points agree between LODs: low (0,0) is high (0,0), low column 1 is high column 10.
    expect(low.terrain.heights[1]).toBe(high.terrain.heights[10]);
    for (const h of high.terrain.heights) expect(Math.abs(h)).toBeLessThanOrEqual(1.25);
  });

  it('produces zones that pass zone validation and buildings clear of each other', () => {
    for (const chunkIndex of [0, 7, 12345, CHUNKS_PER_FLOOR - 1]) {
      const c = generateChunk({ ...input, chunkIndex });
      for (const z of c.zones) expect(parseZoneGeometry(z.geometry).area).toBeGreaterThan(0);
      const footprints = c.buildings.map((b) => b.footprint.slice(0, 4) as Vec[]);
      expect(findCrossing(footprints)).toBeNull();
    }
  });

  it('maps generated content to building/road/transit structures', () => {
    const c = generateChunk(input);
    const s = generatedStructures(c);
    expect(s).toHaveLength(c.buildings.length + c.roads.length + c.transit.length);
    expect(new Set(s.map((x) => x.structure_type))).toEqual(new Set(['building', 'road', 'transit']));
    for (const x of s) expect(Math.floor(x.position.x / 1000)).toBe(12345);
  });
});

describe('continuity across chunk edges', () => {
  const endsAt = (c: GeneratedChunk, x: number) =>
    c.roads
      .flatMap((r) => [r.from, r.to])
      .filter((p) => p[0] === x)
      .map((p) => p[1])
      .sort((a, b) => a - b);

  it('roads of neighbours meet at the same points on the shared edge', () => {
    for (const i of [0, 41, 12345]) {
      const left = generateChunk({ floor: 2, chunkIndex: i, lod: 'low', worldSeed: W });
      const right = generateChunk({ floor: 2, chunkIndex: i + 1, lod: 'low', worldSeed: W });
      const edge = (i + 1) * 1000;
      expect(endsAt(left, edge)).toEqual(edgeLanes(W, 2, i + 1));
      expect(endsAt(right, edge)).toEqual(edgeLanes(W, 2, i + 1));
      expect(endsAt(left, edge)).toContain(0);
    }
  });

  it('roads and terrain meet across the wrap point (chunk 263,999 → 0)', () => {
    const last = generateChunk({ floor: 0, chunkIndex: CHUNKS_PER_FLOOR - 1, lod: 'low', worldSeed: W });
    const first = generateChunk({ floor: 0, chunkIndex: 0, lod: 'low', worldSeed: W });
    expect(endsAt(last, 0)).toEqual(edgeLanes(W, 0, 0));
    expect(endsAt(first, 0)).toEqual(edgeLanes(W, 0, CHUNKS_PER_FLOOR));
    const { cols, rows } = first.terrain;
    for (let r = 0; r < rows; r++) {
      expect(last.terrain.heights[r * cols + cols - 1]).toBe(first.terrain.heights[r * cols]);
    }
    for (const seg of last.roads) expect(Math.abs(wrappedDelta(seg.from[0], seg.to[0]))).toBeLessThanOrEqual(1000);
  });

  it('the transit line runs through every chunk', () => {
    const n = localNetwork(W, 0, 5);
    const line = n.edges.filter((e) => e.kind === 'line');
    expect(Math.min(...line.map((e) => e.a[0]))).toBe(0);
    expect(Math.max(...line.map((e) => e.b[0]))).toBe(1000);
    expect(line.every((e) => e.a[1] === TRANSIT_Y)).toBe(true);
  });
});

describe('geometry codec', () => {
  it('round-trips a chunk (local float32 coordinates)', () => {
    const c = generateChunk({ floor: -1, chunkIndex: CHUNKS_PER_FLOOR - 1, lod: 'high', worldSeed: 7 });
    const bytes = encodeChunkGeometry(c);
    const d = decodeChunkGeometry(bytes);
    expect(d).toMatchObject({
      format: 1,
      lod: 'high',
      floor: -1,
      chunkIndex: CHUNKS_PER_FLOOR - 1,
      chunkSeed: c.chunk.chunk_seed,
      worldSeed: 7,
    });
    expect(Array.from(d.terrain.heights)).toEqual(c.terrain.heights);
    expect(d.terrain).toMatchObject({ cols: 101, rows: 41, spacing: 10 });
    const start = c.chunk.chunk_index * 1000;
    const u = (x: number) => (x === 0 ? C : x) - start;
    expect(d.roads).toEqual(
      c.roads.map((r) => ({ u0: u(r.from[0]), y0: r.from[1], u1: u(r.to[0]), y1: r.to[1], width: r.width, kind: r.kind })),
    );
    expect(d.transit).toHaveLength(c.transit.length);
    expect(d.stations).toHaveLength(c.stations.length);
    expect(d.buildings.map((b) => [b.uMin, b.yMin, b.height, b.kind])).toEqual(
      c.buildings.map((b) => [u(b.footprint[0]![0]), b.footprint[0]![1], b.height, b.kind]),
    );
    expect(bytes.byteLength).toBe(
      48 + 4 * 101 * 41 + 24 * c.roads.length + 20 * c.transit.length + 8 * c.stations.length + 24 * c.buildings.length,
    );
  });

  it('rejects truncated and foreign buffers', () => {
    const bytes = encodeChunkGeometry(generateChunk({ floor: 0, chunkIndex: 1, lod: 'low', worldSeed: W }));
    expect(errorOf(() => decodeChunkGeometry(bytes.slice(0, 10))).details.issue).toBe('truncated');
    expect(errorOf(() => decodeChunkGeometry(bytes.slice(0, bytes.length - 1))).details.issue).toBe('truncated');
    const foreign = bytes.slice();
    foreign[0] = 0x58;
    expect(errorOf(() => decodeChunkGeometry(foreign)).details.issue).toBe('bad_magic');
  });
});
