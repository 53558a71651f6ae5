import { describe, expect, it } from 'vitest';
import { REFRESH_LEAD_SECONDS, refreshDelayMs, tokenTimes } from '../../src/client/token-refresh';

const b64url = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.sig`;

describe('when the SDK refreshes a token in-band', () => {
  it('a 15 min token is replaced 60 s before exp; a short one a quarter of its lifetime before', () => {
    const now = 1_000_000_000_000;
    const iat = now / 1000;
    expect(refreshDelayMs(jwt({ iat, exp: iat + 900 }), now)).toBe((900 - REFRESH_LEAD_SECONDS) * 1000);
    expect(refreshDelayMs(jwt({ iat, exp: iat + 8 }), now)).toBe(6_000);
    // Already past its refresh point: at once.
    expect(refreshDelayMs(jwt({ iat: iat - 900, exp: iat + 10 }), now)).toBe(0);
  });

  it('a token without exp, or not a JWT, is never scheduled', () => {
    expect(tokenTimes(jwt({ sub: '1' }))).toBeNull();
    expect(refreshDelayMs('not-a-jwt')).toBeNull();
    expect(refreshDelayMs('a.%%%.c')).toBeNull();
    expect(refreshDelayMs('')).toBeNull();
  });
});
