import { createStructure, type StructureWrite } from '../db/structures';
import { findZone, zoneShapeOf } from '../db/zones';
import type { Floor, Point } from '../domain/ring';
import { assertInsideZone, parseStructurePlacement } from '../domain/structures';
import { parseProperties } from '../domain/zones';
import { ApiError, isApiError } from '../errors';

/**
 * Structure placement shared by `POST /api/structures` and the socket's `structure_place`: the same validation
 * (inside the ring, inside the named zone of the tenant) and the same D1 write with the chunk-version bump.
 */

/** `model_data`: the same object rules as properties, reported under its own field name. */
export function parseModelData(value: unknown): Record<string, unknown> {
  try {
    return parseProperties(value, 'INVALID_STRUCTURE');
  } catch (e) {
    if (!isApiError(e)) throw e;
    throw new ApiError(e.code, e.message.replace('properties', 'model_data'), { details: { ...e.details, field: 'model_data' } });
  }
}

/** The named zone must exist in the tenant, be on the structure's floor and contain its position. */
export async function assertZonePlacement(
  db: D1Database,
  tenantId: string,
  zoneId: number,
  at: { position: Point; floor: Floor },
): Promise<void> {
  const zone = await findZone(db, tenantId, zoneId);
  if (!zone) {
    throw new ApiError('INVALID_STRUCTURE', `No zone ${zoneId}`, { details: { field: 'zone_id', issue: 'zone_not_found' } });
  }
  assertInsideZone(at, { id: zone.id, floor: zone.floor, shape: zoneShapeOf(zone) });
}

/** Validates and places one structure; `defaultFloor` fills a missing floor (the socket frame carries none). */
export async function placeStructureFor(
  db: D1Database,
  who: { tenantId: string; userId: string },
  body: unknown,
  defaultFloor?: Floor,
): Promise<StructureWrite> {
  const placement = parseStructurePlacement(body, defaultFloor);
  const modelData = parseModelData((body as Record<string, unknown>).model_data);
  if (placement.zone_id !== null) await assertZonePlacement(db, who.tenantId, placement.zone_id, placement);
  return createStructure(db, who.tenantId, Number(who.userId), placement, modelData, new Date().toISOString());
}
