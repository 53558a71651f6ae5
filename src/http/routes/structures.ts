import { createRoute, z } from '@hono/zod-openapi';
import { notifyChunkChanges } from '../../actors/chunk-calls';
import {
  deleteStructure,
  findStructure,
  type StructureRow,
  structureFromRow,
  structuresInChunk,
  updateStructure,
} from '../../db/structures';
import { parseChunkIndex, parseFloor, RING_CIRCUMFERENCE } from '../../domain/ring';
import { parseStructurePatch, STRUCTURE_TYPES } from '../../domain/structures';
import { ApiError } from '../../errors';
import { assertZonePlacement, parseModelData, placeStructureFor } from '../../world/structures';
import { idempotent } from '../idempotency';
import { requireAuth, requireAuthLimited } from '../middleware/auth';
import { jsonRequest as body, documented as doc, errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
import { router } from '../validation';
import { assertOwnerOrAdmin, IdParam } from './zones';

/**
 * Seed 000's Structure Management. Bodies are validated by src/domain/structures.ts; a structure that names
 * a zone must stand inside it (a zone of the same tenant). Every query is tenant-scoped.
 */

const Structure = z
  .object({
    id: z.number().int().openapi({ example: 789 }),
    structure_type: z.enum(STRUCTURE_TYPES),
    position: z.object({ x: z.number(), y: z.number() }),
    floor: z.number().int(),
    rotation: z.number(),
    scale: z.number(),
    zone_id: z.number().int().nullable(),
    owner_id: z.number().int(),
    properties: z.record(z.string(), z.unknown()),
    model_data: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Structure');

const StructurePlace = z
  .object({
    structure_type: doc('string', STRUCTURE_TYPES.join(', '), 'building'),
    position: doc('object', `{x, y}: x 0..${RING_CIRCUMFERENCE}`, { x: 12345, y: 100 }),
    floor: doc('integer', 'Floor −2..15', 0),
    rotation: doc('number', 'Degrees, default 0', 45),
    scale: doc('number', '> 0 and ≤ 100, default 1', 1),
    zone_id: doc('integer', 'A zone of the tenant on the same floor that contains the position', 456),
    properties: doc('object', 'Free JSON object, at most 16 KiB', { building_type: 'apartment', height: 50 }),
    model_data: doc('object', 'Client model description, free JSON object, at most 16 KiB'),
  })
  .partial()
  .loose()
  .openapi('StructurePlaceRequest', { required: ['structure_type', 'position', 'floor'] });

const StructureUpdate = z
  .object({
    position: doc('object', '{x, y}; must stay inside the zone, if any'),
    rotation: doc('number', 'Degrees', 90),
    scale: doc('number', '> 0 and ≤ 100'),
    properties: doc('object', 'Merged into the current properties; a key set to null is removed', { height: 60 }),
    model_data: doc('object', 'Replaces the model data'),
  })
  .partial()
  .loose()
  .openapi('StructureUpdateRequest');

const ChunkQuery = z.object({
  floor: z.string().openapi({ example: '0' }),
  chunk_index: z.string().openapi({ example: '12' }),
});

const placeRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Place a structure (20/min per user)',
  security,
  middleware: [requireAuthLimited('STRUCTURE_PLACE'), idempotent()] as const,
  request: { body: body(StructurePlace) },
  responses: {
    201: ok(Structure, 'Placed'),
    400: error('INVALID_STRUCTURE with details {field, issue}, e.g. outside_zone'),
    401: error('Not authenticated'),
    429: error('More than 20 placements a minute'),
  },
});

const chunkRoute = createRoute({
  method: 'get',
  path: '/chunk',
  summary: "The tenant's structures in one chunk",
  security,
  middleware: [requireAuth] as const,
  request: { query: ChunkQuery },
  responses: {
    200: ok(z.object({ structures: z.array(Structure) }).openapi('StructuresInChunk'), 'Structures, by id'),
    400: error('Bad floor or chunk index'),
    401: error('Not authenticated'),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'A structure of the tenant',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam },
  responses: { 200: ok(Structure, 'Structure'), 401: error('Not authenticated'), 404: error('No such structure in this tenant') },
});

const updateRoute = createRoute({
  method: 'put',
  path: '/{id}',
  summary: 'Update a structure (owner or admin)',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam, body: body(StructureUpdate) },
  responses: {
    200: ok(Structure, 'Updated'),
    400: error('INVALID_STRUCTURE'),
    401: error('Not authenticated'),
    403: error('Not the owner'),
    404: error('No such structure in this tenant'),
  },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  summary: 'Delete a structure (owner or admin)',
  security,
  middleware: [requireAuth] as const,
  request: { params: IdParam },
  responses: {
    200: ok(z.object({ success: z.literal(true) }), 'Deleted'),
    401: error('Not authenticated'),
    403: error('Not the owner'),
    404: error('No such structure in this tenant'),
  },
});

async function loadStructure(db: D1Database, tenantId: string, id: number): Promise<StructureRow> {
  const row = await findStructure(db, tenantId, id);
  if (!row) throw new ApiError('NOT_FOUND', `No structure ${id}`, { details: { field: 'id' } });
  return row;
}

/** Integers from a query string; anything else becomes NaN for the domain validator to name. */
const queryInt = (s: string): number => (/^-?\d{1,10}$/.test(s.trim()) ? Number(s) : Number.NaN);

export const structures = router();

structures
  .openapi(placeRoute, async (c) => {
    const identity = c.get('identity');
    const { structure, changes } = await placeStructureFor(c.env.DB, identity, c.req.valid('json'));
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json(structure, 201);
  })
  .openapi(chunkRoute, async (c) => {
    const q = c.req.valid('query');
    const floor = parseFloor(queryInt(q.floor));
    const chunkIndex = parseChunkIndex(queryInt(q.chunk_index));
    const rows = await structuresInChunk(c.env.DB, c.get('identity').tenantId, { floor, chunkIndex });
    return c.json({ structures: rows.map(structureFromRow) }, 200);
  })
  .openapi(getRoute, async (c) => {
    const row = await loadStructure(c.env.DB, c.get('identity').tenantId, Number(c.req.valid('param').id));
    return c.json(structureFromRow(row), 200);
  })
  .openapi(updateRoute, async (c) => {
    const identity = c.get('identity');
    const row = await loadStructure(c.env.DB, identity.tenantId, Number(c.req.valid('param').id));
    assertOwnerOrAdmin(identity, row.owner_id, 'structure');
    const { model_data, ...rest } = c.req.valid('json');
    const modelData = model_data === undefined ? undefined : parseModelData(model_data);
    // model_data alone is a valid update; the domain's patch covers the other fields.
    const onlyModel = modelData !== undefined && Object.values(rest).every((v) => v === undefined);
    const patch = onlyModel ? {} : parseStructurePatch(rest);
    if (patch.position && row.zone_id !== null) {
      await assertZonePlacement(c.env.DB, identity.tenantId, row.zone_id, { position: patch.position, floor: row.floor });
    }
    const { structure, changes } = await updateStructure(c.env.DB, row, patch, modelData, new Date().toISOString());
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json(structure, 200);
  })
  .openapi(deleteRoute, async (c) => {
    const identity = c.get('identity');
    const row = await loadStructure(c.env.DB, identity.tenantId, Number(c.req.valid('param').id));
    assertOwnerOrAdmin(identity, row.owner_id, 'structure');
    const { deleted, changes } = await deleteStructure(c.env.DB, row, new Date().toISOString());
    if (!deleted) throw new ApiError('NOT_FOUND', `No structure ${row.id}`, { details: { field: 'id' } });
    await notifyChunkChanges(c.env, identity.tenantId, changes);
    return c.json({ success: true as const }, 200);
  });
