import { createRoute, z } from '@hono/zod-openapi';
import { notifyChunkChanges } from '../../actors/chunk-calls';
import type { Identity } from '../../auth/identity';
import { structuresOfZone } from '../../db/structures';
import { deleteZone, findZone, updateZone, type ZoneRow, zoneFromRow, zonesInArea } from '../../db/zones';
import { ID_PATTERN } from '../../domain/input';
import { structureChunk } from '../../domain/structures';
import { parseZoneAreaQuery, parseZonePatch, pointInZone, ZONE_TYPES, type ZoneShape } from '../../domain/zones';
import { ApiError } from '../../errors';
import { createZoneFor } from '../../world/zones';
import { idempotent } from '../idempotency';
import { requireAuth, requireAuthLimited } from '../middleware/auth';
import { jsonRequest as body, documented as doc, errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
import { router } from '../validation';

/**
 * Seed 000's Zone Management. Bodies are validated by src/domain/zones.ts (one validator, errors with
 * `{field, issue}`); the zod schemas here document them for /openapi.json. Every query is tenant-scoped.
 */

/** A positive integer id in the path; shared with the structure routes. */
export const IdParam = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, 'must be a positive integer id')
    .openapi({ param: { name: 'id', in: 'path' }, example: '456' }),
});

/** 403 AUTHORIZATION_FAILED unless the caller owns the resource or is an admin of the tenant. */
export function assertOwnerOrAdmin(identity: Identity, ownerId: number, what: string): void {
  if (identity.role === 'admin' || identity.userId === String(ownerId)) return;
  throw new ApiError('AUTHORIZATION_FAILED', `Only the owner of this ${what} or an admin may change it`, {
    details: { owner_id: ownerId },
  });
}

const Polygon = z
  .object({ type: z.literal('Polygon'), coordinates: z.array(z.array(z.tuple([z.number(), z.number()]))) })
  .openapi('Polygon', {
    description:
      'GeoJSON Polygon in ring metres: closed rings of at least 4 positions, x 0..264,000,000, edges take the short way ' +
      'round the ring (a zone may cross x = 0), no self-intersections',
  });

const Zone = z
  .object({
    id: z.number().int().openapi({ example: 456 }),
    name: z.string().openapi({ example: 'Downtown District' }),
    zone_type: z.enum(ZONE_TYPES),
    floor: z.number().int(),
    geometry: Polygon,
    owner_id: z.number().int(),
    properties: z.record(z.string(), z.unknown()),
    area: z.number().openapi({ description: 'm²' }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Zone');

const ZoneCreate = z
  .object({
    name: doc('string', '1..100 characters', 'Downtown District'),
    zone_type: doc('string', ZONE_TYPES.join(', '), 'commercial'),
    geometry: doc('object', 'GeoJSON Polygon (see Polygon)'),
    floor: doc('integer', 'Floor −2..15', 0),
    properties: doc('object', 'Free JSON object, at most 16 KiB', { density: 'high', style: 'modern' }),
  })
  .partial()
  .loose()
  .openapi('ZoneCreateRequest', { required: ['name', 'zone_type', 'geometry', 'floor'] });

const ZoneUpdate = z
  .object({
    name: doc('string', '1..100 characters'),
    zone_type: doc('string', ZONE_TYPES.join(', ')),
    geometry: doc('object', 'GeoJSON Polygon; re-validated, and must still contain the structures placed in the zone'),
    properties: doc('object', 'Merged into the current properties; a key set to null is removed', { density: 'medium' }),
  })
  .partial()
  .loose()
  .openapi('ZoneUpdateRequest');

const AreaQuery = z.object({
  x_min: z.string().openapi({ example: '263999000', description: 'x_min > x_max means the box crosses x = 0' }),
  x_max: z.string().openapi({ example: '1000' }),
  y_min: z.string().openapi({ example: '-200' }),
  y_max: z.string().openapi({ example: '200' }),
  floor: z.string().openapi({ example: '0' }),
});

const createZoneRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Create a zone (10/min per user)',
  security,
  middleware: [requireAuthLimited('ZONE_CREATE'), idempotent()] as const,
  request: { body: body(ZoneCreate) },
  responses: {
    201: ok(Zone, 'Created'),
    400: error('INVALID_ZONE with details {field, issue}, e.g. self_intersection'),
    401: error('Not authenticated'),
    429: error('More than 10 zones a minute'),
  },
});

const areaRoute = createRoute({
  method: 'get',
  path: '/area',
  summary: 'Zones whose bounding box meets a box on a floor (across the wrap)',
  security,
  middleware: [requireAuth] as const,
  request: { query: AreaQuery },
  responses: {
    200: ok(z.object({ zones: z.array(Zone) }).openapi('ZonesInArea'), 'Zones, by id, at most 1,000'),
    400: error('Bad box or floor'),
    401: error('Not authenticated'),
  },
});

const getZoneRoute = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'A zone of the tenant',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam },
  responses: { 200: ok(Zone, 'Zone'), 401: error('Not authenticated'), 404: error('No such zone in this tenant') },
});

const updateZoneRoute = createRoute({
  method: 'put',
  path: '/{id}',
  summary: 'Update a zone (owner or admin)',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam, body: body(ZoneUpdate) },
  responses: {
    200: ok(Zone, 'Updated'),
    400: error('INVALID_ZONE'),
    401: error('Not authenticated'),
    403: error('Not the owner'),
    404: error('No such zone in this tenant'),
  },
});

const deleteZoneRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  summary: 'Delete a zone (owner or admin); its structures stay, with zone_id null',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam },
  responses: {
    200: ok(z.object({ success: z.literal(true) }), 'Deleted'),
    401: error('Not authenticated'),
    403: error('Not the owner'),
    404: error('No such zone in this tenant'),
  },
});

async function loadZone(db: D1Database, tenantId: string, id: number): Promise<ZoneRow> {
  const row = await findZone(db, tenantId, id);
  if (!row) throw new ApiError('NOT_FOUND', `No zone ${id}`, { details: { field: 'id' } });
  return row;
}

/** A new outline must still hold every structure placed in the zone. */
async function assertKeepsStructures(db: D1Database, row: ZoneRow, shape: ZoneShape): Promise<void> {
  const outside = (await structuresOfZone(db, row.tenant_id, row.id)).filter(
    (s) => !pointInZone(shape, { x: s.position_x, y: s.position_y }),
  );
  if (outside.length > 0) {
    throw new ApiError('INVALID_ZONE', `The new geometry leaves ${outside.length} of the zone's structures outside it`, {
      details: {
        field: 'geometry',
        issue: 'excludes_structures',
        structure_ids: outside.map((s) => s.id),
      },
    });
  }
}

export const zones = router();

zones
  .openapi(createZoneRoute, async (c) => {
    const identity = c.get('identity');
    const { zone, changes } = await createZoneFor(c.env.DB, identity, c.req.valid('json'));
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json(zone, 201);
  })
  .openapi(areaRoute, async (c) => {
    const q = parseZoneAreaQuery(c.req.valid('query'));
    const rows = await zonesInArea(c.env.DB, c.get('identity').tenantId, q);
    return c.json({ zones: rows.map(zoneFromRow) }, 200);
  })
  .openapi(getZoneRoute, async (c) => {
    const row = await loadZone(c.env.DB, c.get('identity').tenantId, Number(c.req.valid('param').id));
    return c.json(zoneFromRow(row), 200);
  })
  .openapi(updateZoneRoute, async (c) => {
    const identity = c.get('identity');
    const row = await loadZone(c.env.DB, identity.tenantId, Number(c.req.valid('param').id));
    assertOwnerOrAdmin(identity, row.owner_id, 'zone');
    const patch = parseZonePatch(c.req.valid('json'));
    if (patch.shape) await assertKeepsStructures(c.env.DB, row, patch.shape);
    const { zone, changes } = await updateZone(c.env.DB, row, patch, new Date().toISOString());
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json(zone, 200);
  })
  .openapi(deleteZoneRoute, async (c) => {
    const identity = c.get('identity');
    const row = await loadZone(c.env.DB, identity.tenantId, Number(c.req.valid('param').id));
    assertOwnerOrAdmin(identity, row.owner_id, 'zone');
    const detached = (await structuresOfZone(c.env.DB, row.tenant_id, row.id)).map((s) =>
      structureChunk({ floor: s.floor, position: { x: s.position_x, y: s.position_y } }),
    );
    const { deleted, changes } = await deleteZone(c.env.DB, row, detached, new Date().toISOString());
    if (!deleted) throw new ApiError('NOT_FOUND', `No zone ${row.id}`, { details: { field: 'id' } });
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json({ success: true as const }, 200);
  });
