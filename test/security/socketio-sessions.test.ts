import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { issueAccessToken } from '../../src/auth/tokens';
import { call, registerUser } from '../support/api';
import { sleep } from '../support/sockets';

/** Seed 003's Socket.IO sessions: tickets at the handshake, token lifetime and in-band refresh on open sockets. */
const BASE = 'https://edge.test/socket.io/?EIO=4&transport=websocket';

class EngineSocket {
  private readonly frames: string[] = [];
  private readonly waiting: Array<(f: string) => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const f = String(e.data);
      // Engine.IO pings are answered as a client would, so only the token decides when the socket ends.
      if (f === '2') {
        ws.send('3');
        return;
      }
      const w = this.waiting.shift();
      if (w) w(f);
      else this.frames.push(f);
    });
  }

  next(ms: number): Promise<string> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no frame')), ms);
      this.waiting.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  async until(prefix: string, ms = 5_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f.startsWith(prefix)) return f;
    }
  }

  send(data: string): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close(1000, 'done');
  }
}

async function openWs(query = ''): Promise<EngineSocket> {
  const res = await SELF.fetch(`${BASE}${query}`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket as WebSocket;
  ws.accept();
  const s = new EngineSocket(ws);
  expect((await s.next(3_000))[0]).toBe('0');
  return s;
}

/** CONNECT with `auth`; the reply packet (`40{...}` or `44{...}`). */
async function connect(s: EngineSocket, auth: Record<string, unknown>): Promise<string> {
  s.send(`40${JSON.stringify(auth)}`);
  return s.until('4');
}

const ticketFor = async (token: string) => {
  const r = await call('/api/auth/ticket', { token, body: {} });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.ticket as string;
};

describe('Socket.IO sessions: tickets and token lifetime', () => {
  it('accepts a connection ticket in auth.ticket or ?ticket=, once', async () => {
    const alice = await registerUser();
    const ticket = await ticketFor(alice.access_token);
    const a = await openWs();
    expect(await connect(a, { ticket })).toMatch(/^40\{/);
    await a.until('42["connected"');
    // Single use: the same ticket again is refused in seed 003's words.
    const b = await openWs();
    const refused = await connect(b, { ticket });
    expect(refused.startsWith('44')).toBe(true);
    expect(JSON.parse(refused.slice(2)).data).toMatchObject({ code: 'AUTH_FAILED' });
    const c = await openWs(`&ticket=${await ticketFor(alice.access_token)}`);
    expect(await connect(c, {})).toMatch(/^40\{/);
    for (const s of [a, b, c]) s.close();
  });

  it('ends a socket at exp with an AUTH_FAILED error event and DISCONNECT, unless it refreshed with the auth event', async () => {
    const alice = await registerUser();
    const subject = { userId: alice.user_id, tenantId: 'default', role: 'player' as const, username: alice.username };
    const short = await issueAccessToken(env, subject, { ttlSeconds: 6 });
    const expiring = await openWs();
    expect(await connect(expiring, { token: short.token })).toMatch(/^40\{/);
    const refreshed = await openWs();
    expect(await connect(refreshed, { token: (await issueAccessToken(env, subject, { ttlSeconds: 6 })).token })).toMatch(/^40\{/);
    // Another user's token is refused in-band; the user's own fresh token is taken.
    const bob = await registerUser();
    refreshed.send(`421${JSON.stringify(['auth', { token: bob.access_token }])}`);
    expect(JSON.parse((await refreshed.until('431')).slice(3))[0]).toMatchObject({ code: 'AUTHZ_FAILED' });
    refreshed.send(`422${JSON.stringify(['auth', { token: alice.access_token }])}`);
    const ok = JSON.parse((await refreshed.until('432')).slice(3))[0];
    expect(ok.ok).toBe(true);
    expect(ok.exp).toBeGreaterThan(Date.now() / 1000 + 60);
    await sleep(short.exp * 1000 + 300 - Date.now());
    // The session check (the actor's alarm) ends the expired one by itself; a frame would too.
    const error = await expiring.until('42["error"', 15_000);
    expect(JSON.parse(error.slice(2))[1]).toEqual({ code: 'AUTH_FAILED', message: 'Access token expired' });
    expect(await expiring.until('41', 5_000)).toBe('41');
    // The refreshed one still acts.
    refreshed.send(`423${JSON.stringify(['ping'])}`);
    expect(await refreshed.until('433')).toBe('433[]');
    expiring.close();
    refreshed.close();
  });

  it('disconnects the sockets of a session that logged out within seconds (AUTH_FAILED "Session revoked")', async () => {
    const s = await registerUser();
    const other = await registerUser();
    const mine = await openWs();
    expect(await connect(mine, { token: s.access_token })).toMatch(/^40\{/);
    const theirs = await openWs();
    expect(await connect(theirs, { token: other.access_token })).toMatch(/^40\{/);
    expect((await call('/api/auth/logout', { token: s.access_token, body: {} })).status).toBe(200);
    const error = await mine.until('42["error"', 15_000);
    expect(JSON.parse(error.slice(2))[1]).toEqual({ code: 'AUTH_FAILED', message: 'Session revoked' });
    expect(await mine.until('41', 5_000)).toBe('41');
    theirs.send(`421${JSON.stringify(['ping'])}`);
    expect(await theirs.until('431')).toBe('431[]');
    mine.close();
    theirs.close();
  });
});
