import type { ActorIdentity, Connection } from '../core/dialect';
import type { EventLog } from '../core/event-log';
import { eventFrame, handoffFrame } from '../dialects/earthring';
import {
  type AdmitAnswer,
  AREA,
  connectState,
  FORWARD_TTL_MS,
  type HandoffState,
  handoffCloseAt,
  isWithheldCopy,
  type Placement,
  visibleData,
} from '../domain/chunk-area';
import { playerIdOf } from '../domain/input';
import type { Point } from '../domain/ring';
import { ApiError } from '../errors';
import type { ChunkStore } from './chunk-store';

/**
 * Hand-off (a move across the chunk edge), without loss or duplicates; A is the old chunk, B the new one. The
 * connection's `HandoffState` is kept on the connection by the core (it survives hibernation):
 *   1. A marks the connection "handing off to B" and withholds B-origin area copies from it.
 *   2. A calls `B.admit()`. B notes its head `sB`, waits until its relays in flight have landed (so every B event
 *      up to `sB` is in A's log), writes the position to D1, takes the player in and answers `sB`.
 *   3. A sends the withheld B-origin copies up to `sB`, then cuts the connection off at its own head `sA`, acks
 *      the move and sends `chunk_handoff`. Personal deliveries reaching A later are forwarded to B.
 *   4. The client opens `/ws?chunk=B&lastEventId=…&handoff_from=A&handoff_seq=sA`: B replays everything after
 *      `sB` and, for that connection's lifetime, skips A-origin copies up to `sA` (A already delivered them).
 * The old socket is closed by the client once the new one is open, or by A after the grace period.
 *
 * Steps 1 and 3 are `handOff` (and `closeDue` after the grace period), step 2 `admitPlayer`, step 4 the core's
 * resync with the connection's state (src/domain/chunk-area.ts `visibleData`).
 */

export type GameConnection = Connection<HandoffState>;
/** A game socket of the Chunk actor: its state is the connection's `HandoffState` (set at connect). */
export const game = (conn: Connection): GameConnection => conn as GameConnection;

/** What A tells B in step 2. */
export interface AdmitInput {
  identity: ActorIdentity;
  position: Point;
  floor: number;
  rotation: number;
  from: string;
  watching: string[];
}

/** What the hand-off needs of its Chunk actor. */
export interface HandoffHost {
  readonly tenantId: string;
  readonly chunkId: string;
  readonly log: EventLog;
  readonly store: ChunkStore;
  /** Runs the movement tick now (logs and sends the moves waiting). */
  flushMoves(): void;
  /** Step 2 on the new chunk's actor. */
  admit(target: string, input: AdmitInput): Promise<AdmitAnswer>;
  /** One SQLite transaction over the store. */
  atomically(fn: () => void): void;
  /** How long a handed-off socket stays open for the client to switch. */
  graceMs(): number;
  /** Runs `closeDue` at `at` or earlier. */
  closeAt(at: number): Promise<void>;
  /** Waits (a bounded time) until this chunk's relays in flight have landed at the neighbours. */
  settleRelays(): Promise<void>;
  /** Writes a player's position to D1 `players` directly. */
  savePosition(playerId: number, at: { position: Point; floor: number }): Promise<unknown>;
  /** Moves a player standing here (with the next tick). */
  movePlayer(identity: ActorIdentity, to: Placement): void;
  /** Takes over a player's far watches from the old chunk. */
  adoptWatches(userId: string, watching: string[]): void;
}

/** Step 2, on B: takes a player in from the neighbour chunk `input.from`; answers B's head `sB`. */
export async function admitPlayer(host: HandoffHost, input: AdmitInput): Promise<AdmitAnswer> {
  if (input.identity.tenantId !== host.tenantId) throw new Error('Tenant mismatch');
  // The pending moves are logged and relayed now, so the answer covers them and settling waits for them.
  host.flushMoves();
  const answer = { sequence: host.log.latestSequence, lastEventId: host.log.latestEventId };
  await host.settleRelays();
  const { identity, position, floor, rotation } = input;
  // The D1 row names the player's chunk at once: a reconnect without ?chunk= lands here.
  const playerId = playerIdOf(identity.userId);
  if (playerId !== null) {
    try {
      await host.savePosition(playerId, { position, floor });
    } catch (err) {
      console.error(`chunk ${host.chunkId}: direct position write failed; the write-behind retries`, err);
    }
  }
  host.store.clearForward(identity.userId);
  host.movePlayer(identity, { position, floor, rotation });
  // The answer tells the old chunk the player is here: it must not outrun the commit.
  host.flushMoves();
  // Far watches now point here (or are dropped where the chunk became a neighbour); A forwards meanwhile.
  host.adoptWatches(identity.userId, input.watching);
  return answer;
}

/** Steps 1 and 3: moves a connection's player to the neighbour chunk `target`, then `ack`s and sends `chunk_handoff`. */
export async function handOff(host: HandoffHost, conn: GameConnection, to: Placement, target: string, ack: () => void) {
  const userId = conn.identity.userId;
  // Moves logged so far reach the mover as usual; only the new chunk's copies after `start` are withheld.
  host.flushMoves();
  const start = host.log.latestSequence;
  conn.setState((st) => ({ ...(st ?? connectState(new URLSearchParams())), handoffTo: target }));
  const watching = host.store.watching(userId);
  let answer: AdmitAnswer;
  try {
    answer = await host.admit(target, { identity: conn.identity, ...to, from: host.chunkId, watching });
  } catch (err) {
    console.error(`chunk ${host.chunkId}: hand-off to ${target} failed`, err);
    host.flushMoves();
    conn.setState((st) => st && { ...st, handoffTo: null });
    // Nothing was handed over: what was withheld is delivered here after all.
    sendWithheld(host.log, conn, start, target, Number.POSITIVE_INFINITY);
    throw new ApiError('SERVER_ERROR', `Could not move to chunk ${target}; try again`);
  }
  // Moves logged meanwhile (the new chunk's copies still withheld from the mover), the withheld copies that the
  // new chunk will not replay (up to its answer), then the cut-off: nothing is pending past it.
  host.flushMoves();
  conn.setState((st) => st && { ...st, handoffTo: null });
  sendWithheld(host.log, conn, start, target, answer.sequence);
  const cutoff = host.log.latestSequence;
  const now = Date.now();
  conn.setState((st) => st && { ...st, handedOff: target, handedOffAt: now });
  host.atomically(() => {
    host.store.removePlayer(userId);
    host.store.clearWatching(userId);
    host.store.setForward(userId, target, now + FORWARD_TTL_MS);
  });
  ack();
  const batched = conn.state?.batched === true;
  conn.send(handoffFrame({ chunkId: target, lastEventId: answer.lastEventId, from: host.chunkId, seq: cutoff, batched }));
  await host.closeAt(now + host.graceMs());
}

/** Closes the handed-off sockets whose grace period is over; answers when the next one is due, or null. */
export function closeDue(conns: readonly GameConnection[], now: number, graceMs: number): number | null {
  let next: number | null = null;
  for (const conn of conns) {
    const due = handoffCloseAt(conn.state, graceMs);
    if (due === null) continue;
    if (due <= now) conn.close(1000, `Moved to chunk ${conn.state?.handedOff}`);
    else next = next === null ? due : Math.min(next, due);
  }
  return next;
}

/** Area copies from `origin` logged since `after` with an origin sequence up to `upto`, sent to one connection. */
function sendWithheld(log: EventLog, conn: GameConnection, after: number, origin: string, upto: number): void {
  for (const e of log.read(after, 10_000, { scopes: [AREA] })) {
    if (!isWithheldCopy(e, origin, upto)) continue;
    const data = visibleData(e, conn.state, conn.identity.userId);
    if (data !== null) conn.send(eventFrame(e, data));
  }
}
