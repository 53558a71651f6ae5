import { env } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, expectError, registerUser, type Session } from '../support/api';
import { expectErrorFrame, freshRoom, openRoom } from '../support/rooms';

const key = new TextEncoder().encode(env.JWT_SECRET);

let alice: Session;
beforeAll(async () => {
  alice = await registerUser();
});

/** A token for alice signed with the real secret: what someone holding the secret, or a bug, could mint. */
async function signed(opts: { iat: number; exp: number; nbf?: number; alg?: string; iss?: string; aud?: string }) {
  const jwt = new SignJWT({ userId: String(alice.user_id), tenantId: 'default', role: 'player', username: alice.username })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setSubject(String(alice.user_id))
    .setIssuer(opts.iss ?? env.JWT_ISSUER)
    .setAudience(opts.aud ?? env.JWT_AUDIENCE)
    .setIssuedAt(opts.iat)
    .setExpirationTime(opts.exp)
    .setJti(crypto.randomUUID());
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key);
}

const me = (token: string) => call('/api/players/me', { method: 'GET', token });

describe('JWT attacks over HTTP', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts a token shaped like the ones issued (the control)', async () => {
    expect((await me(await signed({ iat: now() - 10, exp: now() + 600 }))).status).toBe(200);
  });

  it('refuses a token with a 10-year exp signed with the secret: no lifetime longer than issued', async () => {
    const r = await me(await signed({ iat: now() - 10, exp: now() + 10 * 365 * 86_400 }));
    expectError(r, 401, 'AUTHENTICATION_REQUIRED');
    expect(r.body.details.reason).toBe('too_old');
  });

  it('refuses an iat in the future, an expired token, a not-yet-valid one, other algorithms, wrong iss/aud', async () => {
    const t = now();
    const cases = [
      await signed({ iat: t + 3_600, exp: t + 3_900 }),
      await signed({ iat: t - 1_000, exp: t - 100 }),
      await signed({ iat: t - 10, exp: t + 600, nbf: t + 300 }),
      await signed({ iat: t - 10, exp: t + 600, alg: 'HS512' }),
      await signed({ iat: t - 10, exp: t + 600, iss: 'evil' }),
      await signed({ iat: t - 10, exp: t + 600, aud: 'evil' }),
    ];
    for (const token of cases) expectError(await me(token), 401, 'AUTHENTICATION_REQUIRED');
  });

  it('refuses a token after logout', async () => {
    const s = await registerUser();
    expect((await me(s.access_token)).status).toBe(200);
    expect((await call('/api/auth/logout', { token: s.access_token, body: {} })).status).toBeLessThan(300);
    expectError(await me(s.access_token), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('per-user budgets in an actor are not reset by a reconnect or by HTTP frames', () => {
  it('counts 100 room requests a minute per user across two sockets and HTTP-sent frames', async () => {
    const room = freshRoom('budget');
    const first = await openRoom(alice.access_token, room);
    await first.ok('room.join');
    for (let i = 0; i < 59; i++) await first.ok('room.state');
    first.close();
    // A reconnect does not hand out a new budget: 40 more are admitted, then the 101st is refused.
    const second = await openRoom(alice.access_token, room);
    for (let i = 0; i < 30; i++) await second.ok('room.state');
    for (let i = 0; i < 10; i++) {
      const sent = await call(`/api/rooms/${room}/messages`, {
        token: alice.access_token,
        body: { type: 'request', id: `h${i}`, method: 'room.state' },
      });
      expect(sent.status).toBe(200);
      expect(sent.body[0]?.type, JSON.stringify(sent.body)).toBe('response');
    }
    expectErrorFrame(await second.request('room.state'), 429, 'RATE_LIMIT_EXCEEDED');
    const http = await call(`/api/rooms/${room}/messages`, {
      token: alice.access_token,
      body: { type: 'request', id: 'over', method: 'room.state' },
    });
    expectErrorFrame(http.body[0], 429, 'RATE_LIMIT_EXCEEDED');
    second.close();
  });
});
