import { ApiError } from '../errors';
import { asObject, parseId } from './input';
import { type ChunkRef, chunkIndexDelta, chunkOf, formatChunkId, type Point, parseFloor, parsePosition } from './ring';

/**
 * The rules of a chunk actor (seed 000), pure: what a player standing in a chunk sees, how a connection's
 * hand-off state moves, and how `player_move` / racing payloads are read. The Chunk actor applies them; the
 * EarthRing dialect renders the frames.
 *
 * A chunk's event log holds two kinds of scope:
 *   - `area`: moves and chunk updates of this chunk and of its two neighbours, each as `AreaData` (the seed's
 *     data, the chunk it happened in, and its sequence there; `s: null` for this chunk's own events);
 *   - `p:<userId>`: deliveries to one player (`{ d }`): `chunk_updated` of far chunks, race events.
 */

export const AREA = 'area';
export const playerScope = (userId: string): string => `p:${userId}`;

/** A handed-off socket is closed by the server after this long (its client should have left it already). */
export const HANDOFF_GRACE_MS = 10_000;
/** How long a chunk forwards personal deliveries of a player who left it. */
export const FORWARD_TTL_MS = 5 * 60_000;
/** Chunks a player's `chunk_request`s keep them watching (most recent first). */
export const MAX_WATCHED = 64;
/** Forwarding of personal deliveries stops after this many chunks (a chain of quick hand-offs). */
export const MAX_FORWARD_HOPS = 3;
export const DEFAULT_PROTOCOL = 'earthring-v1';
/**
 * Moves reach the area once per tick (ms): each is applied and acked at once, and each recipient gets the tick's
 * moves together (one `players_moved` frame when it opted in with `?batch=1`). 100 ms (10 network ticks a second,
 * the rate seed 000's clients move at) because every tick costs a storage commit in the chunk and in each
 * neighbour that logs its copies: measured on the bench, commits are what a crowded chunk spends its time on.
 * `CHUNK_TICK_MS` or the actor's `moveTickMs` config changes it; 0 sends each move at once.
 */
export const MOVE_TICK_MS = 100;
export const MAX_MOVE_TICK_MS = 1_000;
/** Area events that wait for the tick; every other event is sent at once, after the moves logged before it. */
export const TICKED_TYPES: ReadonlySet<string> = new Set(['player_moved']);

/** An area event as logged. */
export interface AreaData {
  d: Record<string, unknown>;
  o: string;
  s: number | null;
}

/** What a chunk needs of a logged event to decide who sees it. */
export interface ChunkEvent {
  sequence: number;
  scope: string;
  type: string;
  data: unknown;
}

/** A game connection's state (kept on the connection by the core, so it survives hibernation). */
export interface HandoffState {
  /** The negotiated subprotocol (`earthring-v1` or `earthring-v2`). */
  protocol: string;
  /** Being handed to this chunk: its area copies are withheld meanwhile. */
  handoffTo: string | null;
  /** Handed off to this chunk: nothing more is delivered here. */
  handedOff: string | null;
  handedOffAt: number | null;
  /** Arrived by hand-off: area copies from `skipOrigin` up to `skipUpto` were delivered by the old chunk. */
  skipOrigin: string | null;
  skipUpto: number;
  /** Opted in (`?batch=1`) to one `players_moved` frame per tick instead of one `player_moved` frame per move. */
  batched?: boolean;
}

/** An area event relayed to a neighbour: the seed's data and its sequence in the chunk it happened in. */
export interface RelayedEvent {
  type: string;
  data: Record<string, unknown>;
  seq: number;
}

/** A chunk taking a player in answers where its log stood: the client resumes there. */
export interface AdmitAnswer {
  sequence: number;
  lastEventId: string;
}

export interface Placement {
  position: Point;
  floor: number;
  rotation: number;
}

const SEQUENCE = /^\d{1,15}$/;

/**
 * The state of a connection as it connects: `?protocol=`, `?handoff_from=&handoff_seq=` after a hand-off, and
 * `?batch_moves=1`, the Worker's translation of the client's `?batch=1` (checked with `parseBatchOption`).
 */
export function connectState(query: URLSearchParams): HandoffState {
  const from = query.get('handoff_from');
  const seq = query.get('handoff_seq');
  const resumed = from !== null && from !== '' && seq !== null && SEQUENCE.test(seq);
  return {
    protocol: query.get('protocol') ?? DEFAULT_PROTOCOL,
    handoffTo: null,
    handedOff: null,
    handedOffAt: null,
    skipOrigin: resumed ? from : null,
    skipUpto: resumed ? Number(seq) : 0,
    batched: query.get('batch_moves') === '1',
  };
}

const BATCH_VALUES: Record<string, boolean> = { '1': true, true: true, '0': false, false: false };

/** `?batch=`: `1`/`true` opts into `players_moved` frames, `0`/`false` or absent keeps `player_moved`. */
export function parseBatchOption(value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  const batched = BATCH_VALUES[value];
  if (batched === undefined) {
    throw new ApiError('INVALID_REQUEST', 'batch must be 1 or 0 (true or false)', {
      details: { field: 'batch', issue: 'bad_value' },
    });
  }
  return batched;
}

/** The movement tick from the actor's config, else `CHUNK_TICK_MS`, else `MOVE_TICK_MS`; bad values fall back. */
export function moveTickMs(configured: number | undefined, fromEnv: string | undefined): number {
  for (const v of [configured, fromEnv === undefined || fromEnv === '' ? undefined : Number(fromEnv)]) {
    if (v !== undefined && Number.isInteger(v) && v >= 0 && v <= MAX_MOVE_TICK_MS) return v;
  }
  return MOVE_TICK_MS;
}

/**
 * The tick's events a connection sees, in log order: each with the seed data it sees (`visibleData`). A
 * connection's topics (empty: all) must include the event's scope, as the core's own fan-out requires.
 */
export function visibleInTick<E extends ChunkEvent>(
  events: readonly E[],
  conn: { state: HandoffState | null; userId: string; topics: readonly string[] },
): Array<{ event: E; data: Record<string, unknown> }> {
  const out: Array<{ event: E; data: Record<string, unknown> }> = [];
  for (const event of events) {
    if (conn.topics.length > 0 && !conn.topics.includes(event.scope)) continue;
    const data = visibleData(event, conn.state, conn.userId);
    if (data !== null) out.push({ event, data: data as Record<string, unknown> });
  }
  return out;
}

/** Where the Worker says (from D1) a connecting player stands: `?px=&py=&pf=`, or null when not given. */
export function connectPosition(query: URLSearchParams): { position: Point; floor: number } | null {
  const x = Number(query.get('px'));
  const y = Number(query.get('py'));
  const floor = Number(query.get('pf'));
  if (!query.has('px') || !query.has('py') || !query.has('pf')) return null;
  return Number.isFinite(x) && Number.isFinite(y) && Number.isInteger(floor) ? { position: { x, y }, floor } : null;
}

/** The seed data a connection of `userId` in `state` sees of `event`, or null when it must not see it. */
export function visibleData(event: ChunkEvent, state: HandoffState | null, userId: string): unknown | null {
  if (state?.handedOff) return null;
  if (event.scope === AREA) {
    const a = event.data as AreaData;
    const seq = a.s ?? event.sequence;
    if (state?.handoffTo === a.o) return null;
    if (state?.skipOrigin === a.o && seq <= state.skipUpto) return null;
    // A player is not told of their own moves (they got the ack).
    if (event.type === 'player_moved' && String(a.d.player_id) === userId) return null;
    return a.d;
  }
  if (event.scope === playerScope(userId)) return (event.data as { d: unknown }).d;
  return null;
}

/** Area copies of `origin` the old chunk withheld during a hand-off and must still send: those up to `upto`. */
export function isWithheldCopy(event: ChunkEvent, origin: string, upto: number): boolean {
  if (event.scope !== AREA) return false;
  const a = event.data as AreaData;
  return a.o === origin && (a.s ?? event.sequence) <= upto;
}

/** The chunk a connection moved (or is moving) to, or null while it is still here. */
export const movedTo = (state: HandoffState | null): string | null => state?.handedOff ?? state?.handoffTo ?? null;

/**
 * Who of `userIds` gets personal frames where: `here` (standing in this chunk), `forward` (left it for another
 * chunk recently, grouped by that chunk; at most `MAX_FORWARD_HOPS` in a row), or `gone`.
 */
export function planDelivery(
  userIds: readonly string[],
  chunk: { isHere(userId: string): boolean; forwardOf(userId: string): { to_chunk: string; until: number } | null },
  now: number,
  hops: number,
): { here: string[]; forward: Map<string, string[]>; gone: string[] } {
  const here: string[] = [];
  const forward = new Map<string, string[]>();
  const gone: string[] = [];
  for (const userId of new Set(userIds)) {
    if (chunk.isHere(userId)) {
      here.push(userId);
      continue;
    }
    const fwd = chunk.forwardOf(userId);
    if (fwd && fwd.until > now && hops < MAX_FORWARD_HOPS)
      forward.set(fwd.to_chunk, [...(forward.get(fwd.to_chunk) ?? []), userId]);
    else gone.push(userId);
  }
  return { here, forward, gone };
}

/** A connection handed (or being handed) to another chunk moves there, not here. */
export function assertHere(state: HandoffState | null): void {
  const gone = movedTo(state);
  if (gone) {
    throw new ApiError('INVALID_REQUEST', `You moved to chunk ${gone}: send moves on its connection`, {
      details: { field: 'type', issue: 'handed_off', chunk_id: gone },
    });
  }
}

/** When a handed-off connection is closed by the server, or null when it was not handed off. */
export const handoffCloseAt = (state: HandoffState | null, graceMs: number): number | null =>
  state?.handedOff && state.handedOffAt !== null ? state.handedOffAt + graceMs : null;

export const inArea = (center: ChunkRef, other: ChunkRef): boolean =>
  center.floor === other.floor && Math.abs(chunkIndexDelta(center.chunkIndex, other.chunkIndex)) <= 1;

/** The chunk a placement falls in. */
export const chunkIdOf = (to: { position: Point; floor: number }): string => formatChunkId(chunkOf(to.floor, to.position.x));

/** Degrees in [0, 360). */
export function parseRotation(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ApiError('INVALID_REQUEST', 'rotation must be a finite number of degrees', {
      details: { field: 'rotation', issue: 'bad_type' },
    });
  }
  const r = ((value % 360) + 360) % 360;
  return r === 360 ? 0 : r;
}

/** `player_move`'s data: a position, and floor and rotation defaulting to the player's current ones. */
export function parseMove(data: unknown, current: { floor: number; rotation: number }): Placement {
  const d = asObject(data, 'data');
  return {
    position: parsePosition(d.position),
    floor: d.floor === undefined ? current.floor : parseFloor(d.floor),
    rotation: d.rotation === undefined ? current.rotation : parseRotation(d.rotation),
  };
}

/** `racing_start` / `racing_update`'s `data.event_id`: a positive integer race id (or its decimal string). */
export function parseRaceId(value: unknown): number {
  const n = typeof value === 'string' ? (parseId(value) ?? value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new ApiError('INVALID_REQUEST', 'data.event_id must be a positive integer race id', {
      details: { field: 'event_id', issue: 'bad_type' },
    });
  }
  return n;
}
