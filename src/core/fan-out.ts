import type { OpenSocket } from './attachment';
import { encodeFrame } from './codec';
import type { BroadcastTarget, Connection, Dialect } from './dialect';
import { frameBytes } from './metrics';
import type { Codec, LoggedEvent } from './protocol';
import type { SocketRegistry } from './sockets';
import { formatSse, type SseHub, type SseStream } from './sse';

/**
 * Fan-out: a logged event or batch to every socket and SSE stream, encoded once per dialect and codec; a target's
 * sockets and streams; a frame built per connection for them (`broadcast`).
 */

/** What a fan-out reaches through the actor. */
export interface FanOutHost {
  dialects: Record<string, Dialect>;
  sse: SseHub;
  socketConnection(ws: WebSocket, att: OpenSocket['att']): Connection;
  sseConnection(stream: SseStream): Connection;
  sendTo(ws: WebSocket, att: OpenSocket['att'], data: string | Uint8Array, bytes?: number): boolean;
}

/** Sends a logged event to every transport: WebSockets, SSE streams (poll waiters are woken by the caller). */
export function deliver(host: FanOutHost, event: LoggedEvent, sockets: OpenSocket[], exclude?: string): void {
  // One encoding per dialect and codec when the frame does not depend on the connection.
  const shared = new SharedEncodings();
  for (const { ws, att } of sockets) {
    if (att.id === exclude) continue;
    if (att.topics.length && !att.topics.includes(event.scope)) continue;
    const dialect = host.dialects[att.dialect];
    if (!dialect) continue;
    const perConnection = att.topics.length > 0 || dialect.renderPerConnection === true;
    let encoded = perConnection ? undefined : shared.get(att.dialect, att.codec);
    if (encoded === undefined) {
      const frame = dialect.renderEvent(event, host.socketConnection(ws, att));
      encoded = frame === null ? null : encodeOnce(encodeFrame(att.codec, frame));
      if (!perConnection) shared.set(att.dialect, att.codec, encoded);
    }
    if (encoded !== null) host.sendTo(ws, att, encoded.data, encoded.bytes);
  }
  for (const stream of host.sse.all()) {
    if (stream.types.size && !stream.types.has(event.type)) continue;
    const dialect = host.dialects[stream.dialect];
    if (!dialect) continue;
    const frame = dialect.renderEvent(event, host.sseConnection(stream));
    if (frame !== null) stream.write(formatSse({ id: event.eventId, event: event.type, data: frame }));
  }
}

/**
 * Sends a published batch to sockets that opted in (`?batch=1`): one frame per socket, the JSON (or MessagePack)
 * array of the dialect's event frames in log order. Rendered and encoded once per dialect and codec, like `deliver`.
 */
export function deliverBatch(host: FanOutHost, events: LoggedEvent[], sockets: OpenSocket[], exclude?: string): void {
  const shared = new SharedEncodings();
  for (const { ws, att } of sockets) {
    if (att.id === exclude) continue;
    const dialect = host.dialects[att.dialect];
    if (!dialect) continue;
    const perConnection = att.topics.length > 0 || dialect.renderPerConnection === true;
    let encoded = perConnection ? undefined : shared.get(att.dialect, att.codec);
    if (encoded === undefined) {
      const conn = host.socketConnection(ws, att);
      const frames: unknown[] = [];
      for (const event of events) {
        if (att.topics.length && !att.topics.includes(event.scope)) continue;
        const frame = dialect.renderEvent(event, conn);
        if (frame !== null) frames.push(frame);
      }
      encoded = frames.length ? encodeOnce(encodeFrame(att.codec, frames)) : null;
      if (!perConnection) shared.set(att.dialect, att.codec, encoded);
    }
    if (encoded !== null) host.sendTo(ws, att, encoded.data, encoded.bytes);
  }
}

/** One frame encoded for many sockets, with its size on the wire counted once. */
interface Encoded {
  data: string | Uint8Array;
  bytes: number;
}

const encodeOnce = (data: string | Uint8Array): Encoded => ({ data, bytes: frameBytes(data) });

/**
 * The encodings of one event (or batch) shared by every socket of a dialect and codec, for one pass of a
 * fan-out: looked up by the attachment's own strings, no key built per socket.
 */
class SharedEncodings {
  private readonly byDialect = new Map<string, Map<Codec, Encoded | null>>();

  get(dialect: string, codec: Codec): Encoded | null | undefined {
    return this.byDialect.get(dialect)?.get(codec);
  }

  set(dialect: string, codec: Codec, encoded: Encoded | null): void {
    let byCodec = this.byDialect.get(dialect);
    if (!byCodec) {
      byCodec = new Map();
      this.byDialect.set(dialect, byCodec);
    }
    byCodec.set(codec, encoded);
  }
}

/** Open sockets matching a target; a user or dialect is asked of the runtime by tag. */
export function matchingSockets(sockets: SocketRegistry, target: BroadcastTarget): OpenSocket[] {
  const tag =
    target.userId !== undefined
      ? `u:${target.userId}`.slice(0, 256)
      : target.dialect !== undefined
        ? `d:${target.dialect}`
        : undefined;
  return sockets
    .open(tag)
    .filter(
      ({ att }) =>
        att.id !== target.exclude &&
        (target.dialect === undefined || att.dialect === target.dialect) &&
        (target.userId === undefined || att.identity.userId === target.userId) &&
        (target.topic === undefined || att.topics.includes(target.topic)),
    );
}

/** Open SSE streams matching a target (a stream has no topics: a topic target never reaches one). */
export function matchingStreams(sse: SseHub, target: BroadcastTarget): SseStream[] {
  if (target.topic !== undefined) return [];
  return [...sse.all()].filter(
    (s) =>
      s.id !== target.exclude &&
      (target.dialect === undefined || s.dialect === target.dialect) &&
      (target.userId === undefined || s.identity.userId === target.userId),
  );
}

/** A frame built per connection for every socket and stream of a target; how many it reached. */
export function broadcast(
  host: FanOutHost & { sockets: SocketRegistry },
  build: (conn: Connection) => unknown | null,
  target: BroadcastTarget,
): number {
  let sent = 0;
  for (const { ws, att } of matchingSockets(host.sockets, target)) {
    const frame = build(host.socketConnection(ws, att));
    if (frame === null || frame === undefined) continue;
    const data = encodeFrame(att.codec, frame);
    if (!host.sendTo(ws, att, data)) continue;
    sent += 1;
  }
  for (const stream of matchingStreams(host.sse, target)) {
    const dialect = host.dialects[stream.dialect];
    if (!dialect) continue;
    const frame = build(host.sseConnection(stream));
    if (frame === null || frame === undefined) continue;
    const event = dialect.frameName(frame);
    if (stream.types.size && !stream.types.has(event)) continue;
    if (stream.write(formatSse({ event, data: frame }))) sent += 1;
  }
  return sent;
}
