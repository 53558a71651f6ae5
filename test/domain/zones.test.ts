import { describe, expect, it } from 'vitest';
import { RING_CIRCUMFERENCE } from '../../src/domain/ring';
import {
  bboxMatchesQuery,
  MAX_ZONE_SPAN_X,
  parseZoneAreaQuery,
  parseZoneDraft,
  parseZoneGeometry,
  parseZonePatch,
  pointInZone,
} from '../../src/domain/zones';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;
const poly = (...rings: number[][][]) => ({ type: 'Polygon', coordinates: rings });
const rect = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];
const issueOf = (g: unknown) => {
  const e = errorOf(() => parseZoneGeometry(g));
  expect(e.code).toBe('INVALID_ZONE');
  expect(e.details.field).toBe('geometry');
  return e.details.issue;
};

describe('zone geometry validation', () => {
  it('accepts a closed simple polygon and computes bbox and area', () => {
    const z = parseZoneGeometry(poly(rect(1000, -50, 1100, 50)));
    expect(z.area).toBe(10_000);
    expect(z.bbox).toEqual({ xMin: 1000, xMax: 1100, yMin: -50, yMax: 50 });
    expect(z.geometry.coordinates[0]).toHaveLength(5);
  });

  it('accepts a hole and subtracts it', () => {
    const z = parseZoneGeometry(poly(rect(0, 0, 100, 100), rect(10, 10, 20, 20)));
    expect(z.area).toBe(10_000 - 100);
  });

  it('rejects a self-intersecting polygon (bow tie)', () => {
    expect(
      issueOf(
        poly([
          [0, 0],
          [10, 10],
          [10, 0],
          [0, 10],
          [0, 0],
        ]),
      ),
    ).toBe('self_intersection');
  });

  it('rejects open rings, too few positions, bad types, non-finite and out-of-range numbers', () => {
    expect(
      issueOf(
        poly([
          [0, 0],
          [10, 0],
          [10, 10],
          [0, 10],
        ]),
      ),
    ).toBe('not_closed');
    expect(
      issueOf(
        poly([
          [0, 0],
          [10, 0],
          [0, 0],
        ]),
      ),
    ).toBe('too_few_positions');
    expect(issueOf({ type: 'LineString', coordinates: [] })).toBe('bad_type');
    expect(issueOf(poly())).toBe('bad_type');
    expect(issueOf(null)).toBe('bad_type');
    expect(issueOf({ type: 'Polygon', coordinates: [[[0, 0, 0]]] })).toBe('bad_position');
    expect(issueOf({ type: 'Polygon', coordinates: [[['0', 0]]] })).toBe('bad_position');
    expect(issueOf(poly(rect(0, 0, Number.POSITIVE_INFINITY, 10)))).toBe('non_finite');
    expect(issueOf(poly(rect(-5, 0, 10, 10)))).toBe('out_of_range');
    expect(issueOf(poly(rect(C - 5, 0, C + 10, 10)))).toBe('out_of_range');
  });

  it('rejects degenerate rings, holes outside, nested holes, and vertex floods', () => {
    expect(
      issueOf(
        poly([
          [0, 0],
          [10, 0],
          [20, 0],
          [0, 0],
        ]),
      ),
    ).toBe('self_intersection');
    expect(
      issueOf(
        poly([
          [0, 0],
          [10, 0],
          [10, 0],
          [10, 10],
          [0, 0],
        ]),
      ),
    ).toBe('degenerate');
    expect(issueOf(poly(rect(0, 0, 10, 10), rect(20, 20, 30, 30)))).toBe('hole_outside');
    expect(issueOf(poly(rect(0, 0, 100, 100), rect(10, 10, 50, 50), rect(20, 20, 30, 30)))).toBe('holes_overlap');
    const many = Array.from({ length: 5_001 }, (_, i) => [i, 0]);
    expect(issueOf(poly(many))).toBe('too_many_positions');
    expect(issueOf(poly(rect(0, 0, MAX_ZONE_SPAN_X + 1, 10)))).toBe('too_large');
  });

  it('validates a polygon with 4,000 vertices quickly (sweep, not all pairs)', () => {
    const n = 4_000;
    const ring = Array.from({ length: n }, (_, i) => {
      const a = (2 * Math.PI * i) / n;
      return [5000 + 1000 * Math.cos(a), 1000 * Math.sin(a)];
    });
    ring.push(ring[0]!);
    const t0 = Date.now();
    expect(parseZoneGeometry(poly(ring)).area).toBeGreaterThan(3.1e6);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('zones across the wrap point', () => {
  const across = poly([
    [C - 100, -10],
    [50, -10],
    [50, 10],
    [C - 100, 10],
    [C - 100, -10],
  ]);

  it('computes area and bbox across x = 0', () => {
    const z = parseZoneGeometry(across);
    expect(z.area).toBe(150 * 20);
    expect(z.bbox).toEqual({ xMin: C - 100, xMax: C + 50, yMin: -10, yMax: 10 });
  });

  it('treats x = C as x = 0 and normalises it in the stored geometry', () => {
    const z = parseZoneGeometry(poly(rect(C - 100, 0, C, 10)));
    expect(z.area).toBe(1000);
    expect(z.geometry.coordinates[0]![1]).toEqual([0, 0]);
  });

  it('puts points on both sides of the wrap inside, others outside', () => {
    const z = parseZoneGeometry(across);
    expect(pointInZone(z, { x: C - 50, y: 0 })).toBe(true);
    expect(pointInZone(z, { x: 20, y: 0 })).toBe(true);
    expect(pointInZone(z, { x: 0, y: 10 })).toBe(true);
    expect(pointInZone(z, { x: 60, y: 0 })).toBe(false);
    expect(pointInZone(z, { x: C - 150, y: 0 })).toBe(false);
    expect(pointInZone(z, { x: 20, y: 11 })).toBe(false);
  });

  it('excludes points inside holes but not on their edge', () => {
    const z = parseZoneGeometry(poly(rect(0, 0, 100, 100), rect(10, 10, 20, 20)));
    expect(pointInZone(z, { x: 15, y: 15 })).toBe(false);
    expect(pointInZone(z, { x: 10, y: 15 })).toBe(true);
    expect(pointInZone(z, { x: 50, y: 50 })).toBe(true);
  });

  it('finds a self-intersection that straddles x = 0', () => {
    expect(
      issueOf(
        poly([
          [C - 10, 0],
          [10, 10],
          [10, 0],
          [C - 10, 10],
          [C - 10, 0],
        ]),
      ),
    ).toBe('self_intersection');
  });

  it('rejects a band that runs all the way round the ring', () => {
    const q = C / 3;
    expect(
      issueOf(
        poly([
          [0, 0],
          [q, 0],
          [2 * q, 0],
          [0, 10],
          [0, 0],
        ]),
      ),
    ).toBe('encircles_ring');
  });
});

describe('zone bodies', () => {
  const good = { name: ' Downtown District ', zone_type: 'commercial', geometry: poly(rect(0, 0, 10, 10)), floor: 0 };
  it('parses a create body and a patch', () => {
    const d = parseZoneDraft({ ...good, properties: { density: 'high' } });
    expect(d).toMatchObject({ name: 'Downtown District', zone_type: 'commercial', floor: 0, properties: { density: 'high' } });
    expect(parseZonePatch({ name: 'Updated Name', properties: { density: 'medium' } })).toEqual({
      name: 'Updated Name',
      properties: { density: 'medium' },
    });
  });
  it('rejects bad fields with INVALID_ZONE naming the field', () => {
    expect(errorOf(() => parseZoneDraft({ ...good, zone_type: 'volcano' })).details).toEqual({
      field: 'zone_type',
      issue: 'unknown_type',
    });
    expect(errorOf(() => parseZoneDraft({ ...good, name: '' })).details.field).toBe('name');
    expect(errorOf(() => parseZoneDraft({ ...good, floor: 16 }))).toMatchObject({
      code: 'INVALID_ZONE',
      details: { field: 'floor' },
    });
    expect(errorOf(() => parseZoneDraft({ ...good, properties: [1] })).details.field).toBe('properties');
    expect(errorOf(() => parseZoneDraft({ ...good, properties: { s: 'x'.repeat(17_000) } })).details.issue).toBe('too_large');
    expect(errorOf(() => parseZonePatch({})).details.issue).toBe('empty');
    expect(errorOf(() => parseZonePatch({ floor: 2 })).details.issue).toBe('immutable');
  });
});

describe('zone area query', () => {
  const zoneAt = (x0: number, x1: number) => parseZoneGeometry(poly(rect(x0, 0, x1, 10))).bbox;
  const wrapZone = parseZoneGeometry(
    poly([
      [C - 100, 0],
      [50, 0],
      [50, 10],
      [C - 100, 10],
      [C - 100, 0],
    ]),
  ).bbox;

  it('builds one interval for a plain box far from the wrap', () => {
    const q = parseZoneAreaQuery({ x_min: '5000000', x_max: '5002000', y_min: '-200', y_max: '200', floor: '0' });
    expect(q.intervals).toEqual([{ lo: 5_000_000, hi: 5_002_000, xMinFrom: 4_000_000, xMinTo: 5_002_000 }]);
    expect(bboxMatchesQuery(zoneAt(5_001_000, 5_001_500), 0, q)).toBe(true);
    expect(bboxMatchesQuery(zoneAt(4_999_000, 5_000_000), 0, q)).toBe(true);
    expect(bboxMatchesQuery(zoneAt(5_003_000, 5_004_000), 0, q)).toBe(false);
    expect(bboxMatchesQuery(zoneAt(5_001_000, 5_001_500), 1, q)).toBe(false);
  });

  it('finds a zone that crosses the wrap from a box on either side of x = 0', () => {
    const low = parseZoneAreaQuery({ x_min: 0, x_max: 20, y_min: 0, y_max: 10, floor: 0 });
    expect(low.intervals).toHaveLength(2);
    expect(bboxMatchesQuery(wrapZone, 0, low)).toBe(true);
    const high = parseZoneAreaQuery({ x_min: C - 60, x_max: C - 50, y_min: 0, y_max: 10, floor: 0 });
    expect(bboxMatchesQuery(wrapZone, 0, high)).toBe(true);
    const miss = parseZoneAreaQuery({ x_min: 60, x_max: 70, y_min: 0, y_max: 10, floor: 0 });
    expect(bboxMatchesQuery(wrapZone, 0, miss)).toBe(false);
  });

  it('handles a query box that wraps (x_min > x_max)', () => {
    const q = parseZoneAreaQuery({ x_min: C - 500, x_max: 500, y_min: -10, y_max: 10, floor: 0 });
    expect(q.intervals).toHaveLength(2);
    expect(bboxMatchesQuery(zoneAt(100, 200), 0, q)).toBe(true);
    expect(bboxMatchesQuery(zoneAt(C - 300, C - 200), 0, q)).toBe(true);
    expect(bboxMatchesQuery(wrapZone, 0, q)).toBe(true);
    expect(bboxMatchesQuery(zoneAt(600, 700), 0, q)).toBe(false);
    expect(bboxMatchesQuery(zoneAt(C - 700, C - 600), 0, q)).toBe(false);
  });

  it('rejects bad query parameters as INVALID_REQUEST', () => {
    const base = { x_min: 0, x_max: 10, y_min: 0, y_max: 10, floor: 0 };
    expect(errorOf(() => parseZoneAreaQuery({ ...base, x_min: 'abc' })).details).toEqual({ field: 'x_min', issue: 'bad_type' });
    expect(errorOf(() => parseZoneAreaQuery({ ...base, x_max: C + 1 })).details.issue).toBe('out_of_range');
    expect(errorOf(() => parseZoneAreaQuery({ ...base, y_min: 20 })).details.issue).toBe('inverted_range');
    expect(errorOf(() => parseZoneAreaQuery({ ...base, floor: '16' })).details.field).toBe('floor');
    expect(errorOf(() => parseZoneAreaQuery({ ...base, y_max: undefined })).code).toBe('INVALID_REQUEST');
  });
});
