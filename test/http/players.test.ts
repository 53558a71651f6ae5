import { beforeAll, describe, expect, it } from 'vitest';
import { call, expectError, registerUser, type Session, tenantAdmin, uniqueTenant } from '../support/api';

describe('GET /api/players/me and /api/players/{id}', () => {
  let tenant: string;
  let alice: Session;
  let bob: Session;
  let admin: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    alice = await registerUser({ tenant });
    bob = await registerUser({ tenant });
    admin = await tenantAdmin(tenant);
  });

  it('answers the own profile with the seed fields', async () => {
    const r = await call('/api/players/me', { method: 'GET', token: alice.access_token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      id: alice.user_id,
      username: alice.username,
      level: 1,
      experience_points: 0,
      currency_amount: 0,
      current_position: { x: 0, y: 0 },
      current_floor: 0,
    });
    expect(Date.parse(r.body.created_at)).not.toBeNaN();
    expect(r.body).toHaveProperty('last_login');
    expect(r.res.headers.get('X-RateLimit-Limit')).not.toBeNull();
    const byId = await call(`/api/players/${alice.user_id}`, { method: 'GET', token: alice.access_token });
    expect(byId.body).toEqual(r.body);
  });

  it('needs a token', async () => {
    expectError(await call('/api/players/me', { method: 'GET' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  it("refuses another player's profile with 403, lets an admin of the tenant read it, 404 for unknown ids", async () => {
    expectError(
      await call(`/api/players/${bob.user_id}`, { method: 'GET', token: alice.access_token }),
      403,
      'AUTHORIZATION_FAILED',
    );
    const asAdmin = await call(`/api/players/${bob.user_id}`, { method: 'GET', token: admin.access_token });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.username).toBe(bob.username);
    expectError(await call('/api/players/999999999', { method: 'GET', token: admin.access_token }), 404, 'NOT_FOUND');
    expectError(await call('/api/players/abc', { method: 'GET', token: alice.access_token }), 400, 'INVALID_REQUEST');
  });

  it("keeps tenants apart: an admin of one tenant cannot read another tenant's player", async () => {
    const stranger = await registerUser({ tenant: uniqueTenant() });
    expectError(await call(`/api/players/${stranger.user_id}`, { method: 'GET', token: admin.access_token }), 404, 'NOT_FOUND');
  });
});

describe('PUT /api/players/{id}/position', () => {
  let alice: Session;
  let bob: Session;
  beforeAll(async () => {
    alice = await registerUser();
    bob = await registerUser();
  });
  const move = (s: Session, id: number, body: unknown) =>
    call(`/api/players/${id}/position`, { method: 'PUT', token: s.access_token, body });

  it('moves the caller and answers {success, position, floor}; the profile shows it', async () => {
    const r = await move(alice, alice.user_id, { position: { x: 12345, y: -3.5 }, floor: 3 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ success: true, position: { x: 12345, y: -3.5 }, floor: 3 });
    const me = await call('/api/players/me', { method: 'GET', token: alice.access_token });
    expect(me.body.current_position).toEqual({ x: 12345, y: -3.5 });
    expect(me.body.current_floor).toBe(3);
  });

  it('accepts the range ends: x = 264,000,000 is x = 0 (the wrap), floors −2 and 15', async () => {
    const end = await move(alice, alice.user_id, { position: { x: 264_000_000, y: 0 }, floor: 15 });
    expect(end.body).toEqual({ success: true, position: { x: 0, y: 0 }, floor: 15 });
    const low = await move(alice, alice.user_id, { position: { x: 263_999_999.5, y: 100 }, floor: -2 });
    expect(low.body.floor).toBe(-2);
  });

  it.each([
    ['x below 0', { position: { x: -1, y: 0 }, floor: 0 }, 'position', 'out_of_range'],
    ['x past the circumference', { position: { x: 264_000_001, y: 0 }, floor: 0 }, 'position', 'out_of_range'],
    ['y not a number', { position: { x: 1, y: 'north' }, floor: 0 }, 'position', 'bad_type'],
    ['missing position', { floor: 0 }, 'position', 'bad_type'],
    ['floor 16', { position: { x: 1, y: 0 }, floor: 16 }, 'floor', 'out_of_range'],
    ['floor −3', { position: { x: 1, y: 0 }, floor: -3 }, 'floor', 'out_of_range'],
    ['non-integer floor', { position: { x: 1, y: 0 }, floor: 1.5 }, 'floor', 'bad_type'],
    ['floor as a string', { position: { x: 1, y: 0 }, floor: '1' }, 'floor', 'bad_type'],
  ])('refuses %s with 400 INVALID_REQUEST and changes nothing', async (_name, body, field, issue) => {
    const before = await call('/api/players/me', { method: 'GET', token: bob.access_token });
    const r = await move(bob, bob.user_id, body);
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details).toMatchObject({ field, issue });
    const after = await call('/api/players/me', { method: 'GET', token: bob.access_token });
    expect(after.body.current_position).toEqual(before.body.current_position);
  });

  it('refuses moving another player with 403, even for an admin, and leaves them where they were', async () => {
    const tenant = uniqueTenant();
    const victim = await registerUser({ tenant });
    const other = await registerUser({ tenant });
    const admin = await tenantAdmin(tenant);
    expectError(await move(other, victim.user_id, { position: { x: 5, y: 5 }, floor: 0 }), 403, 'AUTHORIZATION_FAILED');
    expectError(await move(admin, victim.user_id, { position: { x: 5, y: 5 }, floor: 0 }), 403, 'AUTHORIZATION_FAILED');
    const me = await call('/api/players/me', { method: 'GET', token: victim.access_token });
    expect(me.body.current_position).toEqual({ x: 0, y: 0 });
  });

  it('refuses malformed JSON with 400', async () => {
    const r = await call(`/api/players/${alice.user_id}/position`, {
      method: 'PUT',
      token: alice.access_token,
      raw: '{"position":',
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(r, 400, 'INVALID_REQUEST');
  });
});

describe('OpenAPI', () => {
  it('documents the player routes with their required body fields', async () => {
    const doc = (await call('/openapi.json', { method: 'GET' })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/players/me', '/api/players/{id}', '/api/players/{id}/position']),
    );
    expect(doc.components.schemas.PlayerPositionRequest.required).toEqual(['position', 'floor']);
  });
});
