import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { userLimiterKey } from '../../src/actors/keys';
import type { RateLimiter } from '../../src/actors/rate-limiter';
import { verifyAccessTokenClaims } from '../../src/auth/tokens';
import { revokeAccessTokenStatements } from '../../src/db/revocations';
import { expireUserLeases } from '../../src/http/middleware/rate-limit';
import { call, expectError, PASSWORD, registerUser } from '../support/api';

/** An authenticated GET that answers 200 to any player. */
const ME = '/api/players/me';

const limiterOf = (userId: number | string) => env.RATE_LIMITER.getByName(userLimiterKey('default', String(userId)));

/** When the user's limiter last read this token's revocation from D1 (undefined: never). */
const readAt = (userId: number, jti: string) =>
  runInDurableObject(limiterOf(userId), (instance: RateLimiter) => {
    const cache = (instance as unknown as { revocations: Map<string, { at: number }> }).revocations;
    return cache.get(jti)?.at;
  });

describe('the revocation check of a REST request is answered by the user limiter and its lease, not by D1 each time', () => {
  it('reads D1 once for a token, then answers from the cache; logout makes the next request 401 at once', async () => {
    const s = await registerUser();
    const { jti } = await verifyAccessTokenClaims(env, s.access_token);
    expect((await call(ME, { method: 'GET', token: s.access_token })).status).toBe(200);
    const first = await readAt(s.user_id, jti);
    expect(first).toBeTypeOf('number');
    expect((await call(ME, { method: 'GET', token: s.access_token })).status).toBe(200);
    expect(await readAt(s.user_id, jti)).toBe(first);
    expect((await call('/api/auth/logout', { token: s.access_token, body: {} })).status).toBe(200);
    expectError(await call(ME, { method: 'GET', token: s.access_token }), 401, 'AUTHENTICATION_REQUIRED');
  });

  it('a revocation whose message was lost shows once both caches let go: the lease (≤ 1 s), the limiter (≤ 10 s)', async () => {
    const s = await registerUser();
    const { jti, exp } = await verifyAccessTokenClaims(env, s.access_token);
    // Two requests: the second renews the isolate's lease with a hit to spare, and the lease holds the answer.
    for (let i = 0; i < 2; i++) expect((await call(ME, { method: 'GET', token: s.access_token })).status).toBe(200);
    // Revoked in D1 behind the limiter's back: the cached answers stand until they are forgotten or too old.
    const now = new Date().toISOString();
    await env.DB.batch(revokeAccessTokenStatements(env.DB, jti, s.user_id, new Date(exp * 1000).toISOString(), now));
    await limiterOf(s.user_id).forgetRevocations();
    // The isolate's lease ends as it would after its second (LEASE_MS), then the limiter reads D1 again.
    expireUserLeases('default', s.user_id);
    const refused = await call(ME, { method: 'GET', token: s.access_token });
    expectError(refused, 401, 'AUTHENTICATION_REQUIRED');
    expect(refused.body.details).toMatchObject({ reason: 'revoked' });
  });

  it('a role change and a refresh-token reuse reach the limiter too: the old access token is refused next', async () => {
    const s = await registerUser();
    expect((await call(ME, { method: 'GET', token: s.access_token })).status).toBe(200);
    expect((await call('/api/auth/refresh', { token: s.refresh_token })).status).toBe(200);
    expect((await call(ME, { method: 'GET', token: s.access_token })).status).toBe(200);
    // Reuse of the spent refresh token revokes the family, and with it this access token.
    expectError(await call('/api/auth/refresh', { token: s.refresh_token }), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await call(ME, { method: 'GET', token: s.access_token }), 401, 'AUTHENTICATION_REQUIRED');

    const t = await registerUser();
    const fresh = await call('/api/auth/login', { body: { username: t.username, password: PASSWORD } });
    expect((await call(ME, { method: 'GET', token: fresh.body.access_token })).status).toBe(200);
    const admin = await call('/api/auth/login', { body: { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD } });
    const change = await call(`/api/admin/users/${t.user_id}/role`, {
      method: 'PUT',
      token: admin.body.access_token,
      body: { role: 'admin' },
    });
    expect(change.status, JSON.stringify(change.body)).toBe(200);
    expectError(await call(ME, { method: 'GET', token: fresh.body.access_token }), 401, 'AUTHENTICATION_REQUIRED');
  });
});
