import { type Attachment, type OpenSocket, readAttachment } from './attachment';
import type { DialectRuntime } from './dialect-runtime';
import { frameBytes, type Meter } from './metrics';

/** Longest a connection's per-frame bookkeeping (lastSeen, limiter state) stays only in memory. */
export const ATTACHMENT_PERSIST_MS = 5_000;

/**
 * The actor's WebSockets as this instance knows them: their attachments, which are open, which it is closing, and
 * the send path with its slow-consumer accounting. The serialized attachment is the truth across hibernation;
 * these caches spare the hot paths (every frame in, every event out to every socket) the runtime's copies.
 */
export class SocketRegistry {
  /** Sockets this instance closed itself; the runtime may still list them until the close completes. */
  readonly closing = new Set<string>();
  /** Attachments as this instance knows them (a structured-clone read spared per frame and per delivery). */
  private readonly attachments = new WeakMap<WebSocket, Attachment>();
  /** When each socket's attachment was last written, to persist per-frame bookkeeping lazily. */
  private readonly persistedAt = new WeakMap<WebSocket, number>();
  /**
   * Bytes sent to each socket since it last spoke (a frame, or a `ping` the runtime answered), and since when.
   * workerd buffers what a peer does not read without bound and exposes no `bufferedAmount` on the server side,
   * so this count is the only measure of a backlog the actor has.
   */
  private readonly unread = new WeakMap<WebSocket, { bytes: number; since: number }>();
  /**
   * The sockets this instance accepted or found open, with their attachments: a fan-out walks this instead of
   * asking the runtime for every socket (and each one's attachment) on every publish. Null until first needed after
   * a wake-up, then built once from `getWebSockets()`; sockets leave it when they close.
   */
  private live: Map<WebSocket, OpenSocket> | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly meter: Meter,
    private readonly runtimeOf: (dialect: string) => DialectRuntime,
    /** Closes a slow consumer (the actor's close, with its cleanup). */
    private readonly closeSlow: (ws: WebSocket, att: Attachment, limit: number) => void,
  ) {}

  attachmentOf(ws: WebSocket): Attachment | null {
    const cached = this.attachments.get(ws);
    if (cached) return cached;
    const att = readAttachment(ws);
    if (att) this.attachments.set(ws, att);
    return att;
  }

  save(ws: WebSocket, att: Attachment, now: number): void {
    ws.serializeAttachment(att);
    this.attachments.set(ws, att);
    this.persistedAt.set(ws, now);
  }

  /** True when the attachment's per-frame bookkeeping has stayed only in memory long enough to be written. */
  due(ws: WebSocket, now: number): boolean {
    return now - (this.persistedAt.get(ws) ?? 0) >= ATTACHMENT_PERSIST_MS;
  }

  accepted(ws: WebSocket, att: Attachment): void {
    this.live?.set(ws, { ws, att });
  }

  forget(ws: WebSocket): void {
    this.live?.delete(ws);
  }

  /** The peer spoke: what it had not read no longer counts against it. */
  spoke(ws: WebSocket): void {
    this.unread.delete(ws);
  }

  /**
   * Open sockets with their attachments, skipping those this instance is closing. All of them come from `live`;
   * those of one user or dialect (a tag) are asked of the runtime, which indexes them.
   */
  open(tag?: string): OpenSocket[] {
    const out: OpenSocket[] = [];
    if (tag === undefined) {
      for (const entry of this.liveSockets()) {
        if (entry.ws.readyState === 1) {
          if (!this.closing.has(entry.att.id)) out.push(entry);
        } else if (entry.ws.readyState === 3) this.live?.delete(entry.ws); // CLOSED without a close event here
      }
      return out;
    }
    for (const ws of this.ctx.getWebSockets(tag)) {
      if (ws.readyState !== 1) continue; // OPEN
      const att = this.attachmentOf(ws);
      if (!att || this.closing.has(att.id)) continue;
      out.push({ ws, att });
    }
    return out;
  }

  /**
   * Sends one encoded frame to a socket unless its peer is more than `maxUnreadBytes` behind: then the frame is
   * dropped and the socket closed with 4008 (after the current send loop, so no broadcast re-enters itself).
   * A `ping` the runtime answered since the count started counts as the peer speaking.
   */
  sendTo(ws: WebSocket, att: Attachment, data: string | Uint8Array, bytes?: number): boolean {
    if (this.closing.has(att.id)) return false;
    const size = typeof data === 'string' ? data.length : data.byteLength;
    let unread = this.unread.get(ws);
    if (!unread) {
      unread = { bytes: 0, since: Date.now() };
      this.unread.set(ws, unread);
    }
    const rt = this.runtimeOf(att.dialect);
    const limit = rt.limits.maxUnreadBytes;
    if (unread.bytes + size > limit) {
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      if (pinged >= unread.since) {
        unread.bytes = 0;
        unread.since = Date.now();
      } else {
        this.meter.inc('edgerooms_slow_consumers_total', { dialect: att.dialect });
        this.closing.add(att.id);
        queueMicrotask(() => {
          this.closing.delete(att.id);
          this.closeSlow(ws, att, limit);
        });
        return false;
      }
    }
    if (!sendEncoded(ws, data)) return false;
    unread.bytes += size;
    rt.framesOut.messages.value += 1;
    rt.framesOut.bytes.value += bytes ?? frameBytes(data);
    this.meter.dirty = true;
    return true;
  }

  private liveSockets(): Iterable<OpenSocket> {
    if (this.live === null) {
      this.live = new Map();
      for (const ws of this.ctx.getWebSockets()) {
        const att = this.attachmentOf(ws);
        if (att) this.live.set(ws, { ws, att });
      }
    }
    return this.live.values();
  }
}

function sendEncoded(ws: WebSocket, data: string | Uint8Array): boolean {
  try {
    ws.send(data);
    return true;
  } catch {
    return false;
  }
}

export function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed by the other side.
  }
}
