import { chunkKey } from '../actors/chunk';
import { chunkOf, formatChunkId } from '../domain/ring';
import type { Env } from '../env';

/** A frame for particular players (race events, far chunk updates): the seed's `{type, data}`. */
export interface PlayerFrame {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Delivers frames to players wherever they stand: each player's chunk comes from the D1 `players` row (kept
 * current at chunk granularity: a hand-off writes it before the client moves), and that chunk's actor logs the
 * frames in the player's personal scope, or forwards them if the player just left it. `local` short-circuits
 * the calling chunk's own players.
 */
export async function relayToPlayers(
  env: Env,
  tenantId: string,
  playerIds: readonly number[],
  frames: PlayerFrame[],
  local?: { chunkId: string; deliver: (userIds: string[], frames: PlayerFrame[]) => Promise<unknown> },
): Promise<void> {
  const ids = [...new Set(playerIds.filter((id) => Number.isSafeInteger(id) && id > 0))];
  if (ids.length === 0 || frames.length === 0) return;
  const { results } = await env.DB.prepare(
    `SELECT user_id, current_position_x AS x, current_floor AS floor FROM players
      WHERE tenant_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))`,
  )
    .bind(tenantId, JSON.stringify(ids))
    .all<{ user_id: number; x: number; floor: number }>();
  const byChunk = new Map<string, string[]>();
  for (const r of results) {
    const id = formatChunkId(chunkOf(r.floor, r.x));
    byChunk.set(id, [...(byChunk.get(id) ?? []), String(r.user_id)]);
  }
  const sent = await Promise.allSettled(
    [...byChunk].map(([chunkId, users]) =>
      local && chunkId === local.chunkId
        ? local.deliver(users, frames)
        : env.CHUNK.getByName(chunkKey(tenantId, chunkId)).deliverToPlayers(users, frames),
    ),
  );
  for (const r of sent) if (r.status === 'rejected') console.error('player delivery failed', r.reason);
}
