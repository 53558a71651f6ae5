/**
 * An Engine.IO session as the Engine.IO actor keeps it: the settings it runs under, the in-memory session (either
 * transport), the attachment a WebSocket session carries through hibernation, and how each is built.
 */
import { type EnginePacket, encodeFrame } from '../dialects/engineio';

/** Engine.IO server settings (the reference server's defaults; the conformance Worker uses the suites' values). */
export interface EngineSettings {
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
  /** `Access-Control-Allow-Origin: *` on polling answers (the conformance suites run from a browser too). */
  cors: boolean;
  /** Bytes a WebSocket session may be sent without a packet back before it is closed with 4008 (slow consumer). */
  maxUnreadBytes: number;
}

export const DEFAULT_ENGINE_SETTINGS: EngineSettings = {
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxPayload: 1_000_000,
  cors: false,
  maxUnreadBytes: 8 * 1024 * 1024,
};

/** One Engine.IO session: a client over long-polling or a WebSocket, and the state the layer above keeps in it. */
export interface EngineSession<S> {
  readonly sid: string;
  transport: 'polling' | 'websocket';
  readonly createdAt: number;
  /** The handshake's query parameters (the client's `query` option), without the protocol's own. */
  readonly query: Record<string, string>;
  /** The layer above's state; persisted with the WebSocket (through hibernation) by `persist()`. */
  state: S;
  ws?: WebSocket;
  /** A WebSocket probing an upgrade of this polling session (`2probe` / `3probe` / `5`). */
  probe?: WebSocket;
  /** Polling: packets waiting for the next GET. */
  queue: EnginePacket[];
  /** Polling: the held GET, answered with a payload, or `null` when the session moved to WebSocket meanwhile. */
  poll?: (body: string | null) => void;
  posting: boolean;
  closed: boolean;
  /** Polling heartbeat timer (a WebSocket's heartbeat is the actor's alarm, so it hibernates). */
  timer?: ReturnType<typeof setTimeout>;
}

/** What a WebSocket carries through hibernation (a probe carries `probe: true` and no client query). */
export interface SocketAttachment<S> {
  v: 'eio1';
  sid: string;
  createdAt: number;
  query: Record<string, string>;
  probe?: boolean;
  state: S;
}

/** Query parameters of the protocol itself, not the client's. */
const PROTOCOL_PARAMS = new Set(['EIO', 'transport', 'sid', 't', 'b64']);

/** A new session: the client's own handshake query parameters are kept (16 at most, bounded in length). */
export function newSession<S>(sid: string, transport: 'polling' | 'websocket', url: URL, state: S): EngineSession<S> {
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (!PROTOCOL_PARAMS.has(k) && Object.keys(query).length < 16) query[k.slice(0, 64)] = v.slice(0, 256);
  }
  return { sid, transport, createdAt: Date.now(), query, state, queue: [], posting: false, closed: false };
}

/** A WebSocket session rebuilt from its socket's attachment (after hibernation or eviction). */
export function adoptedSession<S>(ws: WebSocket, att: SocketAttachment<S>): EngineSession<S> {
  return {
    sid: att.sid,
    transport: 'websocket',
    createdAt: att.createdAt,
    query: att.query ?? {},
    state: att.state,
    ws,
    queue: [],
    posting: false,
    closed: false,
  };
}

/** The attachment of a session's WebSocket, or of a probe of it. */
export function attachmentOf<S>(session: EngineSession<S>, probe = false): SocketAttachment<S> {
  return probe
    ? { v: 'eio1', sid: session.sid, createdAt: session.createdAt, query: {}, probe: true, state: session.state }
    : { v: 'eio1', sid: session.sid, createdAt: session.createdAt, query: session.query, state: session.state };
}

/** The open packet's payload. */
export function openPayload(session: EngineSession<unknown>, settings: EngineSettings, upgrades: string[]) {
  return {
    sid: session.sid,
    upgrades,
    pingInterval: settings.pingInterval,
    pingTimeout: settings.pingTimeout,
    maxPayload: settings.maxPayload,
  };
}

/** Messages encoded once: the packets (polling queues them) and their WebSocket frames. */
export interface PreparedMessages {
  packets: EnginePacket[];
  frames: Array<string | Uint8Array>;
}

/** Engine.IO `message` packets encoded once for many sessions (a broadcast), not once per recipient. */
export function prepareMessages(messages: Array<string | Uint8Array>): PreparedMessages {
  const packets = messages.map((data): EnginePacket => ({ type: 'message', data }));
  return { packets, frames: packets.map(encodeFrame) };
}
