import type { Attachment } from './attachment';
import { encodeFrame } from './codec';
import { type HttpConnectionStates, resolveState, type StateUpdate } from './connection';
import type { ActorIdentity, Connection, Dialect } from './dialect';
import { CLOSE } from './protocol';
import { formatSse, type SseStream } from './sse';

/** What a socket's `Connection` does through the actor: persist its attachment, send, close. */
export interface SocketOps {
  save(ws: WebSocket, att: Attachment, now: number): void;
  sendTo(ws: WebSocket, att: Attachment, data: string | Uint8Array): boolean;
  close(ws: WebSocket, att: Attachment, code: number, reason: string): void;
}

/**
 * Each socket's `Connection`, built once per attachment rather than per frame and per event. Identity
 * (re-authentication), codec (a first binary frame) and topics change in place on the attachment.
 */
export class SocketConnections {
  private readonly cache = new WeakMap<WebSocket, { att: Attachment; conn: Connection }>();

  constructor(private readonly ops: SocketOps) {}

  of(ws: WebSocket, att: Attachment): Connection {
    const cached = this.cache.get(ws);
    if (cached?.att === att) return cached.conn;
    const ops = this.ops;
    const conn: Connection = {
      id: att.id,
      get identity() {
        return att.identity;
      },
      dialect: att.dialect,
      transport: 'websocket',
      get codec() {
        return att.codec;
      },
      get topics() {
        return att.topics;
      },
      connectedAt: att.connectedAt,
      get state() {
        return att.state ?? null;
      },
      setState: (update: StateUpdate<unknown>) => {
        att.state = resolveState(att.state ?? null, update);
        ops.save(ws, att, Date.now());
        return att.state;
      },
      send: (frame) => {
        ops.sendTo(ws, att, encodeFrame(att.codec, frame));
      },
      close: (code = CLOSE.NORMAL, reason = 'Closed') => {
        ops.close(ws, att, code, reason);
      },
    };
    this.cache.set(ws, { att, conn });
    return conn;
  }
}

/** An SSE stream's `Connection`: frames go out as SSE events named by the dialect. */
export function sseConnection(stream: SseStream, dialect: Dialect | undefined): Connection {
  return {
    id: stream.id,
    identity: stream.identity,
    dialect: stream.dialect,
    transport: 'sse',
    codec: 'json',
    topics: [],
    connectedAt: stream.connectedAt,
    get state() {
      return stream.state ?? null;
    },
    setState: (update: StateUpdate<unknown>) => {
      stream.state = resolveState(stream.state ?? null, update);
      return stream.state;
    },
    send: (frame) => {
      if (dialect) stream.write(formatSse({ event: dialect.frameName(frame), data: frame }));
    },
    close: () => stream.end(),
  };
}

/** One HTTP-sent frame (or poll) of an identity: its connection id and state are stable across requests. */
export function httpConnection(
  states: HttpConnectionStates,
  identity: ActorIdentity,
  dialect: string,
  sink: (frame: unknown) => void,
): Connection {
  const id = `http_${identity.userId}`;
  let cached: { state: unknown } | null = null;
  return {
    id,
    identity,
    dialect,
    transport: 'http',
    codec: 'json',
    topics: [],
    connectedAt: Date.now(),
    get state() {
      cached ??= { state: states.get(id, dialect) };
      return cached.state;
    },
    setState(update: StateUpdate<unknown>) {
      const next = resolveState(this.state, update);
      states.set(id, dialect, next);
      cached = { state: next };
      return next;
    },
    send: sink,
    close: () => {},
  };
}
