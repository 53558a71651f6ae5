import { z } from 'zod';
import type { Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import { ApiError, ERROR_STATUS } from '../errors';

/**
 * Seed 001's collaboration rooms as a dialect over the actor core. Envelope (JSON-RPC style):
 *
 *   request   {type:'request', id, method, params}
 *   response  {type:'response', id, data, timestamp}
 *   error     {type:'error', id, error:{code, message, reason, details?}, timestamp}
 *   event     {type:'event', method:<event name>, data, timestamp, eventId?, sequence?}
 *
 * `timestamp` is ms since the epoch (the seed's `number`). Logged events carry `eventId` and `sequence`;
 * cursor events are not logged and carry neither. The room's state and its methods live in the Room actor
 * (src/domain/room.ts); this module only reads and writes frames and hands requests to its host.
 */

export const DIALECT = 'collab';

/**
 * The seed's `error.code` is a number: the HTTP status of the error's string code (the one table,
 * src/http/errors.ts `ERROR_STATUS`): INVALID_REQUEST 400, AUTHENTICATION_REQUIRED 401, AUTHORIZATION_FAILED 403,
 * TENANT_VIOLATION 403, NOT_FOUND 404, PAYLOAD_TOO_LARGE 413, RATE_LIMIT_EXCEEDED 429, SERVER_ERROR 500.
 * The string code travels beside it as `reason`.
 */
export function errorNumber(code: string): number {
  return (ERROR_STATUS as Record<string, number>)[code] ?? 500;
}

/** What the Room actor does for the dialect: run a room method for a connection, and clean up after a socket. */
export interface CollabHost {
  /** Runs `method` for `conn`; throws ApiError on bad input. Resolves to the response's `data`. */
  request(conn: Connection, method: string, params: unknown): Promise<unknown>;
  /** A WebSocket closed: the connection leaves the room (`room.leave`). */
  closed(conn: Connection): void;
}

/** Seed 001: at most 100 requests per minute per connection (cursor moves and pings aside). */
export const REQUESTS_PER_MINUTE = 100;
/** Seed 001: cursor updates at most 60 Hz; the domain coalesces them to 60 `cursor` events/s per user. */
export const CURSOR_MOVES_PER_MINUTE = 60 * 60;
/** The method counted against the cursor budget instead of the request budget. */
export const CURSOR_METHOD = 'cursor.move';

/** Request ids are echoed back: strings or numbers, bounded. */
const MAX_ID_LENGTH = 128;

export const now = (): number => Date.now();

/** A client frame's envelope; the method's params are the domain's to validate (`METHOD_PARAMS`). */
export const RequestEnvelope = z.object({
  type: z.literal('request'),
  id: z.union([z.string().max(MAX_ID_LENGTH), z.number().finite()]).optional(),
  method: z.string().min(1),
  params: z.unknown().optional(),
});

type RequestFrame = Omit<z.infer<typeof RequestEnvelope>, 'type'>;

/** Checks the envelope of a client frame; the method and its params are the domain's to validate. */
export function parseRequest(frame: unknown): RequestFrame {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ApiError('INVALID_REQUEST', 'A message is a JSON object {type:"request", id, method, params}');
  }
  const parsed = RequestEnvelope.safeParse(frame);
  if (parsed.success) {
    const { id, method, params } = parsed.data;
    return { ...(id === undefined ? {} : { id }), method, params };
  }
  // The first failing field, in the envelope's order (type, id, method), with the message a client acts on.
  const field = String(parsed.error.issues[0]?.path[0] ?? 'method');
  if (field === 'type') {
    throw new ApiError(
      'INVALID_REQUEST',
      `Unsupported message type ${JSON.stringify(String((frame as { type?: unknown }).type).slice(0, 32))}: send "request"`,
      { details: { field: 'type', supported: ['request'] } },
    );
  }
  if (field === 'id') {
    throw new ApiError('INVALID_REQUEST', `id must be a string or number of at most ${MAX_ID_LENGTH} characters`, {
      details: { field: 'id' },
    });
  }
  throw new ApiError('INVALID_REQUEST', 'method must be a non-empty string', { details: { field: 'method' } });
}

function requestId(f: Record<string, unknown>): string | number | undefined {
  if (typeof f.id === 'string' && f.id.length <= MAX_ID_LENGTH) return f.id;
  if (typeof f.id === 'number' && Number.isFinite(f.id)) return f.id;
  return undefined;
}

function pingTimestamp(params: unknown): number | string {
  const t = typeof params === 'object' && params !== null ? (params as { timestamp?: unknown }).timestamp : undefined;
  return typeof t === 'number' || (typeof t === 'string' && t.length <= 100) ? t : now();
}

/** A logged event as the seed's event frame. */
export function eventFrame(e: LoggedEvent) {
  return {
    type: 'event' as const,
    method: e.type,
    data: e.data,
    timestamp: Date.parse(e.timestamp),
    eventId: e.eventId,
    sequence: e.sequence,
  };
}

/** An event that is not logged (cursor positions): same envelope, no eventId or sequence. */
export const ephemeralFrame = (method: string, data: unknown) => ({ type: 'event' as const, method, data, timestamp: now() });

/** Builds the dialect around its host (the Room actor); the dialect itself keeps no state. */
export function createCollabDialect(host: CollabHost): Dialect {
  const dialect: Dialect = {
    name: DIALECT,
    // The seed's 100 messages/min applies to requests; cursor moves have their own 60 Hz budget (the host counts
    // both), so the core's frame limit is their sum. 64 KB frames; bigger ones close with 1009.
    limits: { messagesPerMinute: REQUESTS_PER_MINUTE + CURSOR_MOVES_PER_MINUTE, maxMessageBytes: 64 * 1024 },

    connected(api: DialectApi, conn: Connection) {
      return {
        type: 'event',
        method: 'connected',
        data: {
          connectionId: conn.id,
          userId: conn.identity.userId,
          username: conn.identity.username,
          clientsConnected: api.clientCount(DIALECT),
          lastEventId: api.latestEventId(),
          sequence: api.latestSequence(),
          epoch: api.epoch(),
        },
        timestamp: now(),
      };
    },

    resyncFrame(api: DialectApi, _conn: Connection, result: ResyncResult) {
      return {
        type: 'event',
        method: 'resync',
        data: {
          events: result.events.map(eventFrame),
          truncated: result.truncated,
          ...(result.truncated ? { snapshot: result.snapshot } : {}),
          epoch: result.epoch,
          latestSequence: result.latestSequence,
          lastEventId: api.latestEventId(),
        },
        timestamp: now(),
      };
    },

    async handle(_api: DialectApi, conn: Connection, frame: unknown) {
      const req = parseRequest(frame);
      // The envelope has no ping type: a `ping` request is the heartbeat (the client SDK sends one), answered here.
      const data =
        req.method === 'ping' ? { timestamp: pingTimestamp(req.params) } : await host.request(conn, req.method, req.params);
      conn.send({ type: 'response', ...(req.id === undefined ? {} : { id: req.id }), data, timestamp: now() });
    },

    renderEvent(event: LoggedEvent) {
      return eventFrame(event);
    },

    renderError(error: FrameError, frame?: unknown) {
      const id = typeof frame === 'object' && frame !== null ? requestId(frame as Record<string, unknown>) : undefined;
      return {
        type: 'error',
        ...(id === undefined ? {} : { id }),
        error: {
          code: errorNumber(error.code),
          message: error.message,
          reason: error.code,
          ...(error.details ? { details: error.details } : {}),
        },
        timestamp: now(),
      };
    },

    frameName(frame: unknown) {
      const f = frame as { type?: unknown; method?: unknown };
      return String(f.type === 'event' ? f.method : (f.type ?? 'message'));
    },

    onClose(_api: DialectApi, conn: Connection) {
      host.closed(conn);
    },
  };
  return dialect;
}
