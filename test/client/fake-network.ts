import { decode as msgpackDecode } from '@msgpack/msgpack';
import { vi } from 'vitest';
import type { FetchLike, SocketEventLike, WebSocketLike } from '../../src/client';

/**
 * A test double of the network peer: sockets and HTTP answers the test drives by hand, injected through the
 * client's `openWebSocket` and `fetch` options. It stands in for the server only; the client under test is real.
 */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  binaryType = 'blob';
  /** Frames the client sent, decoded. */
  readonly sent: unknown[] = [];
  closedByClient = false;
  readonly #listeners = new Map<string, Array<(event: SocketEventLike) => void>>();

  constructor(readonly url: string) {}

  get params(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  addEventListener(type: string, listener: (event: SocketEventLike) => void): void {
    const list = this.#listeners.get(type) ?? [];
    list.push(listener);
    this.#listeners.set(type, list);
  }

  send(data: string | ArrayBuffer | Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(
      typeof data === 'string' ? JSON.parse(data) : msgpackDecode(data instanceof Uint8Array ? data : new Uint8Array(data)),
    );
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.closedByClient = true;
    this.readyState = 3;
    queueMicrotask(() => this.#dispatch('close', { code, reason }));
  }

  // ---- the server's side ----

  open(): void {
    this.readyState = 1;
    this.#dispatch('open', {});
  }

  /** The upgrade fails (what a browser reports: error, then close 1006). */
  fail(): void {
    this.readyState = 3;
    this.#dispatch('error', { message: 'upgrade failed' });
    this.#dispatch('close', { code: 1006, reason: '' });
  }

  push(frame: unknown): void {
    this.#dispatch('message', { data: JSON.stringify(frame) });
  }

  pushBinary(bytes: Uint8Array): void {
    this.#dispatch('message', { data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.#dispatch('close', { code, reason });
  }

  #dispatch(type: string, event: SocketEventLike): void {
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }
}

export interface FakeRequest {
  url: URL;
  method: string;
  headers: Headers;
  body: string | null;
  signal: AbortSignal | undefined;
}

/** An SSE response body the test writes into. */
export class SseBody {
  readonly #encoder = new TextEncoder();
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  readonly stream = new ReadableStream<Uint8Array>({
    start: (c) => {
      this.#controller = c;
    },
  });

  write(text: string): void {
    this.#controller.enqueue(this.#encoder.encode(text));
  }

  event(frame: unknown, id?: string, type?: string): void {
    this.write(`${id ? `id: ${id}\n` : ''}${type ? `event: ${type}\n` : ''}data: ${JSON.stringify(frame)}\n\n`);
  }

  end(): void {
    this.#controller.close();
  }

  response(): Response {
    return new Response(this.stream, { headers: { 'content-type': 'text/event-stream' } });
  }
}

export class FakeNetwork {
  readonly sockets: FakeSocket[] = [];
  readonly requests: FakeRequest[] = [];
  /** Answers HTTP requests; by default every request hangs until aborted (a long poll with nothing new). */
  http: (req: FakeRequest) => Response | Promise<Response> | undefined = () => undefined;

  readonly openWebSocket = (url: string): WebSocketLike => {
    const socket = new FakeSocket(url);
    this.sockets.push(socket);
    return socket;
  };

  readonly fetch: FetchLike = async (input, init) => {
    const req: FakeRequest = {
      url: new URL(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : null,
      signal: init?.signal ?? undefined,
    };
    this.requests.push(req);
    const answer = await this.http(req);
    if (answer) return answer;
    return new Promise<Response>((_resolve, reject) => {
      req.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    });
  };

  get lastSocket(): FakeSocket {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error('no socket opened');
    return socket;
  }

  requestsTo(path: string): FakeRequest[] {
    return this.requests.filter((r) => r.url.pathname === path);
  }
}

/**
 * Advances fake time by `ms`, then lets promise chains and the zero-delay timers they start run out. Reading a
 * Response body in workerd takes real event-loop turns, not just microtasks: `scheduler.wait` is workerd's own
 * timer, untouched by the fake ones, so it yields those turns.
 */
export async function flush(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  for (let i = 0; i < 10; i++) {
    await scheduler.wait(0);
    await vi.advanceTimersByTimeAsync(0);
  }
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** Flushes until `predicate` holds (fake time does not move); fails loudly instead of hanging. */
export async function until(predicate: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (predicate()) return;
    await flush();
  }
  throw new Error('condition not reached');
}
