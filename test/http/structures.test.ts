import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { call, expectError, rect, registerUser, type Session, tenantAdmin, uniqueTenant } from '../support/api';

async function createZone(s: Session, geometry: unknown, floor = 0): Promise<number> {
  const r = await call('/api/zones', {
    token: s.access_token,
    body: { name: 'Block', zone_type: 'residential', geometry, floor },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
}

const place = (s: Session, body: Record<string, unknown>) =>
  call('/api/structures', { token: s.access_token, body: { structure_type: 'building', floor: 0, ...body } });
const get = (path: string, s: Session) => call(path, { method: 'GET', token: s.access_token });
const put = (s: Session, id: number, body: unknown) =>
  call(`/api/structures/${id}`, { method: 'PUT', token: s.access_token, body });
const del = (s: Session, id: number) => call(`/api/structures/${id}`, { method: 'DELETE', token: s.access_token });

describe('POST /api/structures and GET /api/structures/{id}', () => {
  // Every placement attempt counts against the 20/min limit, so refusals are tried by fresh users.
  let tenant: string;
  let owner: Session;
  let zone: number;
  let wrapZone: number;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
    zone = await createZone(owner, rect(12_000, 0, 12_500, 200));
    wrapZone = await createZone(owner, rect(263_999_900, -50, 100, 50));
  });

  it('places a structure (201) with the seed fields, defaults rotation 0 and scale 1, and reads it back', async () => {
    const r = await place(owner, { position: { x: 12_345, y: 100 }, properties: { building_type: 'apartment', height: 50 } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({
      id: expect.any(Number),
      structure_type: 'building',
      position: { x: 12_345, y: 100 },
      floor: 0,
      rotation: 0,
      scale: 1,
      zone_id: null,
      owner_id: owner.user_id,
      properties: { building_type: 'apartment', height: 50 },
      model_data: {},
    });
    expect(Date.parse(r.body.created_at)).not.toBeNaN();
    const got = await get(`/api/structures/${r.body.id}`, owner);
    expect(got.body).toEqual(r.body);
  });

  it('places inside a named zone, also across the wrap point, with the seed body', async () => {
    const r = await place(owner, {
      position: { x: 12_345, y: 100 },
      rotation: 45,
      scale: 1.0,
      zone_id: zone,
      properties: { building_type: 'apartment', height: 50 },
      model_data: { mesh: 'tower_a' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ zone_id: zone, rotation: 45, model_data: { mesh: 'tower_a' } });
    const across = await place(owner, { position: { x: 263_999_950, y: 0 }, zone_id: wrapZone });
    expect(across.status, JSON.stringify(across.body)).toBe(201);
    const after = await place(owner, { position: { x: 50, y: 0 }, zone_id: wrapZone, structure_type: 'decoration' });
    expect(after.status, JSON.stringify(after.body)).toBe(201);
  });

  it.each([
    ['outside its zone', { position: { x: 13_000, y: 100 }, zoneIs: 'own' }, 'position', 'outside_zone'],
    ['on the other side of the wrapping zone', { position: { x: 200, y: 0 }, zoneIs: 'wrap' }, 'position', 'outside_zone'],
    ['in an unknown zone', { position: { x: 12_345, y: 100 }, zone_id: 999_999_999 }, 'zone_id', 'zone_not_found'],
    ['on another floor than its zone', { position: { x: 12_345, y: 100 }, zoneIs: 'own', floor: 2 }, 'zone_id', 'floor_mismatch'],
    ['outside the ring', { position: { x: -5, y: 0 } }, 'position', 'out_of_range'],
    ['past the circumference', { position: { x: 264_000_001, y: 0 } }, 'position', 'out_of_range'],
    ['with an unknown type', { position: { x: 1, y: 0 }, structure_type: 'spaceship' }, 'structure_type', 'unknown_type'],
    ['with scale 0', { position: { x: 1, y: 0 }, scale: 0 }, 'scale', 'out_of_range'],
    ['with a non-integer floor', { position: { x: 1, y: 0 }, floor: 1.5 }, 'floor', 'bad_type'],
    ['with model_data that is not an object', { position: { x: 1, y: 0 }, model_data: [1] }, 'model_data', 'bad_type'],
  ])('refuses a structure %s with 400 INVALID_STRUCTURE and details', async (_name, spec, field, issue) => {
    const { zoneIs, ...body } = spec as Record<string, unknown>;
    if (zoneIs) body.zone_id = zoneIs === 'own' ? zone : wrapZone;
    const r = await place(await registerUser({ tenant }), body);
    expectError(r, 400, 'INVALID_STRUCTURE');
    expect(r.body.details).toMatchObject({ field, issue });
  });

  it("refuses another tenant's zone as if it did not exist", async () => {
    const stranger = await registerUser({ tenant: uniqueTenant() });
    const r = await place(stranger, { position: { x: 12_345, y: 100 }, zone_id: zone });
    expectError(r, 400, 'INVALID_STRUCTURE');
    expect(r.body.details).toMatchObject({ field: 'zone_id', issue: 'zone_not_found' });
  });

  it("keeps tenants apart: another tenant's structure is 404", async () => {
    const s = (await place(owner, { position: { x: 40_000, y: 0 } })).body;
    const stranger = await tenantAdmin(uniqueTenant());
    expectError(await get(`/api/structures/${s.id}`, stranger), 404, 'NOT_FOUND');
    expectError(await put(stranger, s.id, { rotation: 1 }), 404, 'NOT_FOUND');
    expectError(await del(stranger, s.id), 404, 'NOT_FOUND');
    expectError(await get('/api/structures/999999999', owner), 404, 'NOT_FOUND');
  });
});

describe('PUT and DELETE /api/structures/{id}', () => {
  let tenant: string;
  let owner: Session;
  let other: Session;
  let admin: Session;
  let zone: number;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
    other = await registerUser({ tenant });
    admin = await tenantAdmin(tenant);
    zone = await createZone(owner, rect(70_000, 0, 70_400, 100));
  });

  it('lets the owner rotate and merge properties, and replace model_data alone', async () => {
    const s = (await place(owner, { position: { x: 70_100, y: 50 }, zone_id: zone, properties: { height: 50, color: 'red' } }))
      .body;
    const r = await put(owner, s.id, { rotation: 90, properties: { height: 60, color: null } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ id: s.id, rotation: 90, properties: { height: 60 } });
    expect(r.body.properties).not.toHaveProperty('color');
    const m = await put(owner, s.id, { model_data: { mesh: 'b' } });
    expect(m.body).toMatchObject({ rotation: 90, model_data: { mesh: 'b' } });
  });

  it('keeps a structure inside its zone when it moves', async () => {
    const s = (await place(owner, { position: { x: 70_100, y: 50 }, zone_id: zone })).body;
    const out = await put(owner, s.id, { position: { x: 70_500, y: 50 } });
    expectError(out, 400, 'INVALID_STRUCTURE');
    expect(out.body.details).toMatchObject({ field: 'position', issue: 'outside_zone' });
    const inside = await put(owner, s.id, { position: { x: 70_300, y: 20 } });
    expect(inside.body.position).toEqual({ x: 70_300, y: 20 });
  });

  it('refuses a fixed field, an empty update and bad values', async () => {
    const s = (await place(owner, { position: { x: 71_000, y: 0 } })).body;
    expect((await put(owner, s.id, { floor: 1 })).body.details).toMatchObject({ field: 'floor', issue: 'immutable' });
    expect((await put(owner, s.id, { structure_type: 'road' })).body.details).toMatchObject({ field: 'structure_type' });
    expect((await put(owner, s.id, {})).body.details).toMatchObject({ field: 'body', issue: 'empty' });
    const bad = await put(owner, s.id, { rotation: 'north' });
    expectError(bad, 400, 'INVALID_STRUCTURE');
    expect(bad.body.details).toMatchObject({ field: 'rotation', issue: 'bad_type' });
  });

  it("refuses another player's structure with 403; an admin may change and delete it", async () => {
    const s = (await place(owner, { position: { x: 72_000, y: 0 } })).body;
    expectError(await put(other, s.id, { rotation: 10 }), 403, 'AUTHORIZATION_FAILED');
    expectError(await del(other, s.id), 403, 'AUTHORIZATION_FAILED');
    expect((await get(`/api/structures/${s.id}`, owner)).body.rotation).toBe(0);
    expect((await put(admin, s.id, { rotation: 10 })).body).toMatchObject({ rotation: 10, owner_id: owner.user_id });
    expect((await del(admin, s.id)).body).toEqual({ success: true });
    expectError(await get(`/api/structures/${s.id}`, owner), 404, 'NOT_FOUND');
  });

  it('deletes the own structure with {success: true}; a second delete is 404', async () => {
    const s = (await place(owner, { position: { x: 73_000, y: 0 } })).body;
    expect((await del(owner, s.id)).body).toEqual({ success: true });
    expectError(await del(owner, s.id), 404, 'NOT_FOUND');
  });

  it("refuses a zone outline that would leave the zone's structures outside it (INVALID_ZONE)", async () => {
    const z = await createZone(owner, rect(74_000, 0, 74_500, 100));
    const s = (await place(owner, { position: { x: 74_400, y: 50 }, zone_id: z })).body;
    const r = await call(`/api/zones/${z}`, {
      method: 'PUT',
      token: owner.access_token,
      body: { geometry: rect(74_000, 0, 74_200, 100) },
    });
    expectError(r, 400, 'INVALID_ZONE');
    expect(r.body.details).toMatchObject({ field: 'geometry', issue: 'excludes_structures', structure_ids: [s.id] });
  });

  it('leaves structures standing with zone_id null when their zone is deleted', async () => {
    const z = await createZone(owner, rect(75_000, 0, 75_500, 100));
    const s = (await place(owner, { position: { x: 75_100, y: 50 }, zone_id: z })).body;
    expect((await call(`/api/zones/${z}`, { method: 'DELETE', token: owner.access_token })).body).toEqual({ success: true });
    expect((await get(`/api/structures/${s.id}`, owner)).body).toMatchObject({
      id: s.id,
      zone_id: null,
      position: { x: 75_100, y: 50 },
    });
  });
});

describe('GET /api/structures/chunk', () => {
  let tenant: string;
  let owner: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
  });
  const inChunk = (floor: number | string, chunkIndex: number | string, s = owner) =>
    get(`/api/structures/chunk?floor=${floor}&chunk_index=${chunkIndex}`, s);

  it("lists the tenant's structures of one chunk and follows a structure that moves to another", async () => {
    const a = (await place(owner, { position: { x: 90_010, y: 0 } })).body;
    const b = (await place(owner, { position: { x: 90_999, y: 5 }, structure_type: 'decoration' })).body;
    await place(owner, { position: { x: 91_000, y: 0 } });
    await place(owner, { position: { x: 90_500, y: 0 }, floor: 1 });
    const r = await inChunk(0, 90);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.structures.map((s: { id: number }) => s.id)).toEqual([a.id, b.id]);
    expect(r.body.structures[1]).toMatchObject({ structure_type: 'decoration', position: { x: 90_999, y: 5 } });

    await put(owner, a.id, { position: { x: 91_500, y: 0 } });
    expect((await inChunk(0, 90)).body.structures.map((s: { id: number }) => s.id)).toEqual([b.id]);
    expect((await inChunk(0, 91)).body.structures.map((s: { id: number }) => s.id)).toContain(a.id);
    const stranger = await registerUser({ tenant: uniqueTenant() });
    expect((await inChunk(0, 90, stranger)).body.structures).toEqual([]);
  });

  it('puts x = 264,000,000 into chunk 0', async () => {
    const s = (await place(owner, { position: { x: 264_000_000, y: 0 } })).body;
    expect(s.position.x).toBe(0);
    expect((await inChunk(0, 0)).body.structures.map((x: { id: number }) => x.id)).toContain(s.id);
  });

  it.each([
    [16, 0, 'floor'],
    [1.5, 0, 'floor'],
    ['x', 0, 'floor'],
    [0, 264_000, 'chunk_index'],
    [0, -1, 'chunk_index'],
    [0, '', 'chunk_index'],
  ])('refuses floor=%s chunk_index=%s with 400 INVALID_REQUEST', async (floor, chunkIndex, field) => {
    const r = await inChunk(floor, chunkIndex);
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details.field).toBe(field);
  });
});

describe('structure placement limit (20/min per user)', () => {
  it('refuses the 21st placement in a minute with 429 and scope structure_place', async () => {
    const tenant = uniqueTenant();
    const alice = await registerUser({ tenant });
    const { id, limit, windowMs } = LIMITS.STRUCTURE_PLACE;
    expect((await place(alice, { position: { x: 5, y: 0 } })).status).toBe(201);
    const [spent] = await env.RATE_LIMITER.getByName(`user:${tenant}:${alice.user_id}`).hit([{ id, limit, windowMs }], limit - 1);
    expect(spent?.allowed).toBe(true);
    const refused = await place(alice, { position: { x: 6, y: 0 } });
    expectError(refused, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused.body.details).toMatchObject({ scope: 'structure_place', limit: 20 });
    expect((await get('/api/structures/chunk?floor=0&chunk_index=0', alice)).body.structures).toHaveLength(1);
  });
});
