import type { Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import { ApiError } from '../errors';

/**
 * Seed 002's crafting WebSockets as dialects over the actor core.
 *
 *   WebSocketCraftingMessage  {type, sessionId, timestamp, data, eventId?, sequence?}   (`/ws/crafting/{session_id}`)
 *   WebSocketQueueMessage     {type, playerId, timestamp, data, eventId?, sequence?}    (`/ws/queue/{player_id}`)
 *
 * `timestamp` is ISO 8601. Logged events (state changes) carry `eventId` and `sequence` and are replayed on
 * reconnect (`?lastEventId=`); `progress` ticks are not logged (the state in `connected` or a resync is newer).
 * Client frames: `{type:'ping'}`, `{type:'get_state'}`, and on a session `{type:'pause'|'resume'|'cancel'}`.
 * The actors hold the state; these dialects only read and write frames.
 */

export const SESSION_DIALECT = 'crafting';
export const QUEUE_DIALECT = 'crafting-queue';

/** Seed 002: heartbeats every 30 s. A socket silent for three intervals is closed (1000, "Idle timeout"). */
export const HEARTBEAT_INTERVAL_MS = 30_000;
const IDLE_TIMEOUT_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** Control frames a watcher may send in a minute (progress arrives without asking). */
export const FRAMES_PER_MINUTE = 120;
/** Client frames are small commands. */
const MAX_FRAME_BYTES = 4 * 1024;

export const SESSION_CONTROLS = ['pause', 'resume', 'cancel'] as const;
export type SessionControl = (typeof SESSION_CONTROLS)[number];

/** What the Crafting actor does for its dialect. */
export interface CraftingSessionHost {
  sessionId(): string;
  /** The session's `CraftingProgressData` now. */
  state(): unknown;
  /** Runs a control command for the connection's identity (owner or admin); throws ApiError when refused. */
  control(conn: Connection, command: SessionControl): Promise<unknown>;
}

/** What the CraftingQueue actor does for its dialect. */
export interface CraftingQueueHost {
  playerId(): string;
  /** The queue's view now: entries with positions and estimates, materials. */
  state(): unknown;
}

const iso = (t: number) => new Date(t).toISOString();

function parseFrame(frame: unknown, allowed: readonly string[]): { type: string; id?: string | number; timestamp?: unknown } {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ApiError('INVALID_REQUEST', 'A message is a JSON object {type, ...}');
  }
  const f = frame as Record<string, unknown>;
  if (typeof f.type !== 'string' || !allowed.includes(f.type)) {
    throw new ApiError('INVALID_REQUEST', `Unsupported message type ${JSON.stringify(String(f.type).slice(0, 32))}`, {
      details: { field: 'type', issue: 'unknown_message_type', supported: allowed },
    });
  }
  const id = typeof f.id === 'string' && f.id.length <= 128 ? f.id : typeof f.id === 'number' ? f.id : undefined;
  return { type: f.type, ...(id === undefined ? {} : { id }), timestamp: f.timestamp };
}

const echoId = (frame: unknown): { id?: string | number } => {
  const id = typeof frame === 'object' && frame !== null ? (frame as { id?: unknown }).id : undefined;
  return typeof id === 'string' && id.length <= 128 ? { id } : typeof id === 'number' ? { id } : {};
};

/** The seed's error message in either envelope: `{type:'error', data:{code, message, details?}}`. */
function errorData(error: FrameError) {
  return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
}

function resyncData(api: DialectApi, result: ResyncResult, render: (e: LoggedEvent) => unknown) {
  return {
    events: result.events.map(render),
    truncated: result.truncated,
    ...(result.truncated ? { snapshot: result.snapshot } : {}),
    epoch: result.epoch,
    latestSequence: result.latestSequence,
    lastEventId: api.latestEventId(),
  };
}

const limits = { messagesPerMinute: FRAMES_PER_MINUTE, maxMessageBytes: MAX_FRAME_BYTES, idleTimeoutMs: IDLE_TIMEOUT_MS };

const pong = (timestamp: unknown) => ({
  timestamp: typeof timestamp === 'number' || (typeof timestamp === 'string' && timestamp.length <= 64) ? timestamp : Date.now(),
});

/** A logged session event as a `WebSocketCraftingMessage`. */
export const sessionEventFrame = (e: LoggedEvent) => ({
  type: e.type,
  sessionId: e.scope,
  timestamp: e.timestamp,
  eventId: e.eventId,
  sequence: e.sequence,
  data: e.data,
});

/** A message that is not logged (progress ticks, answers). */
export const sessionFrame = (type: string, sessionId: string, data: unknown, extra: Record<string, unknown> = {}) => ({
  type,
  sessionId,
  timestamp: iso(Date.now()),
  ...extra,
  data,
});

export function createSessionDialect(host: CraftingSessionHost): Dialect {
  const render = sessionEventFrame;
  return {
    name: SESSION_DIALECT,
    limits,
    connected(api, conn) {
      return sessionFrame('connected', host.sessionId(), {
        connectionId: conn.id,
        state: host.state(),
        lastEventId: api.latestEventId(),
        sequence: api.latestSequence(),
        epoch: api.epoch(),
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        compression: conn.codec === 'lz4' ? 'lz4' : 'none',
      });
    },
    resyncFrame(api, _conn, result) {
      return sessionFrame('resync', host.sessionId(), resyncData(api, result, render));
    },
    async handle(_api, conn, frame) {
      const f = parseFrame(frame, ['ping', 'get_state', ...SESSION_CONTROLS]);
      const id = f.id === undefined ? {} : { id: f.id };
      if (f.type === 'ping') conn.send(sessionFrame('pong', host.sessionId(), pong(f.timestamp), id));
      else if (f.type === 'get_state') conn.send(sessionFrame('session_state', host.sessionId(), host.state(), id));
      else {
        const state = await host.control(conn, f.type as SessionControl);
        conn.send(sessionFrame('ack', host.sessionId(), { command: f.type, state }, id));
      }
    },
    renderEvent: render,
    renderError(error, frame) {
      return sessionFrame('error', host.sessionId(), errorData(error), echoId(frame));
    },
    frameName: (frame) => String((frame as { type?: unknown }).type ?? 'message'),
  };
}

/** A logged queue event as a `WebSocketQueueMessage`. */
export const queueEventFrame = (e: LoggedEvent) => ({
  type: e.type,
  playerId: e.scope,
  timestamp: e.timestamp,
  eventId: e.eventId,
  sequence: e.sequence,
  data: e.data,
});

export const queueFrame = (type: string, playerId: string, data: unknown, extra: Record<string, unknown> = {}) => ({
  type,
  playerId,
  timestamp: iso(Date.now()),
  ...extra,
  data,
});

export function createQueueDialect(host: CraftingQueueHost): Dialect {
  const render = queueEventFrame;
  return {
    name: QUEUE_DIALECT,
    limits,
    connected(api, conn) {
      return queueFrame('connected', host.playerId(), {
        connectionId: conn.id,
        queue: host.state(),
        lastEventId: api.latestEventId(),
        sequence: api.latestSequence(),
        epoch: api.epoch(),
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        compression: conn.codec === 'lz4' ? 'lz4' : 'none',
      });
    },
    resyncFrame(api, _conn, result) {
      return queueFrame('resync', host.playerId(), resyncData(api, result, render));
    },
    handle(_api, conn, frame) {
      const f = parseFrame(frame, ['ping', 'get_state']);
      const id = f.id === undefined ? {} : { id: f.id };
      if (f.type === 'ping') conn.send(queueFrame('pong', host.playerId(), pong(f.timestamp), id));
      else conn.send(queueFrame('queue_state', host.playerId(), host.state(), id));
    },
    renderEvent: render,
    renderError(error, frame) {
      return queueFrame('error', host.playerId(), errorData(error), echoId(frame));
    },
    frameName: (frame) => String((frame as { type?: unknown }).type ?? 'message'),
  };
}
