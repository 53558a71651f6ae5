import { decode } from '@msgpack/msgpack';
import type { ActorIdentity } from '../../src/core/dialect';
import { forwardRequest } from '../../src/core/forward';

/**
 * Talking to an actor directly, as the Worker would after its checks: a real WebSocket (`TestSocket`), an SSE
 * reader, forwarded identities, and a fresh tenant (so a fresh actor and log) per test.
 */

// biome-ignore lint/suspicious/noExplicitAny: test frames are read field by field in assertions
export type Frame = Record<string, any>;

/** A test client over a real WebSocket: frames in arrival order, awaited one by one. */
export class TestSocket {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    // Binary frames may arrive as Blobs: decoding goes through one chain so frames keep their order.
    let chain = Promise.resolve();
    ws.addEventListener('message', (e) => {
      const data = e.data as string | ArrayBuffer | Blob;
      chain = chain.then(async () => {
        if (typeof data === 'string') this.frames.push(JSON.parse(data));
        else {
          const buf = data instanceof Blob ? await data.arrayBuffer() : data;
          this.frames.push({ ...(decode(new Uint8Array(buf)) as Frame), binary: true });
        }
        this.wake?.();
      });
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake?.();
    });
  }

  /** The next frame not yet taken, waiting up to `ms`. */
  async next(ms = 2000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.cursor >= this.frames.length) {
      if (this.closed) throw new Error(`socket closed ${this.closed.code} ${this.closed.reason}`);
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    return this.frames[this.cursor++]!;
  }

  /** Skips frames until one of `type` arrives. */
  async nextOf(type: string, ms = 2000): Promise<Frame> {
    for (;;) {
      const f = await this.next(ms);
      if (f.type === type) return f;
    }
  }

  async waitClosed(ms = 2000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }
}

export async function openActorSocket(
  stub: DurableObjectStub,
  identity: ActorIdentity,
  query = '',
  dialect = 'orchestrator',
): Promise<TestSocket> {
  const req = forwardRequest(
    new Request(`https://edge.test/ws/orchestrator?${query}`, { headers: { Upgrade: 'websocket' } }),
    identity,
    dialect,
  );
  const res = await stub.fetch(req);
  if (!res.webSocket) throw new Error(`no upgrade: ${res.status}`);
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

export const player = (userId: string, tenantId = 'default'): ActorIdentity => ({
  userId,
  tenantId,
  role: 'player',
  username: `user${userId}`,
});
export const service = (tenantId = 'default'): ActorIdentity => ({ userId: 'svc', tenantId, role: 'service', username: 'svc' });

let counter = 0;
/** A fresh tenant per test, so each test gets its own orchestrator actor (`<tenant>:orchestrator`) and log. */
export const freshTenant = (): string => `t${Date.now().toString(36)}${(counter++).toString(36)}`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an SSE body message by message (comments skipped). */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private buffer = '';
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  private readonly decoder = new TextDecoder();

  constructor(res: Response) {
    if (!res.body) throw new Error('no body');
    this.reader = res.body.getReader();
  }

  async next(ms = 2000): Promise<SseMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const msg: SseMessage = { data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(': ');
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? '' : line.slice(i + 2);
          if (field === 'id') msg.id = value;
          else if (field === 'event') msg.event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length === 0 && msg.event === undefined) continue; // comment or retry-only block
        msg.data = data.join('\n');
        return msg;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for an SSE message');
      // A read left pending by a timeout is kept, so no chunk is ever dropped.
      this.pending ??= this.reader.read();
      const chunk = await Promise.race([this.pending, new Promise<null>((r) => setTimeout(() => r(null), left))]);
      if (chunk === null) continue;
      this.pending = null;
      if (chunk.done) throw new Error('SSE stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

export async function openActorSse(
  stub: DurableObjectStub,
  identity: ActorIdentity,
  query = '',
  lastEventId?: string,
): Promise<SseReader> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  const res = await stub.fetch(
    forwardRequest(new Request(`https://edge.test/sse/orchestrator?${query}`, { headers }), identity, 'orchestrator'),
  );
  if (res.status !== 200) throw new Error(`SSE status ${res.status}`);
  return new SseReader(res);
}
