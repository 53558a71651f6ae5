import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { collabRoomKey } from '../../src/actors/keys';
import { issueAccessToken } from '../../src/auth/tokens';
import { CLOSE } from '../../src/core/protocol';
import { call, registerUser, type Session } from '../support/api';
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
});
