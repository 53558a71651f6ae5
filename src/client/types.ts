import type { TransportKind } from './fallback';

/** An error as a server frame carries it, in any dialect. */
export interface WireError {
  code: string | number;
  message: string;
  /** The symbolic code when `code` is a number (seed 001 sends close-code style numbers plus `reason`). */
  reason?: string;
  details?: unknown;
}

/** What a dialect makes of one server frame; the engine needs nothing else from the envelope. */
export type DecodedFrame =
  /** A domain event (possibly replayed). `eventId` is what dedup and resume use. */
  | { kind: 'event'; name: string; data: unknown; eventId?: string; sequence?: number; scope?: string; raw: unknown }
  /**
   * The answer to a request. `name` is set by dialects (EarthRing) whose answers look like events: when no
   * request waits for `id`, the engine delivers the frame as event `name` instead.
   */
  | { kind: 'response'; id: string; data: unknown; name?: string; raw: unknown }
  | { kind: 'error'; id?: string; error: WireError; raw: unknown }
  /** Heartbeat answer. `id` or `timestamp` identify the ping it answers when the dialect echoes one. */
  | { kind: 'pong'; id?: string; timestamp?: number; raw: unknown }
  /** The outcome of a resync: missed events, or a snapshot when `truncated`. */
  | {
      kind: 'resync';
      events: DecodedFrame[];
      truncated: boolean;
      snapshot?: unknown;
      /** Where to resume after a snapshot with no events (built from the answer's epoch and latest sequence). */
      resumeId?: string;
      raw: unknown;
    }
  /** Anything else the server says about the connection (welcome, server heartbeat, ...). */
  | { kind: 'control'; name: string; data: unknown; raw: unknown }
  /**
   * The server moves this connection elsewhere (EarthRing's `chunk_handoff`): reconnect with `query` added to the
   * URL, resuming from `lastEventId`. The engine opens the new socket before it lets go of the old one.
   */
  | { kind: 'redirect'; name: string; query: Record<string, string>; lastEventId?: string; data: unknown; raw: unknown };

/**
 * The thin per-wire-format adapter. It holds no state; the engine calls it to build and read frames.
 * Frames are plain objects; the codec (JSON or MessagePack) turns them into bytes.
 */
export interface ClientDialect {
  readonly name: string;
  /** A request that the server answers with a response or an error carrying `id`. */
  encodeRequest(id: string, method: string, params: unknown): unknown;
  /** An application-level ping. `timestamp` is ms since the epoch. */
  encodePing(id: string, timestamp: number): unknown;
  /** An explicit resync request, for dialects that have one (seed 004). */
  encodeResync?(lastEventId: string | null, scopes?: readonly string[]): unknown;
  /** Reads one server frame (WebSocket, SSE `data:`, a poll answer's event, a POST answer); `null` if foreign. */
  decode(frame: unknown): DecodedFrame | null;
}

/** The fields of socket events the client reads (MessageEvent, CloseEvent, ErrorEvent alike). */
export interface SocketEventLike {
  data?: unknown;
  code?: number;
  reason?: string;
  error?: unknown;
  message?: string;
}

/** The part of a WebSocket the client uses: browsers', `ws`'s and workerd's all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /**
   * Listeners receive the runtime's own event objects (MessageEvent, CloseEvent, ...), read as SocketEventLike;
   * `any` here is what lets every runtime's WebSocket type fit this one interface.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the DOM, workerd and `ws` event types share no declared base.
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void;
}

/** How to open a socket: a constructor (`WebSocket`, `ws`), or any function that yields one (maybe already open). */
export type WebSocketFactory = (url: string, protocols?: string[]) => WebSocketLike | Promise<WebSocketLike>;
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type TokenSource = string | (() => string | Promise<string>);

/** What a transport reports to the engine. */
export interface TransportSink {
  /** The transport is established (socket open, stream started, first poll answered). */
  open(): void;
  /** One frame in the dialect's envelope; `eventId` is the SSE `id:` when the transport knows one. */
  frame(frame: unknown, eventId?: string): void;
  /** A poll answered: where the next one starts, and whether the log has nothing more right now. */
  cursor(nextEventId: string | null, caughtUp: boolean): void;
  /** A state snapshot outside any frame (a poll answer): `truncated` when the reference could not be honoured. */
  snapshot(snapshot: unknown, truncated: boolean): void;
  /** Proof of life with no content (SSE comment, empty poll). */
  activity(): void;
  /** A frame that could not be read; the connection stays up. */
  malformed(error: unknown): void;
  /** A frame that was sent and refused or lost (HTTP sends only: a WebSocket send has no answer of its own). */
  sendFailed(frame: unknown, error: unknown): void;
  /**
   * The transport is gone. `established` tells a drop from a failure to connect at all; `unsent` are frames
   * it accepted but never put on the wire, in order, for the engine to queue again.
   */
  closed(info: ClosedInfo): void;
}

export interface ClosedInfo {
  established: boolean;
  code?: number;
  reason?: string;
  error?: unknown;
  unsent?: unknown[];
}

/** Everything a transport needs to start; built by the engine for each attempt. */
export interface TransportContext {
  dialect: ClientDialect;
  codec: 'json' | 'msgpack';
  /** One WebSocket frame per published batch (`?batch=1`). */
  batch: boolean;
  token: string;
  /** Fresh token for an HTTP call answered 401 (the token source may be a refreshing function). */
  refreshToken(): Promise<string>;
  lastEventId: string | null;
  urls: { url: string; sseUrl?: string; pollUrl?: string; sendUrl?: string };
  /** Extra query parameters for every connection URL. */
  query: Record<string, string>;
  /** Extra headers for every HTTP request (e.g. `X-Tenant-ID`). */
  headers: Record<string, string>;
  protocols?: string[];
  fetch: FetchLike;
  openWebSocket?: WebSocketFactory;
  poll: { limit: number; waitSeconds: number; emptyDelayMs: number };
  sink: TransportSink;
}

/** A live transport. `send` takes a dialect frame. */
export interface Transport {
  readonly kind: TransportKind;
  send(frame: unknown): void | Promise<void>;
  close(): void;
}
