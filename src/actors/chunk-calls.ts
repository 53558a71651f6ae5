import type { ActorIdentity } from '../core/dialect';
import type { ChunkChange } from '../db/chunks';
import { parseRaceId } from '../domain/chunk-area';
import { asObject } from '../domain/input';
import type { Floor, Point } from '../domain/ring';
import { chunkOf, formatChunkId } from '../domain/ring';
import type { Env } from '../env';
import { fromReply, type Reply } from '../errors';
import { chunkActor, raceActor } from './keys';
import type { RacingStarted, RacingUpdate } from './race';

/**
 * Calls into Chunk actors from outside one chunk (routes, the Race actor, other chunks): change notices, frames
 * for players wherever they stand, and moving a player's live socket. Each is a notice after the fact: a failure
 * is logged, never thrown, because D1 already holds the truth a client can reload. And the one call out of a
 * chunk to another actor on a game socket's behalf: race frames to the Race actor.
 */

/** A frame for particular players (race events, far chunk updates): the seed's `{type, data}`. */
export interface PlayerFrame {
  type: string;
  data: Record<string, unknown>;
}

/**
 * After D1 committed a zone or structure change, tells each changed chunk's actor, which sends `chunk_updated`
 * to everyone watching it (players in it and its neighbours, and players who requested it). A failed notice is
 * logged, never thrown: the write is done, and the chunk's version in D1 tells any client what it missed.
 */
export async function notifyChunkChanges(env: Env, tenantId: string, changes: readonly ChunkChange[]): Promise<void> {
  const results = await Promise.allSettled(
    changes.map((change) => chunkActor(env, tenantId, change.chunk_id).chunkChanged(change)),
  );
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected') console.error(`chunk_updated for ${changes[i]?.chunk_id} failed`, r.reason);
  }
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
        : chunkActor(env, tenantId, chunkId).deliverToPlayers(users, frames),
    ),
  );
  for (const r of sent) if (r.status === 'rejected') console.error('player delivery failed', r.reason);
}

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
    await chunkActor(env, tenantId, chunkId).relocate(String(userId), to);
  } catch (err) {
    console.error(`relocating player ${userId} in chunk ${chunkId} failed`, err);
  }
}

/**
 * `racing_start` / `racing_update` from a game socket, to the Race actor over RPC. The Race actor itself delivers
 * its events to every participant's game socket (the sender's included), however the race is driven; the chunk
 * only answers the sender: errors, and the start for a starter who is not racing (a participant hears it once,
 * from the race). Answers that start, or null.
 */
export async function forwardRacing(
  env: Env,
  tenantId: string,
  identity: ActorIdentity,
  type: 'racing_start' | 'racing_update',
  data: unknown,
): Promise<unknown | null> {
  const d = asObject(data, 'data');
  const race = raceActor(env, tenantId, parseRaceId(d.event_id));
  if (type === 'racing_start') {
    // RPC result types lose the union's narrowing; these are the actor's declared return types.
    const started = fromReply((await race.start(identity, d)) as unknown as Reply<RacingStarted>);
    return started.participants.includes(Number(identity.userId)) ? null : started;
  }
  fromReply((await race.update(identity, d, { at: Date.now() })) as unknown as Reply<RacingUpdate>);
  return null;
}
