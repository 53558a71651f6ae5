import { createRoute, z } from '@hono/zod-openapi';
import { LOD_LEVELS, parseGenerateRequest, parseWorldSeed } from '../../domain/chunks';
import { chunkSeed } from '../../domain/procgen';
import { CHUNK_LENGTH, formatChunkId, parseChunkIndex, parseFloor, RING_WIDTH } from '../../domain/ring';
import { CHUNK_ENCODING, generatedChunks, worldSeedOf } from '../../world/procgen';
import { requireAuth, requireAuthLimited } from '../middleware/auth';
import { documented as doc, errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
import { router } from '../validation';

/**
 * Seed 000's Procedural Generation Service API, served by the Worker itself (no separate service); the
 * generation pipeline and its D1 cache are src/world/procgen.ts.
 *
 * The seed calls this an internal service API; here any authenticated user may call it (tools and clients
 * use it to debug determinism), and generation counts against the chunk-request limit (100/min per user).
 */

export const Encoding = z
  .object({ format: z.literal(CHUNK_ENCODING.format), compression: z.literal('gzip'), encoding: z.literal('base64') })
  .openapi('ChunkEncoding', {
    description:
      'geometry = base64(gzip(ERCG buffer)); ERCG v1 is little-endian binary: a 48-byte header ("ERCG", format, lod, ' +
      'floor, chunk index, chunk seed, world seed, terrain grid, record counts) then terrain heights, roads, transit, ' +
      'stations and buildings in chunk-local coordinates (see src/domain/chunks.ts)',
  });

const GenerateRequest = z
  .object({
    floor: doc('integer', 'Floor −2..15', 0),
    chunk_index: doc('integer', 'Chunk index 0..263,999', 12345),
    lod_level: doc('string', LOD_LEVELS.join(', '), 'medium'),
    world_seed: doc('integer', 'uint32; default: the server WORLD_SEED (12345)', 12345),
  })
  .partial()
  .loose()
  .openapi('GenerateChunkRequest', { required: ['floor', 'chunk_index'] });

const GenerateResponse = z
  .object({
    success: z.literal(true),
    chunk: z.object({
      chunk_id: z.string(),
      floor: z.number().int(),
      chunk_index: z.number().int(),
      width: z.number(),
      length: z.number(),
      version: z.number().int(),
      lod_level: z.enum(LOD_LEVELS),
      world_seed: z.number().int(),
      chunk_seed: z.number().int(),
      encoding: Encoding,
    }),
    geometry: z.string(),
    structures: z.array(z.record(z.string(), z.unknown())),
    zones: z.array(z.record(z.string(), z.unknown())),
    message: z.string(),
  })
  .openapi('GenerateChunkResponse');

const SeedParams = z.object({
  floor: z
    .string()
    .regex(/^-?\d{1,3}$/, 'must be an integer')
    .openapi({ param: { name: 'floor', in: 'path' }, example: '0' }),
  chunk_index: z
    .string()
    .regex(/^\d{1,10}$/, 'must be an integer')
    .openapi({ param: { name: 'chunk_index', in: 'path' }, example: '12345' }),
});

const SeedResponse = z
  .object({ floor: z.number().int(), chunk_index: z.number().int(), world_seed: z.number().int(), chunk_seed: z.number().int() })
  .openapi('ChunkSeed', {
    description:
      'chunk_seed = fmix32(fmix32(fmix32(0x9E3779B9 ^ world_seed) ^ (floor + 2)) ^ chunk_index), uint32, fmix32 = MurmurHash3 finaliser',
  });

const generateRoute = createRoute({
  method: 'post',
  path: '/generate',
  summary: 'Generate one chunk (procedural generation service; counts as a chunk request)',
  security,
  middleware: [requireAuthLimited('CHUNK_REQUEST')] as const,
  request: { body: { required: true, content: { 'application/json': { schema: GenerateRequest } } } },
  responses: {
    200: ok(GenerateResponse, 'Generated (or served from the cache, byte-identical)'),
    400: error('Bad floor, chunk index, LOD or seed'),
    401: error('Not authenticated'),
    429: error('More than 100 chunk requests a minute'),
  },
});

const seedRoute = createRoute({
  method: 'get',
  path: '/seed/{floor}/{chunk_index}',
  summary: 'The deterministic seed of a chunk',
  security,
  middleware: [requireAuth] as const,
  request: { params: SeedParams, query: z.object({ world_seed: z.string().optional().openapi({ example: '12345' }) }) },
  responses: {
    200: ok(SeedResponse, 'Seed'),
    400: error('Bad floor, chunk index or seed'),
    401: error('Not authenticated'),
  },
});

export const procgen = router();

procgen
  .openapi(generateRoute, async (c) => {
    const raw = c.req.valid('json');
    const req = parseGenerateRequest({ ...raw, world_seed: raw.world_seed ?? worldSeedOf(c.env) });
    const ref = { floor: req.floor, chunkIndex: req.chunkIndex };
    const content = (await generatedChunks(c.env, [ref], req.lod, req.worldSeed)).get(formatChunkId(ref))!;
    return c.json(
      {
        success: true as const,
        chunk: {
          chunk_id: formatChunkId(ref),
          floor: ref.floor,
          chunk_index: ref.chunkIndex,
          width: RING_WIDTH,
          length: CHUNK_LENGTH,
          version: 1,
          lod_level: req.lod,
          world_seed: content.worldSeed,
          chunk_seed: content.chunkSeed,
          encoding: CHUNK_ENCODING,
        },
        geometry: content.geometry,
        structures: content.structures,
        zones: content.zones,
        message: `Chunk ${formatChunkId(ref)} generated: ${content.structures.length} structures, ${content.zones.length} zones`,
      },
      200,
    );
  })
  .openapi(seedRoute, async (c) => {
    const p = c.req.valid('param');
    const floor = parseFloor(Number(p.floor));
    const chunkIndex = parseChunkIndex(Number(p.chunk_index));
    const q = c.req.valid('query').world_seed;
    const worldSeed = q === undefined || q === '' ? worldSeedOf(c.env) : parseWorldSeed(q);
    return c.json(
      { floor, chunk_index: chunkIndex, world_seed: worldSeed, chunk_seed: chunkSeed(worldSeed, floor, chunkIndex) },
      200,
    );
  });
