import { decode } from '@msgpack/msgpack';
import type { ActorIdentity } from '../../src/core/dialect';
import { forwardRequest } from '../../src/core/forward';

// biome-ignore lint/suspicious/noExplicitAny: test frames are read field by field in assertions
export type Frame = Record<string, any>;

/** A test client over a real WebSocket: frames in arrival order, awaited one by one. */
export class TestSocket {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const data = e.data;
      this.frames.push(typeof data === 'string' ? JSON.parse(data) : (decode(new Uint8Array(data as ArrayBuffer)) as Frame));
      this.wake?.();
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
