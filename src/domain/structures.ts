import { ApiError } from '../errors';
import { asObject } from './input';
import { type ChunkRef, chunkOf, type Floor, type Point, parseFloor, parsePosition } from './ring';
import { parseProperties, pointInZone, type ZoneShape } from './zones';

/**
 * Structure placement rules. Generated chunk content uses the same types: buildings, roads and transit
 * lines come out of procgen as 'building', 'road' and 'transit' structures.
 */
export const STRUCTURE_TYPES = ['building', 'decoration', 'road', 'transit', 'utility', 'landmark'] as const;
export type StructureType = (typeof STRUCTURE_TYPES)[number];

/** Scale is a uniform multiplier of the model: > 0 and at most 100 (a 100× decoration is already absurd). */
export const MAX_SCALE = 100;

export interface StructurePlacement {
  structure_type: StructureType;
  position: Point;
  floor: Floor;
  /** Degrees, normalised to [0, 360). */
  rotation: number;
  scale: number;
  zone_id: number | null;
  properties: Record<string, unknown>;
}

export type StructurePatch = Partial<Pick<StructurePlacement, 'position' | 'rotation' | 'scale' | 'properties'>>;

const bad = (field: string, issue: string, message: string) =>
  new ApiError('INVALID_STRUCTURE', message, { details: { field, issue } });

export function parseStructureType(value: unknown): StructureType {
  if (typeof value !== 'string' || !(STRUCTURE_TYPES as readonly string[]).includes(value)) {
    throw bad('structure_type', 'unknown_type', `structure_type must be one of ${STRUCTURE_TYPES.join(', ')}`);
  }
  return value as StructureType;
}

/** Any finite angle in degrees, normalised to [0, 360): −90 → 270, 360 → 0. */
export function parseRotation(value: unknown): number {
  if (typeof value !== 'number') throw bad('rotation', 'bad_type', 'rotation must be a number of degrees');
  if (!Number.isFinite(value)) throw bad('rotation', 'non_finite', 'rotation must be finite');
  const r = ((value % 360) + 360) % 360;
  return r === 0 || r === 360 ? 0 : r;
}

export function parseScale(value: unknown): number {
  if (typeof value !== 'number') throw bad('scale', 'bad_type', 'scale must be a number');
  if (!Number.isFinite(value)) throw bad('scale', 'non_finite', 'scale must be finite');
  if (value <= 0 || value > MAX_SCALE) throw bad('scale', 'out_of_range', `scale must be > 0 and ≤ ${MAX_SCALE}`);
  return value;
}

function parseZoneId(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw bad('zone_id', 'bad_type', 'zone_id must be a positive integer');
  }
  return value;
}

/**
 * `POST /api/structures` and the `structure_place` frame (the chunk actor passes its own floor as
 * `defaultFloor`, since the frame carries none). rotation defaults to 0, scale to 1.
 */
export function parseStructurePlacement(body: unknown, defaultFloor?: Floor): StructurePlacement {
  const b = asObject(body, 'body', { code: 'INVALID_STRUCTURE', what: 'Structure body' });
  return {
    structure_type: parseStructureType(b.structure_type),
    position: parsePosition(b.position, 'position', 'INVALID_STRUCTURE'),
    floor: parseFloor(b.floor ?? defaultFloor, 'floor', 'INVALID_STRUCTURE'),
    rotation: b.rotation === undefined ? 0 : parseRotation(b.rotation),
    scale: b.scale === undefined ? 1 : parseScale(b.scale),
    zone_id: parseZoneId(b.zone_id),
    properties: parseProperties(b.properties, 'INVALID_STRUCTURE'),
  };
}

/** `PUT /api/structures/{id}`: position, rotation, scale, properties; at least one. Type and floor are fixed. */
export function parseStructurePatch(body: unknown): StructurePatch {
  const b = asObject(body, 'body', { code: 'INVALID_STRUCTURE', what: 'Structure update' });
  for (const fixed of ['structure_type', 'floor'] as const) {
    if (b[fixed] !== undefined) throw bad(fixed, 'immutable', `${fixed} cannot change; place a new structure instead`);
  }
  const patch: StructurePatch = {};
  if (b.position !== undefined) patch.position = parsePosition(b.position, 'position', 'INVALID_STRUCTURE');
  if (b.rotation !== undefined) patch.rotation = parseRotation(b.rotation);
  if (b.scale !== undefined) patch.scale = parseScale(b.scale);
  if (b.properties !== undefined) patch.properties = parseProperties(b.properties, 'INVALID_STRUCTURE');
  if (Object.keys(patch).length === 0) throw bad('body', 'empty', 'Give at least one of position, rotation, scale, properties');
  return patch;
}

/**
 * When a structure names a zone, it must stand inside it (across the wrap, boundary included) and on its
 * floor. The caller loads the zone row and passes its parsed shape (`parseZoneGeometry(row.geometry)`).
 */
export function assertInsideZone(
  at: { position: Point; floor: Floor },
  zone: { id: number; floor: Floor; shape: ZoneShape },
): void {
  if (at.floor !== zone.floor) {
    throw new ApiError('INVALID_STRUCTURE', `Zone ${zone.id} is on floor ${zone.floor}, not ${at.floor}`, {
      details: {
        field: 'zone_id',
        issue: 'floor_mismatch',
      },
    });
  }
  if (!pointInZone(zone.shape, at.position)) {
    throw new ApiError('INVALID_STRUCTURE', `Position is outside zone ${zone.id}`, {
      details: {
        field: 'position',
        issue: 'outside_zone',
      },
    });
  }
}

/** The chunk a structure belongs to (its version bumps and its actor fans out `chunk_updated`). */
export const structureChunk = (s: { position: Point; floor: Floor }): ChunkRef => chunkOf(s.floor, s.position.x);
