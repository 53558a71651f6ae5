import type { ActorIdentity } from './dialect';

/**
 * Server-Sent Events served by the actor. Every event is appended to the log before it is written to any
 * stream, so a stream that ends (eviction, restart, network) loses nothing: the browser reconnects with
 * `Last-Event-ID` and the actor replays from its log.
 */

/** Comment line sent this often so proxies keep the stream open. */
export const SSE_KEEPALIVE_MS = 15_000;
/** Reconnect delay the browser's EventSource should use. */
export const SSE_RETRY_MS = 1_000;

const encoder = new TextEncoder();

/** Pure: one SSE message. Multi-line data is split into several `data:` lines as the format requires. */
export function formatSse(message: { event?: string; id?: string; data: unknown; retry?: number }): string {
  let out = '';
  if (message.retry !== undefined) out += `retry: ${message.retry}\n`;
  if (message.id !== undefined) out += `id: ${message.id.replace(/[\r\n]/g, '')}\n`;
  if (message.event !== undefined) out += `event: ${message.event.replace(/[\r\n]/g, '')}\n`;
  const text = typeof message.data === 'string' ? message.data : JSON.stringify(message.data);
  for (const line of text.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

export const sseComment = (text: string): string => `: ${text.replace(/[\r\n]/g, ' ')}\n\n`;

/** The resume point of an SSE request: the `Last-Event-ID` header wins over `?lastEventId=`. */
export function sseResumeId(request: Request): string | undefined {
  const url = new URL(request.url);
  return request.headers.get('last-event-id') ?? url.searchParams.get('lastEventId') ?? undefined;
}

/** `?types=a,b`: the event types a stream wants (empty = all). */
export function parseTypes(value: string | null): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0 && t.length <= 64)
    .slice(0, 50);
}

export interface SseStream {
  id: string;
  identity: ActorIdentity;
  dialect: string;
  types: ReadonlySet<string>;
  connectedAt: number;
  /** The connection state a dialect or actor keeps on this stream (in memory, like the stream). */
  state: unknown;
  write(text: string): boolean;
  /** Ends the stream from the server side. */
  end(): void;
}

/** The open SSE streams of one actor and their keepalive. Streams are in memory: they end when the actor does. */
export class SseHub {
  private readonly streams = new Map<string, SseStream>();
  private readonly pending = new Map<string, ReadableStream<Uint8Array>>();
  private keepalive: ReturnType<typeof setInterval> | undefined;

  get size(): number {
    return this.streams.size;
  }

  all(): IterableIterator<SseStream> {
    return this.streams.values();
  }

  get(id: string): SseStream | undefined {
    return this.streams.get(id);
  }

  /**
   * A stream that is not open yet: the connect hook and the first frame are built on it (its state included)
   * before `open` registers it, so no live event can be written ahead of them.
   */
  prepare(meta: { id: string; identity: ActorIdentity; dialect: string; types: string[] }): SseStream {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => {
        this.close(meta.id);
      },
    });
    const stream: SseStream = {
      id: meta.id,
      identity: meta.identity,
      dialect: meta.dialect,
      types: new Set(meta.types),
      connectedAt: Date.now(),
      state: null,
      write: (text) => {
        try {
          controller.enqueue(encoder.encode(text));
          return true;
        } catch {
          this.close(meta.id);
          return false;
        }
      },
      end: () => {
        this.close(meta.id);
        try {
          controller.close();
        } catch {
          // already closed or cancelled by the client
        }
      },
    };
    this.pending.set(meta.id, body);
    return stream;
  }

  /** Opens a prepared stream; `first` (retry, connected, replay) is enqueued before any live event can be. */
  open(stream: SseStream, first: string): Response {
    const body = this.pending.get(stream.id);
    if (!body) throw new Error(`SSE stream ${stream.id} was not prepared`);
    this.pending.delete(stream.id);
    this.streams.set(stream.id, stream);
    stream.write(first);
    this.keepalive ??= setInterval(() => this.broadcastRaw(sseComment('keepalive')), SSE_KEEPALIVE_MS);
    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      },
    });
  }

  /** Forgets a prepared stream that will not be opened (its connect hook failed). */
  discard(id: string): void {
    this.pending.delete(id);
  }

  broadcastRaw(text: string): void {
    for (const s of this.streams.values()) s.write(text);
  }

  close(id: string): void {
    this.streams.delete(id);
    if (this.streams.size === 0 && this.keepalive !== undefined) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
  }
}
