import { z } from 'zod';
import type { Connection, Dialect, DialectApi, FrameError } from '../core/dialect';
import type { LoggedEvent, ResyncResult } from '../core/protocol';
import type { CraftingProgressData } from '../domain/crafting';
import { ApiError, type ErrorBody } from '../errors';
import {
  HEADER_BYTES,
  MAX_PACKET_BYTES,
  MIN_PACKET_BYTES,
  TOKEN_BYTES,
  toFixed16,
  UDP_VERSION,
  type UdpProgressState,
} from './crafting-udp';

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
  const { id, timestamp } = CLIENT_FRAMES[f.type as ClientFrameType].parse(frame);
  return { type: f.type, ...(id === undefined ? {} : { id }), timestamp };
}

// Client frames (what /asyncapi.json describes). Lenient as the seed's clients expect: unknown fields are ignored,
// and an `id` or ping `timestamp` of the wrong shape is dropped (not echoed) rather than refused.
const frameId = z
  .union([z.string().max(128), z.number()])
  .optional()
  .catch(undefined)
  .describe('Echoed on the answer (a string of at most 128 characters or a number)');
const clientFrame = <T extends string>(type: T, description: string) =>
  z.looseObject({ type: z.literal(type), id: frameId, timestamp: z.unknown().optional() }).describe(description);

export const CLIENT_FRAMES = {
  ping: z
    .looseObject({
      type: z.literal('ping'),
      id: frameId,
      timestamp: z
        .union([z.number(), z.string().max(64)])
        .optional()
        .catch(undefined)
        .describe("Echoed in pong's data.timestamp (else the server's time, ms)"),
    })
    .describe('Heartbeat; answered with pong'),
  get_state: clientFrame('get_state', 'Asks for the state now: session_state (session) or queue_state (queue)'),
  pause: clientFrame('pause', 'Pauses the session (owner or admin); answered with ack {command, state}'),
  resume: clientFrame('resume', 'Resumes a paused session (owner or admin); answered with ack'),
  cancel: clientFrame('cancel', 'Cancels the session, materials returned (owner or admin); answered with ack'),
} as const;
export type ClientFrameType = keyof typeof CLIENT_FRAMES;
/** Client frames each socket accepts. */
export const SESSION_CLIENT_TYPES = [
  'ping',
  'get_state',
  'pause',
  'resume',
  'cancel',
] as const satisfies readonly ClientFrameType[];
export const QUEUE_CLIENT_TYPES = ['ping', 'get_state'] as const satisfies readonly ClientFrameType[];

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

/**
 * The two sockets' frames differ only in the key that names the stream (`sessionId` or `playerId`); everything
 * else, from `connected` to errors, is one stream dialect over that key.
 */
type StreamKey = 'sessionId' | 'playerId';

/** A logged event as a frame of the stream named by `key`. */
const eventFrame = (key: StreamKey) => (e: LoggedEvent) => ({
  type: e.type,
  [key]: e.scope,
  timestamp: e.timestamp,
  eventId: e.eventId,
  sequence: e.sequence,
  data: e.data,
});

/** A message that is not logged (progress ticks, answers) on the stream `id` named by `key`. */
const streamFrame =
  (key: StreamKey) =>
  (type: string, id: string, data: unknown, extra: Record<string, unknown> = {}) => ({
    type,
    [key]: id,
    timestamp: iso(Date.now()),
    ...extra,
    data,
  });

/** A logged session event as a `WebSocketCraftingMessage`. */
export const sessionEventFrame = eventFrame('sessionId');
/** A session message that is not logged. */
export const sessionFrame = streamFrame('sessionId');
/** A logged queue event as a `WebSocketQueueMessage`. */
export const queueEventFrame = eventFrame('playerId');
export const queueFrame = streamFrame('playerId');

interface StreamDialect {
  name: string;
  key: StreamKey;
  /** The stream's id (the session or the player). */
  id(): string;
  /** The state now, and the field of `connected` that carries it. */
  state(): unknown;
  stateField: 'state' | 'queue';
  /** The type of the answer to `get_state`. */
  stateFrame: string;
  /** Client frames beyond `ping` and `get_state`, and what runs them (the answer goes back as `ack`). */
  commands: readonly string[];
  command?(conn: Connection, type: string): Promise<unknown>;
}

function createStreamDialect(s: StreamDialect): Dialect {
  const render = eventFrame(s.key);
  const frame = streamFrame(s.key);
  return {
    name: s.name,
    limits,
    connected(api, conn) {
      return frame('connected', s.id(), {
        connectionId: conn.id,
        [s.stateField]: s.state(),
        lastEventId: api.latestEventId(),
        sequence: api.latestSequence(),
        epoch: api.epoch(),
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        compression: conn.codec === 'lz4' ? 'lz4' : 'none',
      });
    },
    resyncFrame(api, _conn, result) {
      return frame('resync', s.id(), resyncData(api, result, render));
    },
    async handle(_api, conn, incoming) {
      const f = parseFrame(incoming, ['ping', 'get_state', ...s.commands]);
      const id = f.id === undefined ? {} : { id: f.id };
      if (f.type === 'ping') conn.send(frame('pong', s.id(), pong(f.timestamp), id));
      else if (f.type === 'get_state') conn.send(frame(s.stateFrame, s.id(), s.state(), id));
      else if (s.command) {
        const state = await s.command(conn, f.type);
        conn.send(frame('ack', s.id(), { command: f.type, state }, id));
      }
    },
    renderEvent: render,
    renderError(error, incoming) {
      return frame('error', s.id(), errorData(error), echoId(incoming));
    },
    frameName: (incoming) => String((incoming as { type?: unknown }).type ?? 'message'),
  };
}

export function createSessionDialect(host: CraftingSessionHost): Dialect {
  return createStreamDialect({
    name: SESSION_DIALECT,
    key: 'sessionId',
    id: () => host.sessionId(),
    state: () => host.state(),
    stateField: 'state',
    stateFrame: 'session_state',
    commands: SESSION_CONTROLS,
    command: (conn, type) => host.control(conn, type as SessionControl),
  });
}

export function createQueueDialect(host: CraftingQueueHost): Dialect {
  return createStreamDialect({
    name: QUEUE_DIALECT,
    key: 'playerId',
    id: () => host.playerId(),
    state: () => host.state(),
    stateField: 'queue',
    stateFrame: 'queue_state',
    commands: [],
  });
}

// ---- the UDP-style sync: its binary WebSocket variant and its HTTP answers ----------------------------------------

/** The binary WebSocket variant of the sync: UDP packets as binary frames (`Sec-WebSocket-Protocol: crafting-udp.v1`). */
export const UDP_DIALECT = 'crafting-udp';

/**
 * The binary watchers' dialect: the session dialect, with packets of up to MAX_PACKET_BYTES, a `udp_connected` frame
 * carrying the sync parameters (`accepted` runs as the watcher is accepted), and no JSON events (they get packets).
 */
export function createUdpDialect(
  session: Dialect,
  sessionId: () => string,
  accepted: (conn: Connection) => ReturnType<typeof udpParameters>,
): Dialect {
  return {
    ...session,
    name: UDP_DIALECT,
    limits: { ...session.limits, maxMessageBytes: MAX_PACKET_BYTES },
    connected: (_api, conn) => {
      const params = accepted(conn);
      return sessionFrame('udp_connected', sessionId(), params);
    },
    renderEvent: () => null,
  };
}

/** What `connect` negotiates. */
export interface UdpConnectRequest {
  version?: number;
  maxPacketSize?: number;
  keyframeInterval?: number;
  keyframeIntervalMs?: number;
}

export interface UdpConnectAnswer {
  sessionId: string;
  peerId: string;
  sessionToken: string;
  tokenExpiresAt: string;
  tokenTtlMs: number;
  version: number;
  maxPacketSize: number;
  keyframeInterval: number;
  keyframeIntervalMs: number;
  headerBytes: number;
  tickHz: number;
}

/** What a UDP packet over HTTP gets back: the downstream packet, or why it was dropped. */
export type UdpAnswer =
  | { kind: 'packet'; bytes: Uint8Array }
  | { kind: 'dropped'; reason: 'stale' | 'duplicate' }
  | { kind: 'error'; error: ErrorBody };

export const udpError = (
  code: 'INVALID_REQUEST' | 'AUTHENTICATION_REQUIRED' | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMIT_EXCEEDED' | 'AUTHORIZATION_FAILED',
  message: string,
  issue: string,
  extra: Record<string, unknown> = {},
): UdpAnswer => ({
  kind: 'error',
  error: new ApiError(code, message, { details: { issue, ...extra } }).toBody(),
});

/** A binary watcher's error: a JSON `error` frame beside its binary packets. */
export const udpErrorFrame = (sessionId: string, error: Pick<ErrorBody, 'error' | 'message' | 'details'>) =>
  JSON.stringify(sessionFrame('error', sessionId, { code: error.error, message: error.message, details: error.details }));

/** The sync parameters a binary watcher gets in its `udp_connected` frame. */
export const udpParameters = (keyframeInterval: number, keyframeIntervalMs: number, tickMs: number) => ({
  version: UDP_VERSION,
  headerBytes: HEADER_BYTES,
  tokenBytes: TOKEN_BYTES,
  keyframeInterval,
  keyframeIntervalMs,
  tickHz: Math.round(1000 / tickMs),
  packetSize: { min: MIN_PACKET_BYTES, max: MAX_PACKET_BYTES },
});

/** A session's progress as the progress channel carries it (fixed-point fractions, whole milliseconds). */
export const udpProgressState = (p: CraftingProgressData): UdpProgressState => ({
  status: p.status,
  stageIndex: p.stageIndex,
  stageCount: p.stageCount,
  progress: toFixed16(p.progress),
  stageProgress: toFixed16(p.stageProgress),
  elapsedMs: Math.round(p.elapsedMs),
  remainingMs: Math.round(p.remainingMs),
  quality: p.quality,
});
