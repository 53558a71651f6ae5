import { createRoute, z } from '@hono/zod-openapi';
import { getChunkMetadata } from '../../db/chunks';
import { LOD_LEVELS, MAX_CHUNKS_PER_REQUEST } from '../../domain/chunks';
import { parseChunkId } from '../../domain/ring';
import { requestChunks } from '../../world/chunks';
import { requireAuthLimited } from '../middleware/auth';
import { errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
import { router } from '../validation';
import { Encoding } from './procgen';

/**
 * Seed 000's Chunk Management: per-tenant chunk metadata, and chunk content = the generated baseline (cached,
 * byte-identical) plus the tenant's own zones and structures, with the tenant's chunk version.
 */

const Metadata = z
  .object({
    id: z.string().openapi({ example: '0_12345' }),
    floor: z.number().int(),
    chunk_index: z.number().int(),
    version: z.number().int().openapi({ description: '1 until a zone or structure in the chunk changes' }),
    last_modified: z.string().nullable(),
    is_dirty: z.boolean().openapi({ description: 'Changed by players since it was generated' }),
  })
  .openapi('ChunkMetadata');

const ChunkContent = z
  .object({
    id: z.string(),
    geometry: z.string().openapi({ description: 'base64(gzip(ERCG buffer)); see metadata.encoding' }),
    structures: z.array(z.record(z.string(), z.unknown())).openapi({
      description: "The tenant's structures in the chunk, then generated buildings, roads and transit (`generated: true`)",
    }),
    zones: z.array(z.record(z.string(), z.unknown())).openapi({
      description: "The tenant's zones covering the chunk, then generated districts (`generated: true`)",
    }),
    metadata: Metadata.extend({
      lod_level: z.enum(LOD_LEVELS),
      world_seed: z.number().int(),
      chunk_seed: z.number().int(),
      width: z.number(),
      length: z.number(),
      encoding: Encoding,
    }),
  })
  .openapi('ChunkContent');

const ChunkRequest = z
  .object({
    chunks: z.unknown().openapi({
      type: 'array',
      items: { type: 'string' },
      description: `1..${MAX_CHUNKS_PER_REQUEST} chunk ids "floor_chunkIndex"`,
      example: ['0_12345', '0_12346'],
    }),
    lod_level: z.unknown().openapi({ type: 'string', enum: [...LOD_LEVELS], example: 'medium' }),
  })
  .partial()
  .loose()
  .openapi('ChunkRequest', { required: ['chunks'] });

const ChunkIdParam = z.object({
  chunk_id: z.string().openapi({ param: { name: 'chunk_id', in: 'path' }, example: '0_12345' }),
});

const limited = [requireAuthLimited('CHUNK_REQUEST')] as const;

const metadataRoute = createRoute({
  method: 'get',
  path: '/{chunk_id}',
  summary: 'Chunk metadata (default version 1 when never changed; 100/min per user)',
  security,
  middleware: [...limited],
  request: { params: ChunkIdParam },
  responses: {
    200: ok(Metadata, 'Metadata'),
    400: error('Malformed chunk id'),
    401: error('Not authenticated'),
    404: error('CHUNK_NOT_FOUND: floor or index outside the ring'),
    429: error('More than 100 chunk requests a minute'),
  },
});

const requestRoute = createRoute({
  method: 'post',
  path: '/request',
  summary: 'Chunk content: generated geometry, structures and zones (100/min per user)',
  security,
  middleware: [...limited],
  request: { body: { required: true, content: { 'application/json': { schema: ChunkRequest } } } },
  responses: {
    200: ok(z.object({ chunks: z.array(ChunkContent) }).openapi('ChunkResponse'), 'Chunks, in request order'),
    400: error('Malformed ids, too many ids, unknown LOD'),
    401: error('Not authenticated'),
    404: error('CHUNK_NOT_FOUND'),
    429: error('More than 100 chunk requests a minute'),
  },
});

export const chunks = router();

chunks
  .openapi(metadataRoute, async (c) => {
    const ref = parseChunkId(c.req.valid('param').chunk_id);
    return c.json(await getChunkMetadata(c.env.DB, c.get('identity').tenantId, ref), 200);
  })
  .openapi(requestRoute, async (c) => {
    const out = await requestChunks(c.env, c.get('identity').tenantId, c.req.valid('json'));
    return c.json({ chunks: out }, 200);
  });
