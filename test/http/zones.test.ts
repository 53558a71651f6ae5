import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { areaQuerySql } from '../../src/db/zones';
import { parseZoneAreaQuery } from '../../src/domain/zones';
import { call, expectError, rect, registerUser, type Session, tenantAdmin, uniqueTenant } from '../support/api';

const C = 264_000_000;

const zoneBody = (geometry: unknown, extra: Record<string, unknown> = {}) => ({
  name: 'Downtown District',
  zone_type: 'commercial',
  geometry,
  floor: 0,
  properties: { density: 'high', style: 'modern' },
  ...extra,
});

const get = (path: string, s: Session) => call(path, { method: 'GET', token: s.access_token });
const create = (s: Session, body: unknown) => call('/api/zones', { token: s.access_token, body });

describe('POST /api/zones and GET /api/zones/{id}', () => {
  // Every creation attempt counts against the 10/min zone limit, so refusals are tried by fresh users.
  let tenant: string;
  let owner: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
  });

  it('creates a zone (201) with the seed fields and reads it back', async () => {
    const r = await create(owner, zoneBody(rect(12_000, -50, 12_400, 50)));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ id: expect.any(Number), name: 'Downtown District', zone_type: 'commercial' });
    expect(Date.parse(r.body.created_at)).not.toBeNaN();
    const got = await get(`/api/zones/${r.body.id}`, owner);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id: r.body.id,
      name: 'Downtown District',
      zone_type: 'commercial',
      floor: 0,
      geometry: rect(12_000, -50, 12_400, 50),
      owner_id: owner.user_id,
      properties: { density: 'high', style: 'modern' },
      area: 40_000,
    });
  });

  it.each([
    [
      'a self-intersecting (bow-tie) polygon',
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [100, 100],
            [100, 0],
            [0, 100],
            [0, 0],
          ],
        ],
      },
      'self_intersection',
    ],
    [
      'an open ring',
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [100, 0],
            [100, 100],
            [0, 100],
          ],
        ],
      },
      'not_closed',
    ],
    [
      'three positions',
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [100, 0],
            [0, 0],
          ],
        ],
      },
      'too_few_positions',
    ],
    ['a position outside the ring', rect(-10, 0, 100, 100), 'out_of_range'],
    ['a Point instead of a Polygon', { type: 'Point', coordinates: [1, 2] }, 'bad_type'],
    ['no geometry', undefined, 'bad_type'],
  ])('refuses %s with 400 INVALID_ZONE and details {field: geometry, issue}', async (_name, geometry, issue) => {
    const r = await create(await registerUser({ tenant }), zoneBody(geometry));
    expectError(r, 400, 'INVALID_ZONE');
    expect(r.body.details).toMatchObject({ field: 'geometry', issue });
  });

  it('refuses a bad name, zone type or floor with the field named', async () => {
    const g = rect(0, 0, 10, 10);
    const tryer = await registerUser({ tenant });
    for (const [extra, field] of [
      [{ zone_type: 'volcano' }, 'zone_type'],
      [{ name: '' }, 'name'],
      [{ floor: 16 }, 'floor'],
      [{ floor: 0.5 }, 'floor'],
    ] as const) {
      const r = await create(tryer, zoneBody(g, extra));
      expectError(r, 400, 'INVALID_ZONE');
      expect(r.body.details.field).toBe(field);
    }
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expectError(await get('/api/zones/999999999', owner), 404, 'NOT_FOUND');
    expectError(await get('/api/zones/x1', owner), 400, 'INVALID_REQUEST');
  });

  it('needs a token', async () => {
    expectError(await call('/api/zones', { body: zoneBody(rect(0, 0, 10, 10)) }), 401, 'AUTHENTICATION_REQUIRED');
  });

  it("keeps tenants apart: another tenant's zone is 404 to read, change or delete", async () => {
    const z = await create(owner, zoneBody(rect(5_000, 0, 5_100, 100)));
    const stranger = await tenantAdmin(uniqueTenant());
    expectError(await get(`/api/zones/${z.body.id}`, stranger), 404, 'NOT_FOUND');
    expectError(
      await call(`/api/zones/${z.body.id}`, { method: 'PUT', token: stranger.access_token, body: { name: 'Mine' } }),
      404,
      'NOT_FOUND',
    );
    expectError(await call(`/api/zones/${z.body.id}`, { method: 'DELETE', token: stranger.access_token }), 404, 'NOT_FOUND');
    expect((await get(`/api/zones/${z.body.id}`, owner)).body.name).toBe('Downtown District');
  });
});

describe('PUT and DELETE /api/zones/{id}', () => {
  let tenant: string;
  let owner: Session;
  let other: Session;
  let admin: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
    other = await registerUser({ tenant });
    admin = await tenantAdmin(tenant);
  });
  const put = (s: Session, id: number, body: unknown) => call(`/api/zones/${id}`, { method: 'PUT', token: s.access_token, body });
  const del = (s: Session, id: number) => call(`/api/zones/${id}`, { method: 'DELETE', token: s.access_token });

  it('lets the owner rename, retype and merge properties (null removes a key)', async () => {
    const z = (await create(owner, zoneBody(rect(20_000, 0, 20_500, 100)))).body;
    const r = await put(owner, z.id, {
      name: 'Updated Name',
      zone_type: 'mixed_use',
      properties: { density: 'medium', style: null },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ id: z.id, name: 'Updated Name', zone_type: 'mixed_use', properties: { density: 'medium' } });
    expect(r.body.properties).not.toHaveProperty('style');
    expect(r.body.geometry).toEqual(z.geometry);
  });

  it('re-validates a new geometry: a bow-tie is 400 INVALID_ZONE and the zone keeps its shape', async () => {
    const z = (await create(owner, zoneBody(rect(21_000, 0, 21_500, 100)))).body;
    const bad = await put(owner, z.id, {
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [21_000, 0],
            [21_100, 100],
            [21_100, 0],
            [21_000, 100],
            [21_000, 0],
          ],
        ],
      },
    });
    expectError(bad, 400, 'INVALID_ZONE');
    expect(bad.body.details).toMatchObject({ field: 'geometry', issue: 'self_intersection' });
    const good = await put(owner, z.id, { geometry: rect(21_000, 0, 21_800, 50) });
    expect(good.body.area).toBe(40_000);
    expect((await get(`/api/zones/${z.id}`, owner)).body.geometry).toEqual(rect(21_000, 0, 21_800, 50));
  });

  it('refuses an empty update, a floor change and an unknown type', async () => {
    const z = (await create(owner, zoneBody(rect(22_000, 0, 22_100, 100)))).body;
    expect((await put(owner, z.id, {})).body.details).toMatchObject({ field: 'body', issue: 'empty' });
    expect((await put(owner, z.id, { floor: 2 })).body.details).toMatchObject({ field: 'floor', issue: 'immutable' });
    expectError(await put(owner, z.id, { zone_type: 'lava' }), 400, 'INVALID_ZONE');
  });

  it("refuses another player's zone with 403; an admin of the tenant may change and delete it", async () => {
    const z = (await create(owner, zoneBody(rect(23_000, 0, 23_100, 100)))).body;
    expectError(await put(other, z.id, { name: 'Hijacked' }), 403, 'AUTHORIZATION_FAILED');
    expectError(await del(other, z.id), 403, 'AUTHORIZATION_FAILED');
    expect((await get(`/api/zones/${z.id}`, owner)).body.name).toBe('Downtown District');
    const byAdmin = await put(admin, z.id, { name: 'Renamed by admin' });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body.owner_id).toBe(owner.user_id);
    expect((await del(admin, z.id)).body).toEqual({ success: true });
    expectError(await get(`/api/zones/${z.id}`, owner), 404, 'NOT_FOUND');
  });

  it('deletes the own zone with {success: true}; a second delete is 404', async () => {
    const z = (await create(owner, zoneBody(rect(24_000, 0, 24_100, 100)))).body;
    const r = await del(owner, z.id);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true });
    expectError(await del(owner, z.id), 404, 'NOT_FOUND');
  });
});

describe('GET /api/zones/area', () => {
  let owner: Session;
  let wrapZone: number;
  let midZone: number;
  let upperZone: number;
  beforeAll(async () => {
    owner = await registerUser({ tenant: uniqueTenant() });
    // 200 m wide across the wrap point: from x = 263,999,900 round to x = 100.
    wrapZone = (await create(owner, zoneBody(rect(263_999_900, -20, 100, 20)))).body.id;
    midZone = (await create(owner, zoneBody(rect(50_000_000, 0, 50_001_000, 100)))).body.id;
    upperZone = (await create(owner, zoneBody(rect(263_999_900, -20, 100, 20), { floor: 3 }))).body.id;
    expect([wrapZone, midZone, upperZone].every(Number.isInteger)).toBe(true);
  });
  const area = (q: Record<string, number | string>) =>
    get(`/api/zones/area?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`, owner);
  const ids = (r: { body: { zones: { id: number }[] } }) => r.body.zones.map((z) => z.id);

  it('finds a zone across the wrap with a box that crosses x = 0 (x_min > x_max)', async () => {
    const r = await area({ x_min: 263_999_000, x_max: 500, y_min: -100, y_max: 100, floor: 0 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(ids(r)).toEqual([wrapZone]);
    expect(r.body.zones[0]).toMatchObject({ name: 'Downtown District', geometry: rect(263_999_900, -20, 100, 20) });
  });

  it('finds it from either side of the wrap point and not from a box beside it', async () => {
    expect(ids(await area({ x_min: 0, x_max: 50, y_min: 0, y_max: 1, floor: 0 }))).toEqual([wrapZone]);
    expect(ids(await area({ x_min: 263_999_950, x_max: C, y_min: 0, y_max: 1, floor: 0 }))).toEqual([wrapZone]);
    expect(ids(await area({ x_min: 1_000, x_max: 2_000, y_min: -100, y_max: 100, floor: 0 }))).toEqual([]);
    expect(ids(await area({ x_min: 263_000_000, x_max: 263_999_000, y_min: -100, y_max: 100, floor: 0 }))).toEqual([]);
  });

  it('filters by floor and by y', async () => {
    expect(ids(await area({ x_min: 0, x_max: 50, y_min: 0, y_max: 1, floor: 3 }))).toEqual([upperZone]);
    expect(ids(await area({ x_min: 0, x_max: 50, y_min: 30, y_max: 40, floor: 0 }))).toEqual([]);
    expect(ids(await area({ x_min: 49_000_000, x_max: 51_000_000, y_min: -1e6, y_max: 1e6, floor: 0 }))).toEqual([midZone]);
  });

  it('refuses a bad box with 400 INVALID_REQUEST naming the field', async () => {
    const bad = [
      [{ x_min: -1, x_max: 10, y_min: 0, y_max: 1, floor: 0 }, 'x_min'],
      [{ x_min: 0, x_max: C + 1, y_min: 0, y_max: 1, floor: 0 }, 'x_max'],
      [{ x_min: 'abc', x_max: 10, y_min: 0, y_max: 1, floor: 0 }, 'x_min'],
      [{ x_min: 0, x_max: 10, y_min: 5, y_max: 1, floor: 0 }, 'y_min'],
      [{ x_min: 0, x_max: 10, y_min: 0, y_max: 1, floor: 99 }, 'floor'],
      [{ x_min: 0, x_max: 10, y_min: 0, y_max: 1 }, 'floor'],
    ] as const;
    for (const [q, field] of bad) {
      const r = await area(q);
      expectError(r, 400, 'INVALID_REQUEST');
      expect(r.body.details.field, JSON.stringify(q)).toBe(field);
    }
  });

  it('is answered from the (tenant_id, floor, bbox_x_min) index, also for a box across the wrap', async () => {
    for (const q of [
      { x_min: '263999000', x_max: '500', y_min: '-1', y_max: '1', floor: '0' },
      { x_min: '1000', x_max: '2000', y_min: '-1', y_max: '1', floor: '0' },
    ]) {
      const { sql, params } = areaQuerySql(parseZoneAreaQuery(q));
      const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind('t', 0, 1, -1, ...params)
        .all<{ detail: string }>();
      const details = plan.results.map((r) => r.detail);
      expect(
        details.some((d) => /USING INDEX zones_area/.test(d)),
        details.join('\n'),
      ).toBe(true);
      expect(
        details.some((d) => /SCAN zones\b/.test(d) && !/INDEX/.test(d)),
        details.join('\n'),
      ).toBe(false);
    }
  });
});

describe('zone creation limit (10/min per user)', () => {
  it('refuses the 11th zone in a minute with 429 and scope zone_create; other users are unaffected', async () => {
    const tenant = uniqueTenant();
    const alice = await registerUser({ tenant });
    const bob = await registerUser({ tenant });
    const { id, limit, windowMs } = LIMITS.ZONE_CREATE;
    const first = await create(alice, zoneBody(rect(30_000, 0, 30_100, 100)));
    expect(first.status).toBe(201);
    // Spend the rest of the minute as nine more creations would.
    const [spent] = await env.RATE_LIMITER.getByName(`user:${tenant}:${alice.user_id}`).hit([{ id, limit, windowMs }], limit - 1);
    expect(spent?.allowed).toBe(true);
    const refused = await create(alice, zoneBody(rect(31_000, 0, 31_100, 100)));
    expectError(refused, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused.body.details).toMatchObject({ scope: 'zone_create', limit: 10 });
    expect(refused.res.headers.get('Retry-After')).not.toBeNull();
    const zones = await get('/api/zones/area?x_min=31000&x_max=31100&y_min=0&y_max=100&floor=0', alice);
    expect(zones.body.zones).toEqual([]);
    expect((await create(bob, zoneBody(rect(31_000, 0, 31_100, 100)))).status).toBe(201);
  });
});

describe('OpenAPI', () => {
  it('lists the zone routes', async () => {
    const doc = (await call('/openapi.json', { method: 'GET' })).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/zones', '/api/zones/area', '/api/zones/{id}']));
    expect(doc.components.schemas.ZoneCreateRequest.required).toEqual(['name', 'zone_type', 'geometry', 'floor']);
  });
});
