import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { bumpChunkVersions } from '../../src/db/chunks';
import { createZone } from '../../src/db/zones';
import { decodeChunkGeometry, encodeChunkGeometry, MAX_CHUNKS_PER_REQUEST } from '../../src/domain/chunks';
import { generateChunk } from '../../src/domain/procgen';
import { parseZoneDraft } from '../../src/domain/zones';
import { call, expectError, rect, registerUser, type Session, uniqueTenant } from '../support/api';

const get = (path: string, s: Session) => call(path, { method: 'GET', token: s.access_token });
const meta = (s: Session, id: string) => get(`/api/chunks/${id}`, s);
const version = async (s: Session, id: string): Promise<number> => (await meta(s, id)).body.version;
const request = (s: Session, body: unknown) => call('/api/chunks/request', { token: s.access_token, body });

async function gunzipBase64(b64: string): Promise<Uint8Array> {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]); // gzip magic
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('GET /api/chunks/{chunk_id}', () => {
  let s: Session;
  beforeAll(async () => {
    s = await registerUser({ tenant: uniqueTenant() });
  });

  it('answers default metadata (version 1, not dirty) for a chunk nobody changed', async () => {
    const r = await meta(s, '0_12345');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ id: '0_12345', floor: 0, chunk_index: 12345, version: 1, last_modified: null, is_dirty: false });
    expect((await meta(s, '-2_263999')).body).toMatchObject({ id: '-2_263999', floor: -2, chunk_index: 263_999 });
    expect(r.res.headers.get('X-RateLimit-Limit')).not.toBeNull();
  });

  it.each(['abc', '0_01', '0-5', '+1_2', '0_', '0_1_2', '1.5_3'])(
    'refuses the malformed id %s with 400 INVALID_REQUEST',
    async (id) => {
      const r = await meta(s, encodeURIComponent(id));
      expectError(r, 400, 'INVALID_REQUEST');
      expect(r.body.details).toMatchObject({ field: 'chunk_id', issue: 'bad_format' });
    },
  );

  it.each([
    ['16_1', 'floor_out_of_range'],
    ['-3_1', 'floor_out_of_range'],
    ['0_264000', 'index_out_of_range'],
  ])('answers 404 CHUNK_NOT_FOUND for %s, a chunk outside the ring', async (id, issue) => {
    const r = await meta(s, id);
    expectError(r, 404, 'CHUNK_NOT_FOUND');
    expect(r.body.details.issue).toBe(issue);
  });

  it('needs a token', async () => {
    expectError(await call('/api/chunks/0_1', { method: 'GET' }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('chunk versions bump on zone and structure changes', () => {
  let tenant: string;
  let s: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    s = await registerUser({ tenant });
  });

  it('bumps every chunk a zone covers on create, update and delete, and no other', async () => {
    // x 500,500..501,500 covers chunks 500 and 501.
    const z = await call('/api/zones', {
      token: s.access_token,
      body: { name: 'Z', zone_type: 'park', floor: 0, geometry: rect(500_500, 0, 501_500, 100) },
    });
    expect(z.status).toBe(201);
    const m = (await meta(s, '0_500')).body;
    expect(m).toMatchObject({ version: 2, is_dirty: true });
    expect(Date.parse(m.last_modified)).not.toBeNaN();
    expect(await version(s, '0_501')).toBe(2);
    expect(await version(s, '0_502')).toBe(1);
    expect(await version(s, '0_499')).toBe(1);
    expect(await version(s, '1_500')).toBe(1);

    await call(`/api/zones/${z.body.id}`, { method: 'PUT', token: s.access_token, body: { name: 'Renamed' } });
    expect([await version(s, '0_500'), await version(s, '0_501')]).toEqual([3, 3]);

    // Moving the outline to 501,200..502,300: leaves 500, stays in 501, enters 502; all three bump.
    await call(`/api/zones/${z.body.id}`, {
      method: 'PUT',
      token: s.access_token,
      body: { geometry: rect(501_200, 0, 502_300, 100) },
    });
    expect([await version(s, '0_500'), await version(s, '0_501'), await version(s, '0_502')]).toEqual([4, 4, 2]);

    await call(`/api/zones/${z.body.id}`, { method: 'DELETE', token: s.access_token });
    expect([await version(s, '0_500'), await version(s, '0_501'), await version(s, '0_502')]).toEqual([4, 5, 3]);
  });

  it('bumps nothing for a refused change', async () => {
    const before = await version(s, '0_600');
    const bad = await call('/api/zones', {
      token: s.access_token,
      body: {
        name: 'Bad',
        zone_type: 'park',
        floor: 0,
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [600_100, 0],
              [600_200, 100],
              [600_200, 0],
              [600_100, 100],
              [600_100, 0],
            ],
          ],
        },
      },
    });
    expectError(bad, 400, 'INVALID_ZONE');
    expect(await version(s, '0_600')).toBe(before);
  });

  it("bumps a structure's chunk on place, update and delete; a move bumps both chunks", async () => {
    const p = await call('/api/structures', {
      token: s.access_token,
      body: { structure_type: 'building', position: { x: 700_500, y: 0 }, floor: 0 },
    });
    expect(p.status).toBe(201);
    expect(await version(s, '0_700')).toBe(2);
    await call(`/api/structures/${p.body.id}`, { method: 'PUT', token: s.access_token, body: { rotation: 30 } });
    expect(await version(s, '0_700')).toBe(3);
    await call(`/api/structures/${p.body.id}`, {
      method: 'PUT',
      token: s.access_token,
      body: { position: { x: 701_500, y: 0 } },
    });
    expect([await version(s, '0_700'), await version(s, '0_701')]).toEqual([4, 2]);
    await call(`/api/structures/${p.body.id}`, { method: 'DELETE', token: s.access_token });
    expect([await version(s, '0_700'), await version(s, '0_701')]).toEqual([4, 3]);
  });

  it('keeps versions per tenant', async () => {
    const other = await registerUser({ tenant: uniqueTenant() });
    expect(await version(other, '0_500')).toBe(1);
    expect(await version(s, '0_500')).toBeGreaterThan(1);
  });

  it('a zone across the wrap point bumps the last and the first chunk of the floor', async () => {
    await call('/api/zones', {
      token: s.access_token,
      body: { name: 'Wrap', zone_type: 'park', floor: 2, geometry: rect(263_999_900, 0, 100, 50) },
    });
    expect([await version(s, '2_263999'), await version(s, '2_0'), await version(s, '2_1')]).toEqual([2, 2, 1]);
  });

  it('reports changed chunk ids, versions and change kinds to the caller (for chunk_updated)', async () => {
    const t = uniqueTenant();
    await env.DB.prepare('INSERT OR IGNORE INTO tenants (id) VALUES (?1)').bind(t).run();
    const changes = await bumpChunkVersions(env.DB, t, [
      { floor: 0, chunkIndex: 5, what: 'structures', change: 'added' },
      { floor: 0, chunkIndex: 5, what: 'zones', change: 'removed' },
      { floor: 0, chunkIndex: 5, what: 'structures', change: 'added' },
      { floor: 1, chunkIndex: 6, what: 'structures', change: 'modified' },
    ]);
    expect(changes).toEqual([
      { chunk_id: '0_5', floor: 0, chunk_index: 5, version: 2, changes: { structures: ['added'], zones: ['removed'] } },
      { chunk_id: '1_6', floor: 1, chunk_index: 6, version: 2, changes: { structures: ['modified'], zones: [] } },
    ]);
    const again = await bumpChunkVersions(env.DB, t, [{ floor: 0, chunkIndex: 5, what: 'zones', change: 'modified' }]);
    expect(again).toEqual([
      { chunk_id: '0_5', floor: 0, chunk_index: 5, version: 3, changes: { structures: [], zones: ['modified'] } },
    ]);

    const draft = parseZoneDraft({ name: 'Q', zone_type: 'park', floor: 0, geometry: rect(4_500, 0, 5_500, 10) });
    const created = await createZone(env.DB, t, 1, draft, new Date().toISOString());
    expect(created.changes.map((c) => [c.chunk_id, c.version, c.changes.zones])).toEqual([
      ['0_4', 2, ['added']],
      ['0_5', 4, ['added']],
    ]);
  });
});

describe('POST /api/chunks/request', () => {
  let tenant: string;
  let s: Session;
  let zoneId: number;
  let structureId: number;
  beforeAll(async () => {
    tenant = uniqueTenant();
    s = await registerUser({ tenant });
    zoneId = (
      await call('/api/zones', {
        token: s.access_token,
        body: { name: 'Plaza', zone_type: 'commercial', floor: 0, geometry: rect(12_345_100, -50, 12_345_900, 50) },
      })
    ).body.id;
    structureId = (
      await call('/api/structures', {
        token: s.access_token,
        body: { structure_type: 'landmark', position: { x: 12_345_500, y: 0 }, floor: 0, zone_id: zoneId },
      })
    ).body.id;
  });

  it('returns generated geometry (gzip + base64 ERCG), real and generated structures and zones, and metadata', async () => {
    const r = await request(s, { chunks: ['0_12345', '0_12346'], lod_level: 'medium' });
    expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBe(200);
    expect(r.body.chunks.map((c: { id: string }) => c.id)).toEqual(['0_12345', '0_12346']);
    const [first, second] = r.body.chunks;

    expect(first.metadata).toMatchObject({
      id: '0_12345',
      floor: 0,
      chunk_index: 12_345,
      version: 3, // the zone and the structure each bumped it
      is_dirty: true,
      lod_level: 'medium',
      world_seed: 12_345,
      width: 400,
      length: 1000,
      encoding: { format: 'edgerooms-chunk-v1', compression: 'gzip', encoding: 'base64' },
    });
    expect(first.metadata.version).toBe(await version(s, '0_12345'));
    expect(second.metadata).toMatchObject({ version: 1, is_dirty: false });

    const geometry = decodeChunkGeometry(await gunzipBase64(first.geometry));
    expect(geometry).toMatchObject({ format: 1, lod: 'medium', floor: 0, chunkIndex: 12_345, worldSeed: 12_345 });
    expect(geometry.chunkSeed).toBe(first.metadata.chunk_seed);
    expect(geometry.terrain).toMatchObject({ cols: 41, rows: 17, spacing: 25 });
    expect(geometry.roads.length).toBeGreaterThan(0);

    // The tenant's own rows come first, then the generated content.
    expect(first.structures[0]).toMatchObject({ id: structureId, structure_type: 'landmark', zone_id: zoneId });
    expect(first.zones[0]).toMatchObject({ id: zoneId, name: 'Plaza' });
    const generatedBuildings = first.structures.filter(
      (x: { generated?: boolean; structure_type: string }) => x.generated && x.structure_type === 'building',
    );
    expect(generatedBuildings).toHaveLength(geometry.buildings.length);
    expect(first.structures.filter((x: { structure_type: string }) => x.structure_type === 'road')).toHaveLength(
      geometry.roads.length,
    );
    expect(first.zones.slice(1).every((z: { generated: boolean; id: string }) => z.generated && z.id.startsWith('gen:'))).toBe(
      true,
    );
    expect(second.structures.every((x: { generated?: boolean }) => x.generated)).toBe(true);
  });

  it('answers byte-identical geometry every time, equal to a fresh generation, and stores it once', async () => {
    const body = { chunks: ['3_777'], lod_level: 'high' };
    const a = (await request(s, body)).body.chunks[0];
    const b = (await request(s, body)).body.chunks[0];
    expect(b.geometry).toBe(a.geometry);
    expect(b.structures).toEqual(a.structures);
    const decoded = await gunzipBase64(a.geometry);
    expect(decoded).toEqual(encodeChunkGeometry(generateChunk({ floor: 3, chunkIndex: 777, lod: 'high', worldSeed: 12_345 })));
    const rows = await env.DB.prepare(
      "SELECT geometry FROM generated_chunks WHERE world_seed = 12345 AND floor = 3 AND chunk_index = 777 AND lod = 'high'",
    ).all<{ geometry: string }>();
    expect(rows.results).toEqual([{ geometry: a.geometry }]);
    // Regenerating from scratch gives the same bytes.
    await env.DB.prepare(
      "DELETE FROM generated_chunks WHERE world_seed = 12345 AND floor = 3 AND chunk_index = 777 AND lod = 'high'",
    ).run();
    expect((await request(s, body)).body.chunks[0].geometry).toBe(a.geometry);
  });

  it('serves the stored generation rather than generating again', async () => {
    const body = { chunks: ['4_888'], lod_level: 'low' };
    const first = (await request(s, body)).body.chunks[0];
    const key = "world_seed = 12345 AND floor = 4 AND chunk_index = 888 AND lod = 'low'";
    await env.DB.prepare(`UPDATE generated_chunks SET geometry = 'c3RvcmVk' WHERE ${key}`).run();
    expect((await request(s, body)).body.chunks[0].geometry).toBe('c3RvcmVk');
    await env.DB.prepare(`UPDATE generated_chunks SET geometry = ?1 WHERE ${key}`).bind(first.geometry).run();
  });

  it('gives each LOD its own terrain grid and the same roads and buildings', async () => {
    const [low, high] = await Promise.all(
      ['low', 'high'].map(async (lod) => (await request(s, { chunks: ['0_12346'], lod_level: lod })).body.chunks[0]),
    );
    const gl = decodeChunkGeometry(await gunzipBase64(low.geometry));
    const gh = decodeChunkGeometry(await gunzipBase64(high.geometry));
    expect([gl.terrain.cols, gh.terrain.cols]).toEqual([11, 101]);
    expect(gh.buildings).toEqual(gl.buildings);
    expect(low.metadata.lod_level).toBe('low');
  });

  it('includes a zone across the wrap point in the last and the first chunk', async () => {
    const t = await registerUser({ tenant: uniqueTenant() });
    const z = await call('/api/zones', {
      token: t.access_token,
      body: { name: 'Seam', zone_type: 'park', floor: 0, geometry: rect(263_999_800, 0, 200, 50) },
    });
    const r = await request(t, { chunks: ['0_263999', '0_0', '0_1'] });
    const own = r.body.chunks.map((c: { zones: { id: unknown }[] }) => c.zones.filter((x) => x.id === z.body.id).length);
    expect(own).toEqual([1, 1, 0]);
    expect(r.body.chunks[0].metadata.lod_level).toBe('medium');
  });

  it('keeps tenants apart: another tenant sees only generated content', async () => {
    const other = await registerUser({ tenant: uniqueTenant() });
    const c = (await request(other, { chunks: ['0_12345'] })).body.chunks[0];
    expect(c.structures.every((x: { generated?: boolean }) => x.generated)).toBe(true);
    expect(c.zones.every((x: { generated?: boolean }) => x.generated)).toBe(true);
    expect(c.metadata.version).toBe(1);
  });

  it.each([
    ['no chunks', {}, 'chunks', 'bad_type'],
    ['an empty list', { chunks: [] }, 'chunks', 'bad_type'],
    ['a malformed id', { chunks: ['0_1', 'zero_two'] }, 'chunks[1]', 'bad_format'],
    ['too many ids', { chunks: Array.from({ length: MAX_CHUNKS_PER_REQUEST + 1 }, (_, i) => `0_${i}`) }, 'chunks', 'too_many'],
    ['an unknown LOD', { chunks: ['0_1'], lod_level: 'ultra' }, 'lod_level', 'unknown_lod'],
  ])('refuses %s with 400 INVALID_REQUEST', async (_name, body, field, issue) => {
    const r = await request(s, body);
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details).toMatchObject({ field, issue });
  });

  it('answers 404 CHUNK_NOT_FOUND for a chunk outside the ring', async () => {
    expectError(await request(s, { chunks: ['0_1', '16_0'] }), 404, 'CHUNK_NOT_FOUND');
  });
});

describe('chunk request limit (100/min per user)', () => {
  it('refuses the 101st chunk request in a minute, metadata or content, with 429 and scope chunk_request', async () => {
    const tenant = uniqueTenant();
    const s = await registerUser({ tenant });
    expect((await meta(s, '0_1')).status).toBe(200);
    const { id, limit, windowMs } = LIMITS.CHUNK_REQUEST;
    const [spent] = await env.RATE_LIMITER.getByName(`user:${tenant}:${s.user_id}`).hit([{ id, limit, windowMs }], limit - 1);
    expect(spent?.allowed).toBe(true);
    const refused = await meta(s, '0_1');
    expectError(refused, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused.body.details).toMatchObject({ scope: 'chunk_request', limit: 100 });
    expectError(await request(s, { chunks: ['0_1'] }), 429, 'RATE_LIMIT_EXCEEDED');
    // Other routes of the same user are not chunk requests.
    expect((await get('/api/players/me', s)).status).toBe(200);
  });
});
