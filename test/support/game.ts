import { SELF } from 'cloudflare:test';
import { encode } from '@msgpack/msgpack';
import { expect } from 'vitest';
import { EdgeRoomsClient } from '../../src/client/client';
import { earthringDialect } from '../../src/client/dialects/earthring';
import { call, nextIp, registerUser, type Session } from './api';
import { type Frame, TestSocket } from './sockets';

/** Helpers for seed 000's game socket `/ws` over real upgrades through the Worker. */

/** A player of `tenant` standing at (x, y) on `floor`. */
export async function playerAt(tenant: string, x: number, floor = 0, y = 0): Promise<Session> {
  const s = await registerUser({ tenant });
  const r = await call(`/api/players/${s.user_id}/position`, {
    method: 'PUT',
    token: s.access_token,
    body: { position: { x, y }, floor },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return s;
}

export function upgradeGame(query: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://edge.test/ws${query}`, {
    headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp(), ...headers },
  });
}

let requestCounter = 0;

/** A TestSocket speaking seed 000's `{type, id, data}`; resync frames are flattened into `events()`. */
export class GameSocket extends TestSocket {
  connected: Frame | null = null;
  binaryOut = false;

  override send(frame: unknown): void {
    if (this.binaryOut) this.ws.send(encode(frame));
    else super.send(frame);
  }

  /** Sends a frame with a fresh id and resolves to the frame answering it (any type carrying that id). */
  async request(type: string, data?: unknown, ms = 4000): Promise<Frame> {
    const id = `q${++requestCounter}`;
    this.send({ type, id, ...(data === undefined ? {} : { data }) });
    return this.waitFor((f) => f.id === id, ms);
  }

  async waitFor(match: (f: Frame) => boolean, ms = 4000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed ${this.closed.code} ${this.closed.reason}`);
      if (Date.now() > deadline)
        throw new Error(`timed out; last frames: ${JSON.stringify(this.frames.slice(-4)).slice(0, 900)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Logged events received, live, inside a resync frame or inside a tick's `players_moved` (one `player_moved`
   * each, with its sequence), in arrival order.
   */
  events(type?: string): Frame[] {
    const out: Frame[] = [];
    for (const f of this.frames) {
      if (f.type === 'resync') out.push(...(f.data.events as Frame[]));
      else if (f.type === 'players_moved') out.push(...unpackMoves(f));
      else if (f.eventId !== undefined) out.push(f);
    }
    return type === undefined ? out : out.filter((e) => e.type === type);
  }

  event(type: string, where: (data: Frame) => boolean = () => true, ms = 4000): Promise<Frame> {
    const deadline = Date.now() + ms;
    return (async () => {
      for (;;) {
        const found = this.events(type).find((e) => where(e.data));
        if (found) return found;
        if (Date.now() > deadline)
          throw new Error(`no ${type} event; frames: ${JSON.stringify(this.frames.slice(-4)).slice(0, 900)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** A `players_moved` frame as the `player_moved` events it carries (`eventId` rebuilt from epoch and sequence). */
export function unpackMoves(f: Frame): Frame[] {
  return (f.data.moves as Frame[]).map(({ sequence, ...data }) => ({
    type: 'player_moved',
    data,
    sequence,
    eventId: `e${f.data.epoch}-${sequence}`,
  }));
}

/** A game socket after its `connected` frame; `query` without the token. */
export async function openGame(
  token: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<{ socket: GameSocket; res: Response }> {
  const res = await upgradeGame(`?token=${token}${query}`, headers);
  expect(res.status, res.status === 101 ? '' : await res.text()).toBe(101);
  res.webSocket!.accept();
  const socket = new GameSocket(res.webSocket!);
  const first = await socket.next();
  expect(first.type).toBe('connected');
  socket.connected = first;
  return { socket, res };
}

/** A small closed square polygon around (x, y). */
export const square = (x: number, y: number, half = 20) => ({
  type: 'Polygon',
  coordinates: [
    [
      [x - half, y - half],
      [x + half, y - half],
      [x + half, y + half],
      [x - half, y + half],
      [x - half, y - half],
    ],
  ],
});

/**
 * The client SDK on the game socket (MessagePack offered after JSON, no heartbeat, quick reconnects), each upgrade
 * made through the Worker; `urls` lists every URL it opened, hand-offs included.
 */
export function gameClient(token: string, url = 'wss://edge.test/ws'): { client: EdgeRoomsClient; urls: string[] } {
  const urls: string[] = [];
  const client = new EdgeRoomsClient({
    url,
    dialect: earthringDialect,
    token,
    protocols: ['earthring-v1', 'earthring-v2'],
    codec: 'msgpack',
    heartbeatInterval: 0,
    reconnect: { base: 20, cap: 100 },
    openWebSocket: async (opened, protocols) => {
      urls.push(opened);
      const res = await upgradeGame(
        `?${opened.split('?')[1]}`,
        protocols ? { 'Sec-WebSocket-Protocol': protocols.join(', ') } : {},
      );
      if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade refused: ${res.status}`);
      res.webSocket.accept();
      return res.webSocket;
    },
  });
  return { client, urls };
}
