import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { call, expectError, registerUser } from '../support/api';

describe('per-user limit on every authenticated route (500/min)', () => {
  it('counts per user: the 501st call in a minute is 429 with scope user, another user is unaffected', async () => {
    const alice = await registerUser();
    const bob = await registerUser();
    const ok = await call('/api/auth/logout', { token: bob.access_token });
    expect(ok.status).toBe(200);
    expect(ok.res.headers.get('X-RateLimit-Limit')).not.toBeNull();

    // Spend Alice's whole minute in her limiter object, as 500 calls would.
    const { id, limit, windowMs } = LIMITS.USER;
    const [spent] = await env.RATE_LIMITER.getByName(`user:default:${alice.user_id}`).hit([{ id, limit, windowMs }], limit);
    expect(spent?.allowed).toBe(true);

    const refused = await call('/api/auth/logout', { token: alice.access_token });
    expectError(refused, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused.body.details.scope).toBe('user');
    expect(refused.body.retry_after).toBeGreaterThanOrEqual(1);
    expect(refused.res.headers.get('Retry-After')).toBe(String(refused.body.retry_after));
    expect(refused.res.headers.get('X-RateLimit-Remaining')).toBe('0');

    const carol = await registerUser();
    expect((await call('/api/auth/logout', { token: carol.access_token })).status).toBe(200);
  });

  it('does not count requests without a valid token against a user', async () => {
    const r = await call('/api/auth/logout', { token: 'not-a-jwt' });
    expectError(r, 401, 'AUTHENTICATION_REQUIRED');
  });
});
