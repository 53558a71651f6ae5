import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { decompress } from 'lz4js';
import { expect } from 'vitest';
import { craftingKey, craftingQueueKey } from '../../src/actors/keys';
import { type Body, call, nextIp, registerUser, type Session, tenantAdmin, uniqueName, uniqueTenant } from '../support/api';
import type { Frame } from '../support/sockets';

/** Helpers for seed 002's crafting over the real Worker. */

export interface Crafters {
  tenant: string;
  admin: Session;
  alice: Session;
  bob: Session;
  service: string;
}

/** A fresh tenant with an admin, two players and a service token. */
export async function crafters(): Promise<Crafters> {
  const tenant = uniqueTenant();
  const admin = await tenantAdmin(tenant);
  const alice = await registerUser({ tenant });
  const bob = await registerUser({ tenant });
  const svc = await call('/api/admin/service-tokens', {
    token: admin.access_token,
    body: { name: uniqueName('svc').toLowerCase() },
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(201);
  return { tenant, admin, alice, bob, service: svc.body.token as string };
}

export const api = (
  path: string,
  token: string | undefined,
  opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) => call(path, { method: opts.method ?? 'GET', token, body: opts.body, headers: opts.headers });

export async function startSession(token: string, recipeId = 'iron_ingot', quantity = 1): Promise<Body> {
  const r = await api('/api/crafting/sessions', token, { method: 'POST', body: { recipeId, quantity } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

export const sessionStub = (tenant: string, sessionId: string) => env.CRAFTING.getByName(craftingKey(tenant, sessionId));
export const queueStub = (tenant: string, playerId: string) => env.CRAFTING_QUEUE.getByName(craftingQueueKey(tenant, playerId));

/** Moves the session's clock `ms` ahead and runs its alarm: stages advance as if that much time had passed. */
export async function advance(tenant: string, sessionId: string, ms: number): Promise<void> {
  const stub = sessionStub(tenant, sessionId);
  const offset = (await stub.configure({})).clockOffsetMs ?? 0;
  await stub.configure({ clockOffsetMs: offset + ms });
  await runDurableObjectAlarm(stub);
}

/**
 * A WebSocket on a crafting path, in arrival order: JSON text frames and LZ4-decoded JSON in `frames` (with
 * `lz4: true`), raw binary frames (sync packets) in `binary`.
 */
export class CraftSocket {
  readonly frames: Frame[] = [];
  readonly binary: Uint8Array[] = [];
  protocol: string | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(
    readonly ws: WebSocket,
    lz4: boolean,
  ) {
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string') this.frames.push(JSON.parse(e.data));
      else {
        const bytes = new Uint8Array(e.data as ArrayBuffer);
        if (lz4) this.frames.push({ ...JSON.parse(new TextDecoder().decode(decompress(bytes))), lz4: true });
        else this.binary.push(bytes);
      }
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || frame instanceof Uint8Array ? frame : JSON.stringify(frame));
  }

  close(): void {
    this.ws.close(1000);
  }

  async waitFor(match: (f: Frame) => boolean, ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed ${this.closed.code} ${this.closed.reason}`);
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(this.frames.slice(-5)).slice(0, 800)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The `n`th frame of `type` (1-based), waiting for it. */
  nth(type: string, n = 1, ms = 3000): Promise<Frame> {
    return this.waitFor((f) => f.type === type && this.frames.filter((g) => g.type === type).indexOf(f) === n - 1, ms);
  }

  async waitBinary(count: number, ms = 3000): Promise<Uint8Array[]> {
    const deadline = Date.now() + ms;
    while (this.binary.length < count) {
      if (this.closed) throw new Error(`socket closed ${this.closed.code} ${this.closed.reason}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} binary frames (have ${this.binary.length})`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.binary;
  }

  async waitClosed(ms = 3000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closed;
  }
}

export function upgrade(path: string, token: string | null, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://edge.test${path}`, {
    headers: {
      Upgrade: 'websocket',
      'CF-Connecting-IP': nextIp(),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
  });
}

/** A socket after its first frame (the JSON `connected` or `udp_connected`). */
export async function openCraftSocket(path: string, token: string, headers: Record<string, string> = {}): Promise<CraftSocket> {
  const res = await upgrade(path, token, headers);
  if (res.status !== 101) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket!.binaryType = 'arraybuffer';
  res.webSocket!.accept();
  const lz4 = (res.headers.get('sec-websocket-protocol') ?? '').endsWith('.lz4') || path.includes('compression=lz4');
  const s = new CraftSocket(res.webSocket!, lz4);
  s.protocol = res.headers.get('sec-websocket-protocol');
  await s.waitFor((f) => f.type === 'connected' || f.type === 'udp_connected');
  return s;
}
