/**
 * What every actor's event log, resync, SSE and polling speak, whatever the dialect on top.
 * Shared by the server core (src/core) and the client SDK (src/client): one definition, no copies.
 */

/** One event in an actor's log. */
export interface LoggedEvent<T = unknown> {
  /** Monotonic per actor, never reused, survives restarts. */
  sequence: number;
  /** Globally unique and parseable back to (epoch, sequence): see `formatEventId`. */
  eventId: string;
  /** ISO 8601, server time. */
  timestamp: string;
  /** Changes only when the log is reset; a reference of another epoch always gets a snapshot. */
  epoch: string;
  /** The dialect's grouping (orchestrator scope, room id, chunk id, ...). */
  scope: string;
  /** The event's name in the dialect's words (`chunk_updated`, `draw`, `task_completed`, ...). */
  type: string;
  data: T;
}

/** Answer to a resync: the missed events in order, or a snapshot when they cannot all be given. */
export interface ResyncResult<S = unknown> {
  events: LoggedEvent[];
  /** True when the reference was unknown, too old for the ring, of another epoch, or past the limit. */
  truncated: boolean;
  /** Present exactly when `truncated` is true: the actor's state as of `latestSequence`. */
  snapshot?: S;
  epoch: string;
  latestSequence: number;
}

/**
 * Long-polling answer, as seed 003 shows it. `events` are the dialect's event frames, exactly what a WebSocket
 * of that dialect would have carried (each with its `eventId`), so a client handles them the same on every transport.
 */
export interface PollResponse<E = unknown> {
  events: E[];
  hasMore: boolean;
  /** The id to pass as `lastEventId` next time (the last event returned, or the caller's own if none). */
  nextEventId: string | null;
  /** Set when the caller's reference could not be honoured and it must rebuild from `snapshot`. */
  truncated?: boolean;
  snapshot?: unknown;
}

/** Resync defaults (DESIGN.md): ring of 1,000 events, at most 100 replayed. */
export const EVENT_RING_SIZE = 1000;
export const REPLAY_LIMIT = 100;

/** `e<epoch>-<sequence>`: the epoch is a short random base36 string without '-'. */
export function formatEventId(epoch: string, sequence: number): string {
  return `e${epoch}-${sequence}`;
}

export function parseEventId(eventId: string): { epoch: string; sequence: number } | null {
  const m = /^e([0-9a-z]{1,32})-(\d{1,15})$/.exec(eventId);
  if (!m) return null;
  return { epoch: m[1] as string, sequence: Number(m[2]) };
}

/** Reference a client resumes from: an event id, or a sequence of the current epoch (`lastSequence=0`: from the start). */
export interface EventRef {
  lastEventId?: string;
  lastSequence?: number;
  /** Seed 004's fallback when the client has no id: events after this instant (ISO 8601). */
  lastEventTimestamp?: string;
}

/** RFC 6455 close codes the core uses (seed 001 lists the same). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** The access token of the connection expired and was not refreshed in-band (`{"type":"auth","token":...}`). */
  TOKEN_EXPIRED: 4001,
  /** The connection's session ended: logout, refresh-token reuse (family revoked) or a role change. */
  SESSION_REVOKED: 4003,
  /**
   * The peer fell too far behind: more than `maxUnreadBytes` were sent to it without a frame (or a `ping`) back.
   * The runtime buffers unread frames without bound and tells nobody, so the actor counts them itself.
   */
  SLOW_CONSUMER: 4008,
} as const;

/**
 * Codecs a connection can speak, same envelope in each: JSON text frames, MessagePack binary frames, or `lz4`:
 * JSON whose frames over `LZ4_THRESHOLD_BYTES` are sent as binary LZ4 frames (LZ4 frame format) of that JSON.
 */
export type Codec = 'json' | 'msgpack' | 'lz4';

/** Query parameters a realtime connection (WebSocket or SSE) understands, whatever the dialect. */
export const CONNECT_PARAMS = {
  token: 'token',
  codec: 'codec',
  lastEventId: 'lastEventId',
  lastSequence: 'lastSequence',
  topics: 'topics',
  types: 'types',
} as const;
