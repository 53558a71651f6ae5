import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { collabRoomKey } from '../../src/actors/keys';
import { issueAccessToken } from '../../src/auth/tokens';
import { createClient, roomsDialect, type WebSocketLike } from '../../src/client';
import { CLOSE } from '../../src/core/protocol';
import { call, nextIp, registerUser, type Session } from '../support/api';
import { freshRoom, openRoom } from '../support/rooms';
import { sleep } from '../support/sockets';

let alice: Session;
beforeAll(async () => {
  alice = await registerUser();
});

const shortToken = (ttlSeconds: number) =>
  issueAccessToken(env, { userId: alice.user_id, tenantId: 'default', role: 'player', username: alice.username }, { ttlSeconds });

const roomActor = (room: string) => env.ROOM.getByName(collabRoomKey('default', room));

describe('sessions end when their tokens do, on open connections', () => {
  it('closes a socket at exp with 4001 however busy it is: a frame after exp does not act, the sweep closes idle ones', async () => {
    const room = freshRoom('exp');
    const { token } = await shortToken(2);
    const busy = await openRoom(token, room);
    await busy.ok('room.join');
    const idle = await openRoom(token, room);
    await sleep(2_100);
    // The actor's own alarm (set for exp) may already have closed it; if not, this frame must not act.
    if (!busy.closed) {
      try {
        busy.ws.send(JSON.stringify({ type: 'request', id: 'late', method: 'chat.send', params: { text: 'after exp' } }));
      } catch {
        // closed meanwhile
      }
    }
    expect(await busy.waitClosed()).toEqual({ code: CLOSE.TOKEN_EXPIRED, reason: 'Access token expired' });
    await runDurableObjectAlarm(roomActor(room));
    expect(await idle.waitClosed()).toEqual({ code: CLOSE.TOKEN_EXPIRED, reason: 'Access token expired' });
    const state = await (await openRoom(alice.access_token, room)).ok('room.state');
    expect(JSON.stringify(state)).not.toContain('after exp');
  });

  it('keeps a socket that refreshed in-band with {"type":"auth","token"} before exp; refuses another user\'s token', async () => {
    const room = freshRoom('refresh');
    const { token } = await shortToken(2);
    const s = await openRoom(token, room);
    await s.ok('room.join');
    const bob = await registerUser();
    s.ws.send(JSON.stringify({ type: 'auth', token: bob.access_token }));
    expect((await s.waitFor((f) => f.type === 'error')).error.reason).toBe('AUTHORIZATION_FAILED');
    s.ws.send(JSON.stringify({ type: 'auth', token: alice.access_token }));
    const ok = await s.waitFor((f) => f.type === 'auth_ok');
    expect(ok.exp).toBeGreaterThan(Date.now() / 1000 + 60);
    await sleep(2_100);
    await runDurableObjectAlarm(roomActor(room));
    await s.ok('chat.send', { text: 'still mine' });
    s.close();
  });

  it("closes the session's sockets with 4003 after logout (the next sweep reads the revocation from D1)", async () => {
    const s = await registerUser();
    const room = freshRoom('logout');
    const socket = await openRoom(s.access_token, room);
    await socket.ok('room.join');
    const other = await openRoom(alice.access_token, room);
    expect((await call('/api/auth/logout', { token: s.access_token, body: {} })).status).toBe(200);
    await runDurableObjectAlarm(roomActor(room));
    expect(await socket.waitClosed()).toEqual({ code: CLOSE.SESSION_REVOKED, reason: 'Session revoked' });
    // Other sessions stay.
    await other.ok('room.state');
    other.close();
  });

  it('the SDK presents a fresh token on its open socket before exp by itself: the socket outlives its first token', async () => {
    const room = freshRoom('sdk-refresh');
    const { token: first, exp } = await shortToken(8);
    const handed: string[] = [];
    const closes: number[] = [];
    const client = createClient({
      url: `wss://edge.test/ws/rooms/${room}`,
      dialect: roomsDialect,
      // The first connection gets an 8 s token; the refresh asks again and gets a 15 min one.
      token: async () => {
        const next = handed.length === 0 ? first : alice.access_token;
        handed.push(next);
        return next;
      },
      openWebSocket: async (url) => {
        const res = await SELF.fetch(url.replace(/^ws/, 'http'), {
          headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() },
        });
        const ws = res.webSocket;
        if (!ws) throw new Error(`upgrade refused: ${res.status}`);
        ws.accept();
        ws.addEventListener('close', (e) => {
          closes.push(e.code);
        });
        return ws as unknown as WebSocketLike;
      },
      heartbeatInterval: 0,
    });
    const authOk = new Promise<unknown>((resolve) =>
      client.on('control', (c: { name: string; data: unknown; raw: unknown }) => {
        if (c.name === 'auth_ok') resolve(c.raw);
      }),
    );
    await client.connect();
    await client.request('room.join');
    // Refreshed in-band 2 s before exp (a quarter of a short lifetime, at most 60 s).
    expect(await authOk).toMatchObject({ type: 'auth_ok' });
    await sleep(exp * 1000 + 500 - Date.now());
    await runDurableObjectAlarm(roomActor(room));
    await client.request('chat.send', { text: 'after the first exp' });
    // One connection all along: the token source was asked twice (connect, refresh) and no socket closed.
    expect(handed).toEqual([first, alice.access_token]);
    expect(closes).toEqual([]);
    client.disconnect();
  });
});
