import { z } from 'zod';
import type { Connection, Dialect, DialectApi } from '../core/dialect';
import type { EventFilter } from '../core/event-log';
import type { EventRef, LoggedEvent, ResyncResult } from '../core/protocol';
import { resyncScopes, SCOPES } from '../domain/orchestrator';
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

const now = () => new Date().toISOString();

/** Seed 004's event frame: the logged event with `payload` for its data. */
export function eventFrame(e: LoggedEvent) {
  return { type: e.type, payload: e.data, timestamp: e.timestamp, eventId: e.eventId, sequence: e.sequence, scope: e.scope };
}

export const orchestratorDialect: Dialect = {
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

  handle(api: DialectApi, conn: Connection, frame: unknown) {
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
      conn.send(orchestratorDialect.resyncFrame(api, conn, api.resync(conn, ref, { scopes, filter }), scopes));
      return;
    }
    throw new ApiError('INVALID_REQUEST', `Unknown message type "${type.slice(0, 64)}"`, {
      details: { type: type.slice(0, 64), supported: ['ping', 'resync'] },
    });
  },

  renderEvent(event: LoggedEvent) {
    return eventFrame(event);
  },

  renderError(error) {
    return {
      type: 'error',
      payload: { message: error.message, code: error.code, ...(error.details ? { details: error.details } : {}) },
      timestamp: now(),
    };
  },

  frameName(frame: unknown) {
    return String((frame as { type?: unknown }).type ?? 'message');
  },
};

function invalid(error: z.ZodError): ApiError {
  const details = zodDetails(error);
  return new ApiError('INVALID_REQUEST', `Invalid message: ${zodMessage(error)}`, {
    details,
  });
}
