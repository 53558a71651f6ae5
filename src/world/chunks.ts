import { chunkMetadata } from '../db/chunks';
import { structureFromRow, structuresInChunks } from '../db/structures';
import { zoneFromRow, zonesInChunks } from '../db/zones';
import { type ChunkRequest, parseChunkRequest } from '../domain/chunks';
import { CHUNK_LENGTH, formatChunkId, RING_WIDTH } from '../domain/ring';
import type { Env } from '../env';
import { CHUNK_ENCODING, generatedChunks, worldSeedOf } from './procgen';

/**
 * Chunk content shared by `POST /api/chunks/request` and the socket's `chunk_request` → `chunk_data`: the
 * generated baseline (cached, byte-identical) plus the tenant's zones and structures and its chunk version.
 */
export async function chunkContents(env: Env, tenantId: string, request: ChunkRequest) {
  const { chunks: refs, lod } = request;
  const worldSeed = worldSeedOf(env);
  const [generated, metadata, structures, zones] = await Promise.all([
    generatedChunks(env, refs, lod, worldSeed),
    chunkMetadata(env.DB, tenantId, refs),
    structuresInChunks(env.DB, tenantId, refs),
    zonesInChunks(env.DB, tenantId, refs),
  ]);
  return refs.map((ref) => {
    const id = formatChunkId(ref);
    const gen = generated.get(id)!;
    return {
      id,
      geometry: gen.geometry,
      structures: [...(structures.get(id) ?? []).map(structureFromRow), ...gen.structures],
      zones: [...(zones.get(id) ?? []).map(zoneFromRow), ...gen.zones],
      metadata: {
        ...metadata.get(id)!,
        lod_level: lod,
        world_seed: gen.worldSeed,
        chunk_seed: gen.chunkSeed,
        width: RING_WIDTH,
        length: CHUNK_LENGTH,
        encoding: CHUNK_ENCODING,
      },
    };
  });
}

/** Parses a `{chunks, lod_level}` body (REST or frame) and answers its content. */
export function requestChunks(env: Env, tenantId: string, body: unknown) {
  return chunkContents(env, tenantId, parseChunkRequest(body));
}
