import { SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { nextIp } from './api';
import { type Frame, TestSocket } from './sockets';

/** Helpers for seed 001's collaboration rooms over real upgrades through the Worker. */

let roomCounter = 0;
/** A room id no other test uses (each test gets its own Room actor and log). */
export const freshRoom = (prefix = 'room'): string => `${prefix}-${Date.now().toString(36)}-${(roomCounter++).toString(36)}`;

export function upgradeRoom(roomId: string, query: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://edge.test/ws/rooms/${roomId}${query}`, {
    headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp(), ...headers },
  });
}

/** A socket of `token` in `roomId`, after its `connected` frame. */
export async function openRoom(token: string, roomId: string, query = ''): Promise<RoomSocket> {
  const res = await upgradeRoom(roomId, `?token=${token}${query}`);
  expect(res.status).toBe(101);
  res.webSocket!.accept();
  const s = new RoomSocket(res.webSocket!);
  const first = await s.next();
  expect(first).toMatchObject({ type: 'event', method: 'connected' });
  s.connected = first;
  return s;
}

let requestCounter = 0;

/** A TestSocket that speaks seed 001's request envelope and finds frames anywhere in what it received. */
export class RoomSocket extends TestSocket {
  connected: Frame | null = null;

  /** Sends a request and resolves to its response or error frame (events in between stay in `frames`). */
  async request(method: string, params?: unknown, ms = 3000): Promise<Frame> {
    const id = `q${++requestCounter}`;
    this.send({ type: 'request', id, method, ...(params === undefined ? {} : { params }) });
    return this.waitFor((f) => (f.type === 'response' || f.type === 'error') && f.id === id, ms);
  }

  /** A request that must succeed: its `data`. */
  async ok(method: string, params?: unknown): Promise<Frame> {
    const f = await this.request(method, params);
    expect(f.type, JSON.stringify(f)).toBe('response');
    return f.data;
  }

  /** The first frame received so far or within `ms` that matches (from the very first frame). */
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

  /** The first event `method` (optionally matching `where`). */
  event(method: string, where: (data: Frame) => boolean = () => true, ms = 3000): Promise<Frame> {
    return this.waitFor((f) => f.type === 'event' && f.method === method && where(f.data), ms);
  }

  events(method: string): Frame[] {
    return this.frames.filter((f) => f.type === 'event' && f.method === method);
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** Expects a seed 001 error frame with the numeric code and the string reason. */
export function expectErrorFrame(f: Frame, code: number, reason: string): void {
  expect(f.type, JSON.stringify(f)).toBe('error');
  expect(f.error.code).toBe(code);
  expect(f.error.reason).toBe(reason);
  expect(typeof f.error.message).toBe('string');
  expect(typeof f.timestamp).toBe('number');
}
