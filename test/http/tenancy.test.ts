import { env } from 'cloudflare:test';
import { Hono } from 'hono';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { handleError } from '../../src/http/app';
import type { AppEnv } from '../../src/http/context';
import { optionalAuth, requireAuth, requireRole } from '../../src/http/middleware/auth';
import { call, expectError, registerUser, uniqueTenant } from '../support/api';

/** A tiny app with the real middleware and error handler, run in workerd against the real D1. */
function probeApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.get('/me', requireAuth, (c) => c.json(c.get('identity')));
  app.get('/maybe', optionalAuth, (c) => c.json({ identity: c.get('identity') ?? null }));
  app.get('/ops', requireAuth, requireRole('admin', 'service'), (c) => c.json({ ok: true }));
  return app;
}

const get = (path: string, headers: Record<string, string> = {}) =>
  probeApp().request(`https://edge.test${path}`, { headers }, env);

describe('tenancy over REST (seed 003)', () => {
  it("answers 403 TENANT_VIOLATION when X-Tenant-ID differs from the token's tenant", async () => {
    const tenant = uniqueTenant();
    const s = await registerUser({ tenant });
    const r = await call('/api/auth/logout', { token: s.access_token, headers: { 'X-Tenant-ID': 'default' } });
    expectError(r, 403, 'TENANT_VIOLATION');
    // The refused request changed nothing: the session is still alive.
    expect((await call('/api/auth/refresh', { token: s.refresh_token })).status).toBe(200);
  });

  it('lets a matching X-Tenant-ID (or none) through', async () => {
    const tenant = uniqueTenant();
    const a = await registerUser({ tenant });
    expect((await call('/api/auth/logout', { token: a.access_token, headers: { 'X-Tenant-ID': tenant } })).status).toBe(200);
    const b = await registerUser({ tenant });
    expect((await call('/api/auth/logout', { token: b.access_token })).status).toBe(200);
  });

  it('guards admin routes too: an admin token under another tenant id is refused', async () => {
    const admin = await call('/api/auth/login', { body: { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD } });
    expect(admin.status).toBe(200);
    const r = await call('/api/admin/service-tokens', {
      token: admin.body.access_token,
      headers: { 'X-Tenant-ID': uniqueTenant() },
      body: { name: 'x' },
    });
    expectError(r, 403, 'TENANT_VIOLATION');
  });
});

describe('requireAuth / optionalAuth / requireRole', () => {
  it('sets the identity from a Bearer header or ?token=', async () => {
    const s = await registerUser();
    const viaHeader = await get('/me', { Authorization: `Bearer ${s.access_token}` });
    expect(viaHeader.status).toBe(200);
    expect(await viaHeader.json()).toMatchObject({ userId: String(s.user_id), tenantId: 'default', role: 'player' });
    expect((await get(`/me?token=${s.access_token}`)).status).toBe(200);
  });

  it('answers 401 AUTHENTICATION_REQUIRED without a token or with a bad one', async () => {
    const none = await get('/me');
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'AUTHENTICATION_REQUIRED' });
    const expired = await new SignJWT({ userId: '1', tenantId: 'default', role: 'player', username: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('1')
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 1800)
      .setJti('old')
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    const r = await get('/me', { Authorization: `Bearer ${expired}` });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { message: string }).message).toMatch(/expired/);
  });

  it('optionalAuth lets anonymous requests through but still refuses a bad token', async () => {
    expect(await (await get('/maybe')).json()).toEqual({ identity: null });
    expect((await get('/maybe', { Authorization: 'Bearer a.b.c' })).status).toBe(401);
  });

  it('requireRole answers 403 AUTHORIZATION_FAILED for a role not listed', async () => {
    const s = await registerUser();
    const r = await get('/ops', { Authorization: `Bearer ${s.access_token}` });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: 'AUTHORIZATION_FAILED', details: { required: ['admin', 'service'] } });
  });

  it('checks tenancy in the middleware itself', async () => {
    const s = await registerUser({ tenant: uniqueTenant() });
    const r = await get('/me', { Authorization: `Bearer ${s.access_token}`, 'X-Tenant-ID': 'other' });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: 'TENANT_VIOLATION' });
  });
});
