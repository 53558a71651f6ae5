import type { Role } from '../auth/identity';
import type { ConnectContext, StateUpdate } from './connection';
import type { EventFilter, EventInput } from './event-log';
import type { PresenceChange, PresencePage, PresenceStatus } from './presence';
import type { Codec, EventRef, LoggedEvent, ResyncResult } from './protocol';

/** Who is on a connection: handed in by the Worker after it verified the token, never read from a frame. */
export interface ActorIdentity {
  userId: string;
  tenantId: string;
  role: Role;
  username: string;
  /** The access token's expiry (seconds since the epoch): an open connection ends then unless refreshed in-band. */
  exp?: number;
  /** The access token's id and session (refresh family), to end the connection when either is revoked. */
  jti?: string;
  sessionId?: string;
}

/** Per-connection limits; each dialect sets its own, the actor's config may override them. */
export interface ConnectionLimits {
  /** Larger frames close the socket with 1009. */
  maxMessageBytes: number;
  /** Frames per minute (GCRA, burst = the whole minute); over it, an error frame. */
  messagesPerMinute: number;
  /** Consecutive refused frames after which the socket is closed with 1008. */
  rateLimitStrikes: number;
  /** No frame (and no auto-answered ping) for this long closes the socket with 1000. */
  idleTimeoutMs: number;
  /** Bytes sent to a socket without a frame (or an auto-answered `ping`) from it; past this, close 4008. */
  maxUnreadBytes: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxMessageBytes: 64 * 1024,
  messagesPerMinute: 100,
  rateLimitStrikes: 10,
  idleTimeoutMs: 120_000,
  maxUnreadBytes: 8 * 1024 * 1024,
};

export type { ConnectContext, StateUpdate } from './connection';

/**
 * A connection as a dialect sees it: a WebSocket, an SSE stream, or one HTTP-sent frame of an SSE/polling client
 * (`http`, id `http_<userId>`, stable across that client's requests).
 */
export interface Connection<TState = unknown> {
  readonly id: string;
  readonly identity: ActorIdentity;
  readonly dialect: string;
  readonly transport: 'websocket' | 'sse' | 'http';
  readonly codec: Codec;
  readonly topics: readonly string[];
  readonly connectedAt: number;
  /**
   * What the dialect or actor keeps on this connection (null until set). On a WebSocket it lives in the
   * hibernation attachment: it survives hibernation and eviction for as long as the socket stays open.
   */
  readonly state: TState | null;
  /** Replaces the state (JSON, at most `CONNECTION_STATE_MAX_BYTES`) and answers the new one. */
  setState(update: StateUpdate<TState>): TState | null;
  /** Sends a frame to this connection only (over HTTP: adds it to the answer). */
  send(frame: unknown): void;
  /** Closes it from the server side (a WebSocket gets the close frame, an SSE stream ends; no-op over HTTP). */
  close(code?: number, reason?: string): void;
}

/** An error a dialect renders in its own error-frame shape. Codes are the seeds' (`INVALID_REQUEST`, ...). */
export interface FrameError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Who an ephemeral broadcast reaches. Frames go out in call order, never reordered. */
export interface BroadcastTarget {
  dialect?: string;
  topic?: string;
  userId?: string;
  /** Connection id left out (usually the sender). */
  exclude?: string;
}

/** What the actor offers a dialect. Dialects keep no state: everything goes through here. */
export interface DialectApi {
  now(): number;
  /**
   * Appends events to the log (durable on return) and delivers them to every transport, in order. With
   * `deliver: false` only the log is written: the caller sends them to live connections itself (a batched tick).
   */
  publish(inputs: EventInput[], options?: { exclude?: string; deliver?: boolean }): LoggedEvent[];
  /** Missed events after `ref`, or a snapshot with `truncated`. */
  resync(
    conn: Pick<Connection, 'dialect' | 'topics'>,
    ref: EventRef,
    options?: { scopes?: string[]; filter?: EventFilter },
  ): ResyncResult;
  /** The actor's state for this dialect, limited to `scopes` when given. */
  snapshot(dialect: string, scopes?: string[]): unknown;
  /**
   * Sends a frame built per connection to every matching WebSocket and SSE stream (not logged: for acks, cursors,
   * typing). On SSE the frame goes out as `event: <dialect.frameName(frame)>`, without an id.
   */
  broadcast(build: (conn: Connection) => unknown | null, target?: BroadcastTarget): number;
  /** The open connections (WebSockets and SSE streams) matching `target`, from the core's attachment cache. */
  getConnections(target?: BroadcastTarget): Connection[];
  /** One open WebSocket or SSE stream by id, or null. */
  getConnection(id: string): Connection | null;
  /** Open WebSockets, optionally of one dialect. */
  clientCount(dialect?: string): number;
  latestEventId(): string;
  latestSequence(): number;
  epoch(): string;
  presenceList(limit?: number, cursor?: string): PresencePage;
  setPresence(conn: Connection, patch: { status?: PresenceStatus; metadata?: Record<string, unknown> }): void;
  subscribe(conn: Connection, topics: string[]): void;
  unsubscribe(conn: Connection, topics: string[]): void;
  /** Named dialect timers on the actor's one alarm; `onTimer` of the actor receives them. */
  schedule(name: string, at: number): Promise<void>;
  cancel(name: string): Promise<void>;
  /** Actor config value (ring size, keepalive intervals, ...). */
  config(key: string): number | undefined;
}

/** A wire format over the core. It maps frames to core calls and core events to frames; it holds no state. */
export interface Dialect {
  readonly name: string;
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * `renderEvent` reads the connection (its state or identity), so it runs once per connection rather than once
   * per dialect and codec.
   */
  readonly renderPerConnection?: boolean;
  /**
   * A WebSocket or SSE stream was accepted: runs with the request before `connected()`, in the same turn (so no
   * event falls in between). The place to set the connection's initial state from the query or headers.
   */
  onConnect?(api: DialectApi, conn: Connection, ctx: ConnectContext): void;
  /** First frame on a new WebSocket or SSE stream. */
  connected(api: DialectApi, conn: Connection): unknown;
  /** The frame answering a resync (on connect with a reference, a `resync` message, or a truncated SSE resume). */
  resyncFrame(api: DialectApi, conn: Connection, result: ResyncResult, scopes?: string[]): unknown;
  /** One decoded client frame. Throw `ApiError` for a clean error frame; the connection stays up. */
  handle(api: DialectApi, conn: Connection, frame: unknown): void | Promise<void>;
  /** A logged event as this dialect's frame for `conn`, or null to not deliver it there. */
  renderEvent(event: LoggedEvent, conn: Connection): unknown | null;
  /** An error frame; `frame` is the client frame it answers when there is one (for request ids). */
  renderError(error: FrameError, frame?: unknown): unknown;
  /** The SSE `event:` name of a non-logged frame (connected, resync answers). */
  frameName(frame: unknown): string;
  /** A user's first connection joined or last one left (coalesced across tabs). */
  onPresence?(api: DialectApi, change: PresenceChange): void;
  onClose?(api: DialectApi, conn: Connection, code: number): void;
}
