import { z } from 'zod';
import type { Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import { ApiError } from '../errors';

/**
 * Seed 000's game socket `/ws`: `{type, id, data}` both ways, on the Chunk actor of the chunk the player stands
 * in. This module only maps frames: the world rules live in the Chunk actor (`ChunkHost`), the REST-shared
 * services in src/world. Logged events carry `eventId` and `sequence` beside `type` and `data` (resume points);
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

/** What the Chunk actor does for the dialect. Every method answers the sender itself (`conn.send`). */
export interface ChunkHost {
  /** The `connected` frame's data (binds the connection's hand-off state first). */
  welcome(api: DialectApi, conn: Connection): Record<string, unknown>;
  /** A logged event as this connection's frame data, or null when it must not see it. */
  visible(event: LoggedEvent, conn: Connection): unknown | null;
  chunkRequest(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void>;
  move(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void>;
  zoneCreate(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void>;
  structurePlace(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void>;
  racing(conn: Connection, id: FrameId | undefined, type: 'racing_start' | 'racing_update', data: unknown): Promise<void>;
  closed(conn: Connection): void;
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

export function createEarthringDialect(host: ChunkHost): Dialect {
  return {
    name: DIALECT,
    // Seed 000: 1,000 WebSocket messages a minute per connection.
    limits: { messagesPerMinute: 1000, maxMessageBytes: 64 * 1024 },

    connected(api, conn) {
      return { type: 'connected', data: host.welcome(api, conn) };
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
          return await host.chunkRequest(conn, f.id, f.data);
        case 'player_move':
          return await host.move(conn, f.id, f.data);
        case 'zone_create':
          return await host.zoneCreate(conn, f.id, f.data);
        case 'structure_place':
          return await host.structurePlace(conn, f.id, f.data);
        case 'racing_start':
        case 'racing_update':
          return await host.racing(conn, f.id, f.type, f.data);
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

    onClose(_api, conn) {
      host.closed(conn);
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
