import { z } from 'zod';
import { JsonText } from '../core/codec';
import type { Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import type { Point } from '../domain/ring';
import { ApiError } from '../errors';

/**
 * Seed 000's game socket `/ws`: `{type, id, data}` both ways, on the Chunk actor of the chunk the player stands
 * in. This module builds every frame of it; the chunk rules live in src/domain/chunk-area.ts and the Chunk actor
 * (`ChunkHost`), the REST-shared services in src/world. Logged events carry `eventId` and `sequence` beside `type` and `data` (resume points);
 * answers echo the request's `id`. `earthring-v1` speaks JSON text frames, `earthring-v2` MessagePack binary
 * frames with the same envelope (src/dialects/README.md).
 *
 * Error frames carry both error shapes the seed shows: `{type:'error', id, error, message, code}` and
 * `{type:'error', id, data:{code, message, details}}`, with the seed's codes.
 */

export const DIALECT = 'earthring';

/** Subprotocols, best first: the highest one both sides speak wins. */
export const PROTOCOLS = ['earthring-v2', 'earthring-v1'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Seed 000's client → server message types. */
export const CLIENT_TYPES = [
  'ping',
  'chunk_request',
  'player_move',
  'zone_create',
  'structure_place',
  'racing_start',
  'racing_update',
] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

export type FrameId = string | number;

/** A player standing in a chunk, as the `connected` frame and the snapshot show them. */
export interface StandingPlayer {
  player_id: number;
  username: string;
  position: Point;
  floor: number;
  rotation: number;
}

/** The chunk's state (resync snapshots, the `state()` RPC). */
export interface ChunkSnapshot {
  chunk_id: string;
  version: number;
  players: StandingPlayer[];
}

/** What a connecting player is told of the chunk (the `connected` frame's content). */
export interface ChunkWelcome {
  protocol: string;
  chunkId: string;
  /** Where the player stands, or null when the chunk has no row for them. */
  position: Point | null;
  floor: number;
  version: number;
  players: StandingPlayer[];
  /** The connection gets one `players_moved` frame per tick (`?batch=1`). */
  batched: boolean;
}

/** A move the chunk accepted (the `player_move_ack` frame's data). */
export interface MoveAck {
  position: Point;
  floor: number;
  rotation: number;
  chunk_id: string;
}

/** Where a handed-off client reconnects (the `chunk_handoff` frame). */
export interface Handoff {
  chunkId: string;
  lastEventId: string;
  from: string;
  seq: number;
  /** The connection receives `players_moved`: the URL keeps `batch=1` so the next socket does too. */
  batched?: boolean;
}

/**
 * What the Chunk actor does for the dialect; the dialect turns every answer into the seed's frame. `reply` sends
 * the answer to the sender at the point the actor calls it: before what follows from it (a hand-off frame, the
 * `chunk_updated` a new zone causes), as the seed orders them.
 */
export interface ChunkHost {
  welcome(conn: Connection): ChunkWelcome;
  /** A logged event as this connection's frame data, or null when it must not see it. */
  visible(event: LoggedEvent, conn: Connection): unknown | null;
  /** The requested chunks' contents (`chunk_data`). */
  chunkRequest(conn: Connection, data: unknown, reply: (chunks: unknown[]) => void): Promise<void>;
  move(conn: Connection, data: unknown, reply: (moved: MoveAck) => void): Promise<void>;
  zoneCreate(conn: Connection, data: unknown, reply: (zone: unknown) => void): Promise<void>;
  structurePlace(conn: Connection, data: unknown, reply: (structure: unknown) => void): Promise<void>;
  /** A race frame handed to the Race actor; answers `racing_started` data for the sender, or null. */
  racing(conn: Connection, type: 'racing_start' | 'racing_update', data: unknown): Promise<unknown | null>;
}

const MAX_ID_LENGTH = 128;

/** The request id to echo: a short string or a finite number; anything else is not echoed. */
export function frameId(frame: unknown): FrameId | undefined {
  if (typeof frame !== 'object' || frame === null) return undefined;
  const id = (frame as { id?: unknown }).id;
  if (typeof id === 'string' && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return undefined;
}

/** A client frame's envelope; payloads are the host's to validate. */
export const ClientEnvelope = z.object({
  type: z.enum(CLIENT_TYPES),
  id: z.union([z.string().max(MAX_ID_LENGTH), z.number().finite()]).optional(),
  data: z.unknown().optional(),
});

/** Checks the envelope (`ClientEnvelope`), with the error a client acts on for the first failing field. */
export function parseEnvelope(frame: unknown): { type: ClientType; id?: FrameId; data: unknown } {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ApiError('INVALID_REQUEST', 'A message is a JSON object {type, id, data}', {
      details: { field: '(frame)', issue: 'invalid_message_format' },
    });
  }
  const parsed = ClientEnvelope.safeParse(frame);
  if (parsed.success) {
    const { type, id, data } = parsed.data;
    return { type, ...(id === undefined ? {} : { id }), data };
  }
  const type = (frame as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new ApiError('INVALID_REQUEST', 'A message needs a string "type"', {
      details: { field: 'type', issue: 'invalid_message_format' },
    });
  }
  if (!(CLIENT_TYPES as readonly string[]).includes(type)) {
    throw new ApiError('INVALID_REQUEST', `Unknown message type ${JSON.stringify(type.slice(0, 32))}`, {
      details: { field: 'type', issue: 'unknown_message_type', supported: [...CLIENT_TYPES] },
    });
  }
  throw new ApiError('INVALID_REQUEST', `id must be a string of at most ${MAX_ID_LENGTH} characters or a number`, {
    details: { field: 'id', issue: 'bad_type' },
  });
}

/** Seed 000's server → client message types on the game socket (answers, logged events, hand-offs). */
export const SERVER_TYPES = [
  'connected',
  'resync',
  'pong',
  'error',
  'chunk_data',
  'player_move_ack',
  'player_moved',
  'players_moved',
  'chunk_updated',
  'chunk_handoff',
  'zone_created',
  'structure_placed',
  'racing_started',
  'racing_update',
  'racing_joined',
  'racing_result',
  'racing_finished',
] as const;

/** The seed's error frame, in both of its readings. */
export function errorFrame(error: FrameError, id?: FrameId) {
  return {
    type: 'error',
    ...(id === undefined ? {} : { id }),
    error: error.message,
    message: error.message,
    code: error.code,
    data: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
  };
}

export const eventFrame = (e: LoggedEvent, data: unknown) => ({ type: e.type, data, eventId: e.eventId, sequence: e.sequence });

/**
 * One tick's moves for a connection that opted in (`?batch=1`): `{type:'players_moved', data:{epoch, moves},
 * eventId, sequence}`. Each move is the seed's `player_moved` data plus its `sequence` (its `eventId` is
 * `e<epoch>-<sequence>`), in log order, so each player's moves keep their order; the frame's `eventId` and
 * `sequence` are its last move's, where a reconnect resumes.
 */
export function playersMovedFrame(epoch: string, moves: ReadonlyArray<{ event: LoggedEvent; data: Record<string, unknown> }>) {
  const last = moves[moves.length - 1];
  if (!last) throw new RangeError('players_moved needs at least one move');
  return {
    type: 'players_moved',
    data: { epoch, moves: moves.map((m) => ({ ...m.data, sequence: m.event.sequence })) },
    eventId: last.event.eventId,
    sequence: last.event.sequence,
  };
}

/**
 * A frame already serialized as JSON, for `conn.send` (the core's codecs send it as it is): the tick renders each
 * move once and concatenates per socket instead of serializing every move for every socket.
 */
export const jsonText = (text: string): JsonText => new JsonText(text);

/** `playersMovedFrame` as JSON text, from each move's JSON (`moveJson`) rendered once per tick. */
export function playersMovedText(epoch: string, moves: ReadonlyArray<{ event: LoggedEvent; json: string }>): string {
  const last = moves[moves.length - 1];
  if (!last) throw new RangeError('players_moved needs at least one move');
  const list = moves.map((m) => m.json).join(',');
  return `{"type":"players_moved","data":{"epoch":${JSON.stringify(epoch)},"moves":[${list}]},"eventId":${JSON.stringify(last.event.eventId)},"sequence":${last.event.sequence}}`;
}

/** One move as `players_moved` lists it, as JSON text. */
export const moveJson = (event: LoggedEvent, data: Record<string, unknown>): string =>
  JSON.stringify({ ...data, sequence: event.sequence });

/** One move a socket may see, with the data it sees of it (src/domain/chunk-area.ts `visibleInTick`). */
export interface SeenMove {
  event: LoggedEvent;
  data: Record<string, unknown>;
}

/**
 * The frames of one movement tick, for each socket that sees some of its moves: one `players_moved` frame when
 * the socket opted in (`?batch=1`), else one `player_moved` frame per move. JSON sockets get text rendered once
 * per move and tick (the same text for every socket that sees the move) instead of every move serialized for
 * every socket; MessagePack sockets get the frames as objects.
 */
export function tickFrames(epoch: string): (seen: readonly SeenMove[], socket: { batched: boolean; json: boolean }) => unknown[] {
  const moves = new Map<LoggedEvent, string>();
  const frames = new Map<LoggedEvent, JsonText>();
  return (seen, { batched, json }) => {
    if (batched && json) {
      const rendered = seen.map((m) => ({ event: m.event, json: cached(moves, m.event, () => moveJson(m.event, m.data)) }));
      return [jsonText(playersMovedText(epoch, rendered))];
    }
    if (batched) return [playersMovedFrame(epoch, seen)];
    if (!json) return seen.map((m) => eventFrame(m.event, m.data));
    return seen.map((m) => cached(frames, m.event, () => jsonText(JSON.stringify(eventFrame(m.event, m.data)))));
  };
}

/** `map`'s value for `key`, made once. */
function cached<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** An answer to a client frame: `{type, id, data}`, the id echoed when the request had one. */
export const replyFrame = (type: string, id: FrameId | undefined, data: unknown) => ({
  type,
  ...(id === undefined ? {} : { id }),
  data,
});

/** Tells a client its player crossed into another chunk, and how to follow: the new socket's URL. */
export function handoffFrame(h: Handoff) {
  const resume: Record<string, string> = {
    chunk: h.chunkId,
    lastEventId: h.lastEventId,
    handoff_from: h.from,
    handoff_seq: String(h.seq),
  };
  if (h.batched) resume.batch = '1';
  return {
    type: 'chunk_handoff',
    data: {
      chunk_id: h.chunkId,
      last_event_id: h.lastEventId,
      handoff_from: h.from,
      handoff_seq: h.seq,
      url: `/ws?${new URLSearchParams(resume).toString()}`,
    },
  };
}

/** The `connected` frame: the connection, the player, the chunk, and where its event stream stands. */
function connectedFrame(api: DialectApi, conn: Connection, w: ChunkWelcome) {
  return {
    type: 'connected',
    data: {
      connection_id: conn.id,
      player_id: Number(conn.identity.userId),
      protocol: w.protocol,
      chunk_id: w.chunkId,
      position: w.position,
      floor: w.floor,
      version: w.version,
      players: w.players,
      batched: w.batched,
      last_event_id: api.latestEventId(),
      sequence: api.latestSequence(),
      epoch: api.epoch(),
    },
  };
}

export function createEarthringDialect(host: ChunkHost): Dialect {
  return {
    name: DIALECT,
    // Seed 000: 1,000 WebSocket messages a minute per connection.
    limits: { messagesPerMinute: 1000, maxMessageBytes: 64 * 1024 },
    // What a connection sees depends on its hand-off state and player.
    renderPerConnection: true,

    connected(api, conn) {
      return connectedFrame(api, conn, host.welcome(conn));
    },

    resyncFrame(api: DialectApi, conn: Connection, result: ResyncResult) {
      const events = [];
      for (const e of result.events) {
        const data = host.visible(e, conn);
        if (data !== null) events.push(eventFrame(e, data));
      }
      return {
        type: 'resync',
        data: {
          events,
          truncated: result.truncated,
          ...(result.truncated ? { snapshot: result.snapshot } : {}),
          epoch: result.epoch,
          latestSequence: result.latestSequence,
          lastEventId: api.latestEventId(),
        },
      };
    },

    async handle(_api, conn, frame) {
      const f = parseEnvelope(frame);
      switch (f.type) {
        case 'ping':
          conn.send({ type: 'pong', ...(f.id === undefined ? {} : { id: f.id }) });
          return;
        case 'chunk_request':
          return await host.chunkRequest(conn, f.data, (chunks) => conn.send(replyFrame('chunk_data', f.id, { chunks })));
        case 'player_move':
          return await host.move(conn, f.data, (moved) => conn.send(replyFrame('player_move_ack', f.id, moved)));
        case 'zone_create':
          return await host.zoneCreate(conn, f.data, (zone) => conn.send(replyFrame('zone_created', f.id, zone)));
        case 'structure_place':
          return await host.structurePlace(conn, f.data, (s) => conn.send(replyFrame('structure_placed', f.id, s)));
        case 'racing_start':
        case 'racing_update': {
          const started = await host.racing(conn, f.type, f.data);
          if (started !== null) conn.send(replyFrame('racing_started', f.id, started));
          return;
        }
      }
    },

    renderEvent(event, conn) {
      const data = host.visible(event, conn);
      return data === null ? null : eventFrame(event, data);
    },

    renderError(error, frame) {
      return errorFrame(error, frameId(frame));
    },

    frameName(frame) {
      return String((frame as { type?: unknown }).type ?? 'message');
    },
  };
}

/**
 * `Sec-WebSocket-Protocol` negotiation: the highest version both sides speak. `null` header (none offered):
 * `earthring-v1` without echoing a header, for simple clients (wscat). Offered but none supported: `undefined`.
 */
export function negotiateProtocol(header: string | null): { protocol: Protocol; echo: boolean } | undefined {
  if (header === null || header.trim() === '') return { protocol: 'earthring-v1', echo: false };
  const offered = header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const chosen = PROTOCOLS.find((p) => offered.includes(p));
  return chosen ? { protocol: chosen, echo: true } : undefined;
}
