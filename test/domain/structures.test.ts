import { describe, expect, it } from 'vitest';
import { RING_CIRCUMFERENCE } from '../../src/domain/ring';
import {
  assertInsideZone,
  parseRotation,
  parseStructurePatch,
  parseStructurePlacement,
  structureChunk,
} from '../../src/domain/structures';
import { parseZoneGeometry } from '../../src/domain/zones';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;
const seedBody = {
  structure_type: 'building',
  position: { x: 12345, y: 100 },
  floor: 0,
  rotation: 45,
  scale: 1.0,
  zone_id: 456,
  properties: { building_type: 'apartment', height: 50 },
};

describe('structure placement', () => {
  it("accepts the seed's example body", () => {
    expect(parseStructurePlacement(seedBody)).toEqual({ ...seedBody, position: { x: 12345, y: 100 } });
  });

  it('fills defaults and takes the actor floor for a structure_place frame', () => {
    const p = parseStructurePlacement({ structure_type: 'road', position: { x: C, y: 0 } }, 3);
    expect(p).toMatchObject({ floor: 3, rotation: 0, scale: 1, zone_id: null, properties: {}, position: { x: 0, y: 0 } });
    expect(structureChunk(p)).toEqual({ floor: 3, chunkIndex: 0 });
  });

  it('normalises rotation to [0, 360)', () => {
    expect(parseRotation(360)).toBe(0);
    expect(parseRotation(-90)).toBe(270);
    expect(parseRotation(725)).toBe(5);
    expect(parseRotation(359.5)).toBe(359.5);
  });

  it('rejects bad fields with INVALID_STRUCTURE and the field', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ structure_type: 'castle' }, 'structure_type', 'unknown_type'],
      [{ position: { x: -1, y: 0 } }, 'position', 'out_of_range'],
      [{ position: { x: 1, y: Number.NaN } }, 'position', 'non_finite'],
      [{ floor: 16 }, 'floor', 'out_of_range'],
      [{ rotation: '45' }, 'rotation', 'bad_type'],
      [{ rotation: Number.POSITIVE_INFINITY }, 'rotation', 'non_finite'],
      [{ scale: 0 }, 'scale', 'out_of_range'],
      [{ scale: -2 }, 'scale', 'out_of_range'],
      [{ scale: 101 }, 'scale', 'out_of_range'],
      [{ zone_id: 'z' }, 'zone_id', 'bad_type'],
      [{ properties: 'x' }, 'properties', 'bad_type'],
    ];
    for (const [override, field, issue] of cases) {
      const e = errorOf(() => parseStructurePlacement({ ...seedBody, ...override }));
      expect(e.code).toBe('INVALID_STRUCTURE');
      expect(e.details, JSON.stringify(override)).toEqual({ field, issue });
    }
    expect(errorOf(() => parseStructurePlacement({ structure_type: 'building', position: { x: 1, y: 1 } })).details.field).toBe(
      'floor',
    );
  });

  it('parses updates and refuses to change type or floor', () => {
    expect(parseStructurePatch({ rotation: 90, properties: { height: 60 } })).toEqual({
      rotation: 90,
      properties: { height: 60 },
    });
    expect(errorOf(() => parseStructurePatch({ floor: 1 })).details).toEqual({ field: 'floor', issue: 'immutable' });
    expect(errorOf(() => parseStructurePatch({})).details.issue).toBe('empty');
    expect(errorOf(() => parseStructurePatch(null)).details.field).toBe('body');
  });
});

describe('structure inside its zone', () => {
  const acrossWrap = parseZoneGeometry({
    type: 'Polygon',
    coordinates: [
      [
        [C - 100, 0],
        [100, 0],
        [100, 200],
        [C - 100, 200],
        [C - 100, 0],
      ],
    ],
  });
  const zone = { id: 456, floor: 0, shape: acrossWrap };

  it('accepts positions inside the zone on both sides of x = 0', () => {
    expect(() => assertInsideZone({ position: { x: C - 50, y: 100 }, floor: 0 }, zone)).not.toThrow();
    expect(() => assertInsideZone({ position: { x: 50, y: 100 }, floor: 0 }, zone)).not.toThrow();
  });

  it('rejects a position outside the zone or on another floor', () => {
    expect(errorOf(() => assertInsideZone({ position: { x: 150, y: 100 }, floor: 0 }, zone))).toMatchObject({
      code: 'INVALID_STRUCTURE',
      details: { field: 'position', issue: 'outside_zone' },
    });
    expect(errorOf(() => assertInsideZone({ position: { x: 50, y: 100 }, floor: 1 }, zone)).details).toEqual({
      field: 'zone_id',
      issue: 'floor_mismatch',
    });
  });
});
