import { env } from 'cloudflare:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyAccessToken } from '../../src/auth/tokens';
import { call, expectError, PASSWORD, registerUser, uniqueName, uniqueTenant } from '../support/api';

const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('POST /api/auth/register', () => {
  it("answers seed 000's fields and creates the player profile", async () => {
    const username = uniqueName('reg');
    const r = await call('/api/auth/register', { body: { username, email: 'player@example.com', password: PASSWORD } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(
      ['access_token', 'expires_at', 'refresh_token', 'role', 'user_id', 'username'].sort(),
    );
    expect(r.body).toMatchObject({ username, role: 'player' });
    expect(typeof r.body.user_id).toBe('number');
    expect(r.body.expires_at).toMatch(ISO_SECONDS);
    const ttl = Date.parse(r.body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000);
    expect(r.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const id = await verifyAccessToken(env, r.body.access_token);
    expect(id).toMatchObject({ userId: String(r.body.user_id), tenantId: 'default', role: 'player', username });

    const player = await env.DB.prepare('SELECT * FROM players WHERE user_id = ?1').bind(r.body.user_id).first();
    expect(player).toMatchObject({
      tenant_id: 'default',
      username,
      level: 1,
      experience_points: 0,
      currency_amount: 0,
      current_position_x: 0,
      current_position_y: 0,
      current_floor: 0,
    });
    expect(player?.created_at).toBeTruthy();
    expect(player?.last_login).toBeTruthy();
  });

  it('stores the password as PBKDF2 with its parameters, and the refresh token only hashed', async () => {
    const s = await registerUser();
    const row = await env.DB.prepare('SELECT * FROM users WHERE id = ?1').bind(s.user_id).first();
    expect(row).toMatchObject({ password_algorithm: 'pbkdf2-sha256', password_iterations: 100_000 });
    expect(String(row?.password_hash)).not.toContain(PASSWORD);
    const tokens = await env.DB.prepare('SELECT token_hash FROM refresh_tokens WHERE user_id = ?1').bind(s.user_id).all();
    expect(tokens.results).toHaveLength(1);
    expect(tokens.results[0]?.token_hash).not.toBe(s.refresh_token);
  });

  it('refuses a duplicate username in the same tenant (also case-insensitively) with 409', async () => {
    const s = await registerUser();
    expectError(await call('/api/auth/register', { body: { username: s.username, password: PASSWORD } }), 409, 'CONFLICT');
    const upper = await call('/api/auth/register', { body: { username: s.username.toUpperCase(), password: PASSWORD } });
    expectError(upper, 409, 'CONFLICT');
  });

  it('accepts the same username in another tenant, via body or X-Tenant-ID', async () => {
    const s = await registerUser();
    const viaBody = await call('/api/auth/register', {
      body: { username: s.username, password: PASSWORD, tenant_id: uniqueTenant() },
    });
    expect(viaBody.status).toBe(201);
    const tenant = uniqueTenant();
    const viaHeader = await call('/api/auth/register', {
      body: { username: s.username, password: PASSWORD },
      headers: { 'X-Tenant-ID': tenant },
    });
    expect(viaHeader.status).toBe(201);
    expect((await verifyAccessToken(env, viaHeader.body.access_token)).tenantId).toBe(tenant);
    const row = await env.DB.prepare('SELECT id FROM tenants WHERE id = ?1').bind(tenant).first();
    expect(row).toEqual({ id: tenant });
  });

  it('refuses a bad tenant id and a body/header tenant mismatch', async () => {
    const bad = await call('/api/auth/register', {
      body: { username: uniqueName(), password: PASSWORD, tenant_id: 'Bad_Tenant' },
    });
    expectError(bad, 400, 'INVALID_REQUEST');
    expect(bad.body.details.field).toBe('tenant_id');
    const badHeader = await call('/api/auth/register', {
      body: { username: uniqueName(), password: PASSWORD },
      headers: { 'X-Tenant-ID': '-nope' },
    });
    expectError(badHeader, 400, 'INVALID_REQUEST');
    const mismatch = await call('/api/auth/register', {
      body: { username: uniqueName(), password: PASSWORD, tenant_id: 'aaa' },
      headers: { 'X-Tenant-ID': 'bbb' },
    });
    expectError(mismatch, 403, 'TENANT_VIOLATION');
  });

  it('refuses a weak password naming what is missing', async () => {
    const r = await call('/api/auth/register', { body: { username: uniqueName(), password: 'alllowercase' } });
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details.field).toBe('password');
    expect(r.body.message).toMatch(/missing: uppercase letter, digit, symbol/);
    const short = await call('/api/auth/register', { body: { username: uniqueName(), password: 'Ab1!' } });
    expectError(short, 400, 'INVALID_REQUEST');
    expect(short.body.message).toMatch(/at least 8 characters/);
  });

  it('refuses missing fields, extra fields, a bad email and a bad username', async () => {
    const missing = await call('/api/auth/register', { body: { username: uniqueName() } });
    expectError(missing, 400, 'INVALID_REQUEST');
    expect(missing.body.details.field).toBe('password');
    const extra = await call('/api/auth/register', { body: { username: uniqueName(), password: PASSWORD, role: 'admin' } });
    expectError(extra, 400, 'INVALID_REQUEST');
    expect(extra.body.details.field).toBe('role');
    const email = await call('/api/auth/register', { body: { username: uniqueName(), password: PASSWORD, email: 'nope' } });
    expectError(email, 400, 'INVALID_REQUEST');
    expect(email.body.details.field).toBe('email');
    const name = await call('/api/auth/register', { body: { username: 'service:x', password: PASSWORD } });
    expectError(name, 400, 'INVALID_REQUEST');
    expect(name.body.details.field).toBe('username');
  });

  it('refuses malformed JSON and a non-JSON content type', async () => {
    const malformed = await call('/api/auth/register', {
      raw: '{"username": "x", ',
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(malformed, 400, 'INVALID_REQUEST');
    expect(malformed.body.message).toMatch(/JSON/i);
    const form = await call('/api/auth/register', {
      raw: 'username=x&password=y',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(form.body.error).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('reserves the bootstrap admin name in the default tenant', async () => {
    const r = await call('/api/auth/register', { body: { username: env.ADMIN_USERNAME, password: PASSWORD } });
    expectError(r, 409, 'CONFLICT');
  });
});

describe('POST /api/auth/login', () => {
  it("logs in with seed 000's fields and updates last_login", async () => {
    const s = await registerUser();
    await env.DB.prepare("UPDATE players SET last_login = '2000-01-01T00:00:00.000Z' WHERE user_id = ?1").bind(s.user_id).run();
    const r = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ user_id: s.user_id, username: s.username, role: 'player' });
    expect(r.body.expires_at).toMatch(ISO_SECONDS);
    expect(r.body.refresh_token).not.toBe(s.refresh_token);
    const p = await env.DB.prepare('SELECT last_login FROM players WHERE user_id = ?1')
      .bind(s.user_id)
      .first<{ last_login: string }>();
    expect((p?.last_login ?? '') > '2000-01-01T00:00:00.000Z').toBe(true);
  });

  it('refuses a wrong password and an unknown user with the same 401', async () => {
    const s = await registerUser();
    const wrong = await call('/api/auth/login', { body: { username: s.username, password: 'WrongPass123!' } });
    expectError(wrong, 401, 'AUTHENTICATION_REQUIRED');
    const unknown = await call('/api/auth/login', { body: { username: uniqueName('ghost'), password: PASSWORD } });
    expectError(unknown, 401, 'AUTHENTICATION_REQUIRED');
    expect(unknown.body.message).toBe(wrong.body.message);
  });

  it('keeps tenants apart: a user of one tenant cannot log in to another', async () => {
    const tenant = uniqueTenant();
    const s = await registerUser({ tenant });
    expect(
      (await call('/api/auth/login', { body: { username: s.username, password: PASSWORD, tenant_id: tenant } })).status,
    ).toBe(200);
    const elsewhere = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD } });
    expectError(elsewhere, 401, 'AUTHENTICATION_REQUIRED');
    const viaHeader = await call('/api/auth/login', {
      body: { username: s.username, password: PASSWORD },
      headers: { 'X-Tenant-ID': tenant },
    });
    expect(viaHeader.status).toBe(200);
  });

  it('refuses missing and extra fields', async () => {
    const missing = await call('/api/auth/login', { body: { username: 'x' } });
    expectError(missing, 400, 'INVALID_REQUEST');
    expect(missing.body.details.field).toBe('password');
    const extra = await call('/api/auth/login', { body: { username: 'x', password: 'y', remember: true } });
    expectError(extra, 400, 'INVALID_REQUEST');
    expect(extra.body.details.field).toBe('remember');
  });
});

describe('POST /api/auth/refresh', () => {
  it('rotates: a new pair for the refresh token in the Authorization header', async () => {
    const s = await registerUser();
    const r = await call('/api/auth/refresh', { token: s.refresh_token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ user_id: s.user_id, username: s.username, role: 'player' });
    expect(r.body.refresh_token).not.toBe(s.refresh_token);
    expect(r.body.access_token).not.toBe(s.access_token);
    const before = await verifyAccessToken(env, s.access_token);
    const after = await verifyAccessToken(env, r.body.access_token);
    expect(after.sessionId).toBe(before.sessionId);
    // and the new one works in the body form
    const again = await call('/api/auth/refresh', { body: { refresh_token: r.body.refresh_token } });
    expect(again.status).toBe(200);
  });

  it('refuses a missing, unknown or extra-field refresh', async () => {
    expectError(await call('/api/auth/refresh'), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await call('/api/auth/refresh', { token: 'not-a-real-token' }), 401, 'AUTHENTICATION_REQUIRED');
    const extra = await call('/api/auth/refresh', { body: { refresh_token: 'x', user_id: 1 } });
    expectError(extra, 400, 'INVALID_REQUEST');
  });

  it('detects reuse of a spent token and revokes the whole family, newest token included', async () => {
    const s = await registerUser();
    const first = await call('/api/auth/refresh', { token: s.refresh_token });
    expect(first.status).toBe(200);
    const reuse = await call('/api/auth/refresh', { token: s.refresh_token });
    expectError(reuse, 401, 'AUTHENTICATION_REQUIRED');
    expect(reuse.body.message).toMatch(/reuse detected/i);
    // The legitimate newest token of the family is dead too, and so are the family's access tokens.
    const newest = await call('/api/auth/refresh', { token: first.body.refresh_token });
    expectError(newest, 401, 'AUTHENTICATION_REQUIRED');
    await expect(verifyAccessToken(env, first.body.access_token)).rejects.toThrow(/revoked/);
    // Other sessions of the same user are untouched.
    const other = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD } });
    expect((await call('/api/auth/refresh', { token: other.body.refresh_token })).status).toBe(200);
  });

  it('lets only one of two racing refreshes of the same token win', async () => {
    const s = await registerUser();
    const results = await Promise.all([
      call('/api/auth/refresh', { token: s.refresh_token }),
      call('/api/auth/refresh', { token: s.refresh_token }),
    ]);
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeLessThanOrEqual(1);
    expect(results.some((r) => r.status === 401)).toBe(true);
  });

  it('refuses an expired refresh token', async () => {
    const s = await registerUser();
    await env.DB.prepare("UPDATE refresh_tokens SET expires_at = '2000-01-01T00:00:00.000Z' WHERE user_id = ?1")
      .bind(s.user_id)
      .run();
    const r = await call('/api/auth/refresh', { token: s.refresh_token });
    expectError(r, 401, 'AUTHENTICATION_REQUIRED');
    expect(r.body.message).toMatch(/expired/);
  });

  it("refuses a refresh under another tenant's X-Tenant-ID", async () => {
    const s = await registerUser({ tenant: uniqueTenant() });
    const r = await call('/api/auth/refresh', { token: s.refresh_token, headers: { 'X-Tenant-ID': 'default' } });
    expectError(r, 403, 'TENANT_VIOLATION');
  });
});

describe('POST /api/auth/logout', () => {
  it('revokes the refresh family and the access token', async () => {
    const s = await registerUser();
    const r = await call('/api/auth/logout', { token: s.access_token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ message: 'Logged out successfully' });
    const reuse = await call('/api/auth/logout', { token: s.access_token });
    expectError(reuse, 401, 'AUTHENTICATION_REQUIRED');
    expect(reuse.body.message).toMatch(/revoked/);
    expectError(await call('/api/auth/refresh', { token: s.refresh_token }), 401, 'AUTHENTICATION_REQUIRED');
    const row = await env.DB.prepare('SELECT jti FROM revoked_access_tokens WHERE user_id = ?1').bind(s.user_id).first();
    expect(row).toBeTruthy();
  });

  it('leaves other sessions of the same user alone', async () => {
    const s = await registerUser();
    const other = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD } });
    expect((await call('/api/auth/logout', { token: s.access_token })).status).toBe(200);
    await expect(verifyAccessToken(env, other.body.access_token)).resolves.toMatchObject({ userId: String(s.user_id) });
  });

  it('needs an access token: none, a refresh token or garbage are 401', async () => {
    const s = await registerUser();
    expectError(await call('/api/auth/logout'), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await call('/api/auth/logout', { token: s.refresh_token }), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await call('/api/auth/logout', { token: 'a.b.c' }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('bad access tokens over REST', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (s: { user_id: number; username: string }) => ({
    userId: String(s.user_id),
    tenantId: 'default',
    role: 'player',
    username: s.username,
  });
  const sign = (s: { user_id: number; username: string }, o: { exp?: number; iss?: string; aud?: string } = {}) =>
    new SignJWT(claims(s))
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(s.user_id))
      .setIssuer(o.iss ?? env.JWT_ISSUER)
      .setAudience(o.aud ?? env.JWT_AUDIENCE)
      .setIssuedAt(now() - 60)
      .setExpirationTime(o.exp ?? now() + 600)
      .setJti(crypto.randomUUID())
      .sign(new TextEncoder().encode(env.JWT_SECRET));

  it('accepts a well-formed token signed with the secret (control)', async () => {
    const s = await registerUser();
    expect((await call('/api/auth/logout', { token: await sign(s) })).status).toBe(200);
  });

  it('refuses expired, tampered, alg:none and wrong issuer/audience tokens with 401 saying why', async () => {
    const s = await registerUser();
    const cases: [string, RegExp][] = [
      [await sign(s, { exp: now() - 5 }), /expired/],
      [`${s.access_token.slice(0, -3)}${s.access_token.endsWith('AAA') ? 'BBB' : 'AAA'}`, /signature/],
      [
        new UnsecuredJWT(claims(s))
          .setSubject(String(s.user_id))
          .setIssuer(env.JWT_ISSUER)
          .setAudience(env.JWT_AUDIENCE)
          .setIssuedAt()
          .setExpirationTime('10m')
          .setJti('none')
          .encode(),
        /algorithm|malformed/,
      ],
      [await sign(s, { iss: 'evil' }), /"iss"/],
      [await sign(s, { aud: 'evil' }), /"aud"/],
    ];
    for (const [token, why] of cases) {
      const r = await call('/api/auth/logout', { token });
      expectError(r, 401, 'AUTHENTICATION_REQUIRED');
      expect(r.body.message).toMatch(why);
    }
    // None of them logged the real session out.
    expect((await call('/api/auth/refresh', { token: s.refresh_token })).status).toBe(200);
  });
});

describe('/openapi.json', () => {
  it('describes the identity routes from the schemas that validate them', async () => {
    const r = await call('/openapi.json', { method: 'GET' });
    expect(r.status).toBe(200);
    for (const path of ['/api/auth/register', '/api/auth/login', '/api/auth/refresh', '/api/auth/logout']) {
      expect(r.body.paths[path]?.post, path).toBeTruthy();
    }
    expect(r.body.paths['/api/admin/users/{id}/role']?.put).toBeTruthy();
    expect(r.body.paths['/api/admin/service-tokens']?.post).toBeTruthy();
    expect(r.body.components.schemas.RegisterRequest.additionalProperties).toBe(false);
    expect(r.body.components.securitySchemes.Bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});
