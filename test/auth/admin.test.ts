import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyAccessToken } from '../../src/auth/tokens';
import { call, expectError, PASSWORD, registerUser, type Session, uniqueName, uniqueTenant } from '../support/api';

const ADMIN = { username: env.ADMIN_USERNAME ?? '', password: env.ADMIN_PASSWORD ?? '' };

const adminRow = () =>
  env.DB.prepare("SELECT * FROM users WHERE tenant_id = 'default' AND username = ?1").bind(ADMIN.username).first();

async function adminLogin(): Promise<Session> {
  const r = await call('/api/auth/login', { body: ADMIN });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

describe('admin bootstrap', () => {
  it('creates the first admin on the first login with exactly the secrets, then logs in normally', async () => {
    expect(ADMIN.username && ADMIN.password).toBeTruthy();
    await env.DB.prepare("DELETE FROM users WHERE tenant_id = 'default' AND username = ?1").bind(ADMIN.username).run();

    const wrong = await call('/api/auth/login', { body: { ...ADMIN, password: `${ADMIN.password}x` } });
    expectError(wrong, 401, 'AUTHENTICATION_REQUIRED');
    const otherTenant = await call('/api/auth/login', { body: { ...ADMIN, tenant_id: uniqueTenant() } });
    expectError(otherTenant, 401, 'AUTHENTICATION_REQUIRED');
    expect(await adminRow()).toBeNull();

    const first = await adminLogin();
    expect(first).toMatchObject({ username: ADMIN.username, role: 'admin' });
    expect(await adminRow()).toMatchObject({ role: 'admin', password_algorithm: 'pbkdf2-sha256' });
    const second = await adminLogin();
    expect(second.user_id).toBe(first.user_id);
    expectError(await call('/api/auth/login', { body: { ...ADMIN, password: 'Wrong-Pass-1' } }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('PUT /api/admin/users/{id}/role', () => {
  let admin: Session;
  beforeAll(async () => {
    admin = await adminLogin();
  });

  it('lets an admin grant a role; the old session ends and the next login carries the new role', async () => {
    const player = await registerUser();
    const r = await call(`/api/admin/users/${player.user_id}/role`, {
      method: 'PUT',
      token: admin.access_token,
      body: { role: 'admin' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ user_id: player.user_id, username: player.username, role: 'admin', previous_role: 'player' });
    await expect(verifyAccessToken(env, player.access_token)).rejects.toThrow(/revoked/);
    expectError(await call('/api/auth/refresh', { token: player.refresh_token }), 401, 'AUTHENTICATION_REQUIRED');
    const again = await call('/api/auth/login', { body: { username: player.username, password: PASSWORD } });
    expect(again.body.role).toBe('admin');
  });

  it('refuses a player with 403', async () => {
    const player = await registerUser();
    const target = await registerUser();
    const r = await call(`/api/admin/users/${target.user_id}/role`, {
      method: 'PUT',
      token: player.access_token,
      body: { role: 'admin' },
    });
    expectError(r, 403, 'AUTHORIZATION_FAILED');
  });

  it('does not find a user of another tenant (404) nor a missing one', async () => {
    const foreign = await registerUser({ tenant: uniqueTenant() });
    const r = await call(`/api/admin/users/${foreign.user_id}/role`, {
      method: 'PUT',
      token: admin.access_token,
      body: { role: 'admin' },
    });
    expectError(r, 404, 'NOT_FOUND');
    const row = await env.DB.prepare('SELECT role FROM users WHERE id = ?1').bind(foreign.user_id).first();
    expect(row).toEqual({ role: 'player' });
    expectError(
      await call('/api/admin/users/999999999/role', { method: 'PUT', token: admin.access_token, body: { role: 'admin' } }),
      404,
      'NOT_FOUND',
    );
  });

  it("refuses an admin's change of their own role", async () => {
    const r = await call(`/api/admin/users/${admin.user_id}/role`, {
      method: 'PUT',
      token: admin.access_token,
      body: { role: 'player' },
    });
    expectError(r, 403, 'AUTHORIZATION_FAILED');
    expect(r.body.message).toMatch(/own role/);
  });

  it('refuses an unknown role, extra fields, a bad id and no token', async () => {
    const target = await registerUser();
    const path = `/api/admin/users/${target.user_id}/role`;
    const role = await call(path, { method: 'PUT', token: admin.access_token, body: { role: 'root' } });
    expectError(role, 400, 'INVALID_REQUEST');
    expect(role.body.details.field).toBe('role');
    const extra = await call(path, { method: 'PUT', token: admin.access_token, body: { role: 'admin', tenant: 'x' } });
    expectError(extra, 400, 'INVALID_REQUEST');
    const id = await call('/api/admin/users/abc/role', { method: 'PUT', token: admin.access_token, body: { role: 'admin' } });
    expectError(id, 400, 'INVALID_REQUEST');
    expectError(await call(path, { method: 'PUT', body: { role: 'admin' } }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('POST /api/admin/service-tokens', () => {
  let admin: Session;
  beforeAll(async () => {
    admin = await adminLogin();
  });

  it('mints a service token for a service account of the admin tenant', async () => {
    const name = uniqueName('svc').toLowerCase();
    const r = await call('/api/admin/service-tokens', { token: admin.access_token, body: { name, expires_in: 3600 } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ token_type: 'Bearer', name });
    expect(typeof r.body.user_id).toBe('number');
    const id = await verifyAccessToken(env, r.body.token);
    expect(id).toMatchObject({
      role: 'service',
      tenantId: 'default',
      username: `service:${name}`,
      userId: String(r.body.user_id),
    });
    expect(id.sessionId).toBeUndefined();
    expect(Math.abs(id.exp - (Date.now() / 1000 + 3600))).toBeLessThan(30);
    expect(r.body.expires_at).toBe(new Date(id.exp * 1000).toISOString().replace('.000Z', 'Z'));

    // The same name reuses its account; the default lifetime is a day.
    const again = await call('/api/admin/service-tokens', { token: admin.access_token, body: { name } });
    expect(again.body.user_id).toBe(r.body.user_id);
    const exp = Date.parse(again.body.expires_at) / 1000;
    expect(Math.abs(exp - (Date.now() / 1000 + 86_400))).toBeLessThan(30);

    // A service account has no password and no player profile.
    const login = await call('/api/auth/login', { body: { username: `service:${name}`, password: PASSWORD } });
    expectError(login, 401, 'AUTHENTICATION_REQUIRED');
    expect(await env.DB.prepare('SELECT 1 FROM players WHERE user_id = ?1').bind(r.body.user_id).first()).toBeNull();
  });

  it('refuses players and service tokens (admin only)', async () => {
    const player = await registerUser();
    expectError(
      await call('/api/admin/service-tokens', { token: player.access_token, body: { name: 'x' } }),
      403,
      'AUTHORIZATION_FAILED',
    );
    const svc = await call('/api/admin/service-tokens', {
      token: admin.access_token,
      body: { name: uniqueName('s').toLowerCase() },
    });
    expectError(
      await call('/api/admin/service-tokens', { token: svc.body.token, body: { name: 'y' } }),
      403,
      'AUTHORIZATION_FAILED',
    );
  });

  it('refuses a lifetime over a year, a bad name and extra fields', async () => {
    const long = await call('/api/admin/service-tokens', {
      token: admin.access_token,
      body: { name: 'ok', expires_in: 31_536_001 },
    });
    expectError(long, 400, 'INVALID_REQUEST');
    expect(long.body.details.field).toBe('expires_in');
    const name = await call('/api/admin/service-tokens', { token: admin.access_token, body: { name: 'Bad Name' } });
    expectError(name, 400, 'INVALID_REQUEST');
    expect(name.body.details.field).toBe('name');
    const extra = await call('/api/admin/service-tokens', { token: admin.access_token, body: { name: 'ok', role: 'admin' } });
    expectError(extra, 400, 'INVALID_REQUEST');
  });
});
