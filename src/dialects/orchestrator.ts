import { z } from 'zod';
import type { Connection, Dialect, DialectApi } from '../core/dialect';
import type { EventFilter } from '../core/event-log';
import { IDEMPOTENCY_KEY_PATTERN } from '../core/idempotency';
import type { EventRef, LoggedEvent, ResyncResult } from '../core/protocol';
import { PUBLISH_MAX, resyncScopes, SCOPES } from '../domain/orchestrator';
import { ApiError, zodDetails, zodMessage } from '../errors';

/**
 * Seed 004's orchestrator stream as a dialect over the actor core: frames `{type, payload, timestamp, eventId,
 * sequence, scope}`, `connected`, `ping`/`pong`, `resync`/`resync_response`, and the seed's error event.
 * Only the wire format lives here: the payload rules, the state per scope and the keepalive rules are
 * domain/orchestrator.ts's; the Room actor stores the state.
 */

export const DIALECT = 'orchestrator';

// ---- client frames -------------------------------------------------------------------------------------------

export const PingFrame = z.object({
  type: z.literal('ping'),
  payload: z.object({ timestamp: z.union([z.string().max(100), z.number()]).optional() }).optional(),
  /** Seed 004 puts the timestamp in `payload`; a top-level one (the envelope's own field) is echoed too. */
  timestamp: z.union([z.string().max(100), z.number()]).optional(),
});

export const ResyncFrame = z.object({
  type: z.literal('resync'),
  lastEventId: z.string().max(100).nullable().optional(),
  lastSequence: z.number().int().min(0).optional(),
  lastEventTimestamp: z.string().max(100).optional(),
  requestedScopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).optional(),
});

/** A request id the answer echoes: a string of at most 128 characters or a number. */
const RequestId = z.union([z.string().min(1).max(128), z.number().int()]);

/**
 * Publishing over the socket (service and admin only): the items of `POST /api/orchestrator/events`, several in one
 * frame, with the REST route's optional `Idempotency-Key` as a field. Item types and payloads are checked by the
 * same domain rules as REST (`validatePublish`), so the errors are the same too.
 */
export const PublishFrame = z.strictObject({
  type: z.literal('publish'),
  id: RequestId.optional(),
  idempotencyKey: z.string().regex(IDEMPOTENCY_KEY_PATTERN, '1-128 visible ASCII characters').optional(),
  events: z
    .array(z.object({ type: z.string().max(100), payload: z.unknown() }))
    .min(1)
    .max(PUBLISH_MAX),
});

/** What a publish logged, in order, as its ack and the REST answer carry it. */
export interface PublishedEvent {
  eventId: string;
  sequence: number;
  type: string;
  scope: string;
  timestamp: string;
}

/** What the orchestrator dialect asks its actor for: the REST publish path, as the connection's identity. */
export interface OrchestratorHost {
  publish(
    conn: Connection,
    items: Array<{ type: string; payload: unknown }>,
    idempotencyKey?: string,
  ): PublishedEvent[] | Promise<PublishedEvent[]>;
}

const now = () => new Date().toISOString();

/** The client frame's `id`, echoed on its answer or error when it had a valid one. */
const requestIdOf = (frame: unknown): string | number | undefined => {
  const id = typeof frame === 'object' && frame !== null ? (frame as { id?: unknown }).id : undefined;
  const parsed = RequestId.safeParse(id);
  return parsed.success ? parsed.data : undefined;
};

/** Seed 004's event frame: the logged event with `payload` for its data. */
export function eventFrame(e: LoggedEvent) {
  return { type: e.type, payload: e.data, timestamp: e.timestamp, eventId: e.eventId, sequence: e.sequence, scope: e.scope };
}

export function createOrchestratorDialect(host: OrchestratorHost): Dialect {
  const dialect: Dialect = {
    name: DIALECT,
    limits: { messagesPerMinute: 100, maxMessageBytes: 64 * 1024, idleTimeoutMs: 120_000 },

    connected(api: DialectApi, conn: Connection) {
      return {
        type: 'connected',
        payload: {
          connectionId: conn.id,
          clientsConnected: api.clientCount(DIALECT),
          // Seed 004's proposed fix: the client learns where the log stands, so its first resync is exact.
          lastEventId: api.latestEventId(),
          sequence: api.latestSequence(),
          epoch: api.epoch(),
        },
        timestamp: now(),
      };
    },

    resyncFrame(api: DialectApi, conn: Connection, result: ResyncResult, scopes?: string[]) {
      return {
        type: 'resync_response',
        payload: {
          connectionId: conn.id,
          serverTimestamp: now(),
          state: result.truncated ? result.snapshot : api.snapshot(DIALECT, scopes),
          missedEvents: result.events.map(eventFrame),
          truncated: result.truncated,
          lastEventId: api.latestEventId(),
          sequence: result.latestSequence,
        },
        timestamp: now(),
      };
    },

    async handle(api: DialectApi, conn: Connection, frame: unknown) {
      const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
      if (typeof type !== 'string') throw new ApiError('INVALID_REQUEST', 'A message is an object with a string "type"');
      if (type === 'ping') {
        const ping = PingFrame.safeParse(frame);
        if (!ping.success) throw invalid(ping.error);
        conn.send({
          type: 'pong',
          payload: { timestamp: ping.data.payload?.timestamp ?? ping.data.timestamp ?? now() },
          timestamp: now(),
        });
        return;
      }
      if (type === 'resync') {
        const resync = ResyncFrame.safeParse(frame);
        if (!resync.success) throw invalid(resync.error);
        const scopes: string[] = resync.data.requestedScopes ?? ['all'];
        const ref: EventRef = {
          ...(resync.data.lastEventId ? { lastEventId: resync.data.lastEventId } : {}),
          ...(resync.data.lastSequence !== undefined ? { lastSequence: resync.data.lastSequence } : {}),
          ...(resync.data.lastEventTimestamp ? { lastEventTimestamp: resync.data.lastEventTimestamp } : {}),
        };
        // Missed events of the requested scopes (system-wide `all` events always), all of them for `all`.
        const only = resyncScopes(scopes);
        const filter: EventFilter = only ? { scopes: only } : {};
        conn.send(dialect.resyncFrame(api, conn, api.resync(conn, ref, { scopes, filter }), scopes));
        return;
      }
      if (type === 'publish') {
        const publish = PublishFrame.safeParse(frame);
        if (!publish.success) throw invalid(publish.error);
        const { id, events, idempotencyKey } = publish.data;
        // Sent once the events are in the log: the ack's ids are those every subscriber sees.
        const published = await host.publish(conn, events, idempotencyKey);
        conn.send({ type: 'publish_ack', ...(id !== undefined ? { id } : {}), payload: { events: published }, timestamp: now() });
        return;
      }
      throw new ApiError('INVALID_REQUEST', `Unknown message type "${type.slice(0, 64)}"`, {
        details: { type: type.slice(0, 64), supported: ['ping', 'resync', 'publish'] },
      });
    },

    renderEvent(event: LoggedEvent) {
      return eventFrame(event);
    },

    renderError(error, frame) {
      const id = requestIdOf(frame);
      return {
        type: 'error',
        ...(id !== undefined ? { id } : {}),
        payload: { message: error.message, code: error.code, ...(error.details ? { details: error.details } : {}) },
        timestamp: now(),
      };
    },

    frameName(frame: unknown) {
      return String((frame as { type?: unknown }).type ?? 'message');
    },
  };
  return dialect;
}

function invalid(error: z.ZodError): ApiError {
  const details = zodDetails(error);
  return new ApiError('INVALID_REQUEST', `Invalid message: ${zodMessage(error)}`, {
    details,
  });
}
