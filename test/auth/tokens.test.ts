import { env } from 'cloudflare:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { issueAccessToken, tokenFromRequest, verifyAccessToken } from '../../src/auth/tokens';
import { ApiError } from '../../src/errors';

const key = new TextEncoder().encode(env.JWT_SECRET);
const subject = { userId: 42, tenantId: 'acme', role: 'player' as const, username: 'alice', sessionId: 'fam-1' };

/** Signs arbitrary claims the way an attacker or a misconfigured issuer would. */
function forge(claims: Record<string, unknown>, opts: { iss?: string; aud?: string; exp?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ userId: '42', tenantId: 'acme', role: 'player', username: 'alice', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('42')
    .setIssuer(opts.iss ?? env.JWT_ISSUER)
    .setAudience(opts.aud ?? env.JWT_AUDIENCE)
    .setIssuedAt(now - 60)
    .setExpirationTime(opts.exp ?? now + 600)
    .setJti(crypto.randomUUID())
    .sign(key);
}

async function rejection(token: string): Promise<ApiError> {
  const err = await verifyAccessToken(env, token).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code).toBe('AUTHENTICATION_REQUIRED');
  return err as ApiError;
}

describe('access tokens', () => {
  it('issues a token that verifies to the same identity with every claim', async () => {
    const issued = await issueAccessToken(env, subject);
    const id = await verifyAccessToken(env, issued.token);
    expect(id).toMatchObject({ userId: '42', tenantId: 'acme', role: 'player', username: 'alice', sessionId: 'fam-1' });
    expect(id.jti).toBe(issued.jti);
    const [, body] = issued.token.split('.');
    const claims = JSON.parse(atob((body ?? '').replace(/-/g, '+').replace(/_/g, '/')));
    expect(claims).toMatchObject({ sub: '42', userId: '42', iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE, sid: 'fam-1' });
    expect(claims.exp - claims.iat).toBe(15 * 60);
    expect(issued.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('refuses an expired token, saying so', async () => {
    const token = await forge({}, { exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await rejection(token)).message).toMatch(/expired/);
  });

  it('refuses a tampered signature', async () => {
    const token = (await issueAccessToken(env, subject)).token;
    const [h, p, s = ''] = token.split('.');
    const flipped = `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`;
    expect((await rejection(`${h}.${p}.${flipped}`)).message).toMatch(/signature/);
  });

  it('refuses a tampered payload under the original signature', async () => {
    const token = (await issueAccessToken(env, subject)).token;
    const [h, , s] = token.split('.');
    const payload = btoa(JSON.stringify({ sub: '1', role: 'admin' })).replace(/=+$/, '');
    expect((await rejection(`${h}.${payload}.${s}`)).message).toMatch(/signature|malformed/);
  });

  it('refuses alg:none and other algorithms', async () => {
    const none = new UnsecuredJWT({ userId: '42', tenantId: 'acme', role: 'admin', username: 'x' })
      .setSubject('42')
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('j')
      .encode();
    expect((await rejection(none)).message).toMatch(/algorithm|malformed/);
    const hs512 = await new SignJWT({ userId: '42', tenantId: 'acme', role: 'admin', username: 'x' })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('42')
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('j')
      .sign(key);
    expect((await rejection(hs512)).message).toMatch(/algorithm/);
  });

  it('refuses a wrong issuer and a wrong audience', async () => {
    expect((await rejection(await forge({}, { iss: 'someone-else' }))).message).toMatch(/"iss"/);
    expect((await rejection(await forge({}, { aud: 'someone-else' }))).message).toMatch(/"aud"/);
  });

  it('refuses garbage, a non-numeric sub and an unknown role', async () => {
    expect((await rejection('not-a-jwt')).message).toMatch(/malformed/);
    expect((await rejection('a.b.c')).message).toMatch(/malformed/);
    expect((await rejection(await forge({ role: 'superuser' }))).message).toMatch(/role/);
    expect((await rejection(await forge({ tenantId: undefined }))).message).toMatch(/tenantId/);
  });
});

describe('tokenFromRequest', () => {
  it('reads the Bearer header first, then ?token=', () => {
    const both = new Request('https://x.test/ws?token=q', { headers: { Authorization: 'Bearer h.e.ader' } });
    expect(tokenFromRequest(both)).toBe('h.e.ader');
    expect(tokenFromRequest(new Request('https://x.test/ws?token=q.u.ery'))).toBe('q.u.ery');
    expect(tokenFromRequest(new Request('https://x.test/ws', { headers: { authorization: 'bearer  abc ' } }))).toBe('abc');
  });

  it('is null without a token or with a non-Bearer scheme', () => {
    expect(tokenFromRequest(new Request('https://x.test/ws'))).toBeNull();
    expect(tokenFromRequest(new Request('https://x.test/ws?token='))).toBeNull();
    expect(tokenFromRequest(new Request('https://x.test/ws', { headers: { Authorization: 'Basic dXNlcjpwYXNz' } }))).toBeNull();
  });
});
