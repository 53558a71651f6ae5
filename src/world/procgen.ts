import { findGeneratedChunks, type GeneratedChunkRow, storeGeneratedChunks } from '../db/chunks';
import { encodeChunkGeometry, type Lod, parseWorldSeed } from '../domain/chunks';
import { generateChunk, generatedStructures } from '../domain/procgen';
import { type ChunkRef, formatChunkId } from '../domain/ring';
import type { Env } from '../env';
import { ApiError, isApiError } from '../errors';

/**
 * The generation pipeline behind seed 000's Procedural Generation Service and `POST /api/chunks/request`:
 * generate (src/domain/procgen.ts), encode as ERCG binary (src/domain/chunks.ts), gzip, base64, and cache in D1
 * per (world seed, floor, chunk, LOD). Only the world's own seed (`WORLD_SEED`) is cached: other seeds are
 * generated on each call, byte-identical all the same, and cannot fill D1 with worlds nobody plays.
 */

/** How a chunk's `geometry` string is encoded, so a client can decode it. */
export const CHUNK_ENCODING = { format: 'edgerooms-chunk-v1', compression: 'gzip', encoding: 'base64' } as const;

/** The world seed of this deployment; a malformed `WORLD_SEED` is a server fault, never a client's 400. */
export function worldSeedOf(env: Env): number {
  try {
    return parseWorldSeed(env.WORLD_SEED);
  } catch (e) {
    if (!isApiError(e)) throw e;
    console.error('WORLD_SEED is not a uint32:', env.WORLD_SEED);
    throw new ApiError('SERVER_ERROR', 'World seed is misconfigured');
  }
}

/** gzip through the runtime's CompressionStream (its default level; output is deterministic). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode(...all) would overflow the argument limit on large buffers.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export type GeneratedStructure = ReturnType<typeof generatedStructures>[number] & { generated: true };

export interface GeneratedZoneRecord {
  id: string;
  name: string;
  zone_type: string;
  floor: number;
  geometry: { type: 'Polygon'; coordinates: [number, number][][] };
  properties: Record<string, unknown>;
  generated: true;
}

/** One generated chunk as the REST answers carry it. */
export interface GeneratedContent {
  chunkSeed: number;
  worldSeed: number;
  lod: Lod;
  /** gzip + base64 of the ERCG buffer (CHUNK_ENCODING). */
  geometry: string;
  structures: GeneratedStructure[];
  zones: GeneratedZoneRecord[];
}

async function generateRow(ref: ChunkRef, lod: Lod, worldSeed: number, now: string): Promise<GeneratedChunkRow> {
  const chunk = generateChunk({ floor: ref.floor, chunkIndex: ref.chunkIndex, lod, worldSeed });
  const structures = generatedStructures(chunk).map((s) => ({ ...s, generated: true as const }));
  const zones: GeneratedZoneRecord[] = chunk.zones.map((z) => ({
    id: `gen:${z.id}`,
    name: z.name,
    zone_type: z.zone_type,
    floor: ref.floor,
    geometry: z.geometry,
    properties: {},
    generated: true,
  }));
  return {
    world_seed: chunk.chunk.world_seed,
    floor: ref.floor,
    chunk_index: ref.chunkIndex,
    lod,
    chunk_seed: chunk.chunk.chunk_seed,
    geometry: toBase64(await gzip(encodeChunkGeometry(chunk))),
    content: JSON.stringify({ structures, zones }),
    created_at: now,
  };
}

const contentOf = (row: GeneratedChunkRow): GeneratedContent => {
  const { structures, zones } = JSON.parse(row.content) as Pick<GeneratedContent, 'structures' | 'zones'>;
  return { chunkSeed: row.chunk_seed, worldSeed: row.world_seed, lod: row.lod as Lod, geometry: row.geometry, structures, zones };
};

/**
 * Generated content of chunks, keyed by chunk id: from the D1 cache when present, else generated now (and
 * cached when `worldSeed` is the world's own).
 */
export async function generatedChunks(
  env: Env,
  refs: readonly ChunkRef[],
  lod: Lod,
  worldSeed: number,
): Promise<Map<string, GeneratedContent>> {
  const cacheable = worldSeed === worldSeedOf(env);
  const cached = cacheable ? await findGeneratedChunks(env.DB, worldSeed, lod, refs) : new Map<string, GeneratedChunkRow>();
  const now = new Date().toISOString();
  const fresh = await Promise.all(
    refs.filter((r) => !cached.has(formatChunkId(r))).map((ref) => generateRow(ref, lod, worldSeed, now)),
  );
  const stored = cacheable ? await storeGeneratedChunks(env.DB, fresh) : fresh;
  const out = new Map<string, GeneratedContent>();
  for (const row of [...cached.values(), ...stored]) {
    out.set(formatChunkId({ floor: row.floor, chunkIndex: row.chunk_index }), contentOf(row));
  }
  return out;
}
