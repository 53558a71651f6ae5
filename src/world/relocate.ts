import { chunkKey } from '../actors/chunk';
import type { Floor, Point } from '../domain/ring';
import { chunkOf, formatChunkId } from '../domain/ring';
import type { Env } from '../env';

/**
 * After D1 took a REST move, tells the Chunk actor of the player's previous position, which moves their live game
 * sockets as a `player_move` would (`player_moved` to the area, or a `chunk_handoff`). A failed notice is logged,
 * never thrown: D1 is written, and the player's next connect lands where D1 says.
 */
export async function relocateLivePlayer(
  env: Env,
  tenantId: string,
  userId: number,
  from: { x: number; floor: number },
  to: { position: Point; floor: Floor },
): Promise<void> {
  const chunkId = formatChunkId(chunkOf(from.floor, from.x));
  try {
    await env.CHUNK.getByName(chunkKey(tenantId, chunkId)).relocate(String(userId), to);
  } catch (err) {
    console.error(`relocating player ${userId} in chunk ${chunkId} failed`, err);
  }
}
