import { z } from 'zod';
import type { ActorIdentity, Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import { ApiError } from '../errors';

/**
 * Seed 000's `{type, id, data}` frames for a race's own stream (`/ws/racing/{event_id}`, its SSE and polling):
 * racers send `racing_start` / `racing_update`, everyone (racers, spectators, a chunk actor relaying) receives the
 * logged `racing_started` / `racing_update` events. The race's rules live in domain/race.ts; this only maps
 * frames. Logged events carry `eventId` and `sequence` beside `type` and `data`, for resync.
 *
 * Error frames carry both error shapes the seed shows: `{type:'error', id, error, message, code}` and
 * `{type:'error', id, data:{code, message, details}}`, with the seed's codes (`INVALID_REQUEST`, ...).
 */

export const DIALECT = 'earthring-race';

/** Seed 000 client types this stream accepts. */
export const CLIENT_TYPES = ['ping', 'racing_start', 'racing_update'] as const;

/** What the Race actor does for the dialect; both throw ApiError on bad input or a refused move. */
export interface RaceHost {
  start(identity: ActorIdentity, data: unknown): Promise<unknown>;
  update(identity: ActorIdentity, data: unknown): Promise<unknown>;
}

const MAX_ID_LENGTH = 128;

/** A client frame's envelope; the payload is the Race actor's to validate. */
export const ClientEnvelope = z.object({
  type: z.enum(CLIENT_TYPES),
  id: z.union([z.string().max(MAX_ID_LENGTH), z.number().finite()]).optional(),
  data: z.unknown().optional(),
});
type ClientFrame = { type: (typeof CLIENT_TYPES)[number]; id?: string | number; data: unknown };

function frameId(frame: unknown): string | number | undefined {
  if (typeof frame !== 'object' || frame === null) return undefined;
  const id = (frame as { id?: unknown }).id;
  if (typeof id === 'string' && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  return undefined;
}

/** Checks the envelope; the payload is the actor's to validate. */
export function parseClientFrame(frame: unknown): ClientFrame {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ApiError('INVALID_REQUEST', 'A message is a JSON object {type, id, data}', {
      details: { field: '(frame)', issue: 'invalid_message_format' },
    });
  }
  // An id that cannot be echoed is dropped, as before; the type decides.
  const parsed = ClientEnvelope.safeParse({ ...frame, id: frameId(frame) });
  if (!parsed.success) {
    const type = (frame as { type?: unknown }).type;
    throw new ApiError('INVALID_REQUEST', `Unknown message type ${JSON.stringify(String(type).slice(0, 32))}`, {
      details: { field: 'type', issue: 'unknown_message_type', supported: [...CLIENT_TYPES] },
    });
  }
  return { type: parsed.data.type, ...(parsed.data.id === undefined ? {} : { id: parsed.data.id }), data: parsed.data.data };
}

export const eventFrame = (e: LoggedEvent) => ({ type: e.type, data: e.data, eventId: e.eventId, sequence: e.sequence });

/** A race event as a participant's game socket (`/ws`) gets it: seed 000's `{type, data}`, no log position. */
export const relayFrame = (e: { type: string; data: Record<string, unknown> }) => ({ type: e.type, data: e.data });

export function createRaceDialect(host: RaceHost): Dialect {
  return {
    name: DIALECT,
    // Seed 000: 1,000 WebSocket messages a minute per connection.
    limits: { messagesPerMinute: 1000, maxMessageBytes: 64 * 1024 },

    connected(api: DialectApi, conn: Connection) {
      return {
        type: 'connected',
        data: {
          connection_id: conn.id,
          player_id: conn.identity.userId,
          last_event_id: api.latestEventId(),
          sequence: api.latestSequence(),
          epoch: api.epoch(),
          race: api.snapshot(DIALECT),
        },
      };
    },

    resyncFrame(api: DialectApi, _conn: Connection, result: ResyncResult) {
      return {
        type: 'resync',
        data: {
          events: result.events.map(eventFrame),
          truncated: result.truncated,
          ...(result.truncated ? { snapshot: result.snapshot } : {}),
          epoch: result.epoch,
          latest_sequence: result.latestSequence,
          last_event_id: api.latestEventId(),
        },
      };
    },

    async handle(_api: DialectApi, conn: Connection, frame: unknown) {
      const f = parseClientFrame(frame);
      if (f.type === 'ping') {
        conn.send({ type: 'pong', ...(f.id === undefined ? {} : { id: f.id }) });
        return;
      }
      // The answer is the logged event (racing_started / racing_update), which reaches the sender too.
      if (f.type === 'racing_start') await host.start(conn.identity, f.data);
      else await host.update(conn.identity, f.data);
    },

    renderEvent(event: LoggedEvent) {
      return eventFrame(event);
    },

    renderError(error: FrameError, frame?: unknown) {
      const id = frameId(frame);
      return {
        type: 'error',
        ...(id === undefined ? {} : { id }),
        error: error.message,
        message: error.message,
        code: error.code,
        data: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
      };
    },

    frameName(frame: unknown) {
      return String((frame as { type?: unknown }).type ?? 'message');
    },
  };
}
