import { chunkKey } from '../actors/chunk';
import type { ChunkChange } from '../db/chunks';
import type { Env } from '../env';

/**
 * After D1 committed a zone or structure change, tells each changed chunk's actor, which sends `chunk_updated`
 * to everyone watching it (players in it and its neighbours, and players who requested it). A failed notice is
 * logged, never thrown: the write is done, and the chunk's version in D1 tells any client what it missed.
 */
export async function notifyChunkChanges(env: Env, tenantId: string, changes: readonly ChunkChange[]): Promise<void> {
  const results = await Promise.allSettled(
    changes.map((change) => env.CHUNK.getByName(chunkKey(tenantId, change.chunk_id)).chunkChanged(change)),
  );
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected') console.error(`chunk_updated for ${changes[i]?.chunk_id} failed`, r.reason);
  }
}
