import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeChunkGeometry } from '../../src/domain/chunks';
import { call, expectError, registerUser, type Session } from '../support/api';

/** The documented seed function, written out independently of src/domain/procgen.ts. */
function referenceChunkSeed(worldSeed: number, floor: number, chunkIndex: number): number {
  const fmix = (h: number) => {
    let x = h >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  };
  return fmix(fmix(fmix(0x9e3779b9 ^ worldSeed) ^ (floor + 2)) ^ chunkIndex);
}

async function gunzipBase64(b64: string): Promise<Uint8Array> {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('POST /api/v1/chunks/generate', () => {
  let s: Session;
  beforeAll(async () => {
    s = await registerUser();
  });
  const generate = (body: unknown, path = '/api/v1/chunks/generate') => call(path, { token: s.access_token, body });

  it('answers the seed shape with real geometry, structures and zones (default world seed 12345)', async () => {
    const r = await generate({ floor: 0, chunk_index: 12345, lod_level: 'medium' });
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    expect(r.body).toMatchObject({
      success: true,
      chunk: {
        chunk_id: '0_12345',
        floor: 0,
        chunk_index: 12345,
        width: 400.0,
        version: 1,
        lod_level: 'medium',
        world_seed: 12345,
        chunk_seed: referenceChunkSeed(12345, 0, 12345),
        encoding: { format: 'edgerooms-chunk-v1', compression: 'gzip', encoding: 'base64' },
      },
      message: expect.any(String),
    });
    const g = decodeChunkGeometry(await gunzipBase64(r.body.geometry));
    expect(g).toMatchObject({ floor: 0, chunkIndex: 12345, worldSeed: 12345, lod: 'medium', chunkSeed: r.body.chunk.chunk_seed });
    expect(g.roads.length + g.transit.length).toBeGreaterThan(0);
    expect(r.body.structures.length).toBe(g.buildings.length + g.roads.length + g.transit.length);
    expect(r.body.zones.length).toBeGreaterThan(0);
    for (const z of r.body.zones) expect(z).toMatchObject({ generated: true, floor: 0, geometry: { type: 'Polygon' } });
    for (const st of r.body.structures) expect(['building', 'road', 'transit']).toContain(st.structure_type);
  });

  it('is the same at /api/chunks/generate and byte-identical on every call', async () => {
    const body = { floor: -1, chunk_index: 4242, lod_level: 'high' };
    const a = await generate(body);
    const b = await generate(body, '/api/chunks/generate');
    expect(b.body).toEqual(a.body);
  });

  it('matches the chunk request for the world seed (one cache entry serves both)', async () => {
    const g = await generate({ floor: 1, chunk_index: 9, lod_level: 'low' });
    const c = await call('/api/chunks/request', { token: s.access_token, body: { chunks: ['1_9'], lod_level: 'low' } });
    expect(c.body.chunks[0].geometry).toBe(g.body.geometry);
    const n = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM generated_chunks WHERE world_seed = 12345 AND floor = 1 AND chunk_index = 9 AND lod = 'low'",
    ).first<{ n: number }>();
    expect(n?.n).toBe(1);
  });

  it('generates other world seeds deterministically without caching them', async () => {
    const body = { floor: 0, chunk_index: 12345, lod_level: 'medium', world_seed: 987654321 };
    const a = await generate(body);
    expect(a.body.chunk).toMatchObject({ world_seed: 987654321, chunk_seed: referenceChunkSeed(987654321, 0, 12345) });
    const b = await generate(body);
    expect(b.body.geometry).toBe(a.body.geometry);
    const base = await generate({ floor: 0, chunk_index: 12345, lod_level: 'medium' });
    expect(a.body.geometry).not.toBe(base.body.geometry);
    const n = await env.DB.prepare('SELECT COUNT(*) AS n FROM generated_chunks WHERE world_seed = 987654321').first<{
      n: number;
    }>();
    expect(n?.n).toBe(0);
  });

  it('defaults the LOD to medium', async () => {
    const r = await generate({ floor: 0, chunk_index: 1 });
    expect(r.body.chunk.lod_level).toBe('medium');
  });

  it.each([
    ['floor 16', { floor: 16, chunk_index: 1 }, 'floor'],
    ['a fractional floor', { floor: 0.5, chunk_index: 1 }, 'floor'],
    ['no floor', { chunk_index: 1 }, 'floor'],
    ['chunk_index 264000', { floor: 0, chunk_index: 264_000 }, 'chunk_index'],
    ['a string chunk_index', { floor: 0, chunk_index: '12' }, 'chunk_index'],
    ['an unknown LOD', { floor: 0, chunk_index: 1, lod_level: 'ultra' }, 'lod_level'],
    ['a negative world seed', { floor: 0, chunk_index: 1, world_seed: -1 }, 'world_seed'],
    ['a world seed past uint32', { floor: 0, chunk_index: 1, world_seed: 2 ** 32 }, 'world_seed'],
  ])('refuses %s with 400 INVALID_REQUEST', async (_name, body, field) => {
    const r = await generate(body);
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details.field).toBe(field);
  });

  it('needs a token (an internal service API, served to authenticated callers only)', async () => {
    expectError(await call('/api/v1/chunks/generate', { body: { floor: 0, chunk_index: 1 } }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('GET /api/v1/chunks/seed/{floor}/{chunk_index}', () => {
  let s: Session;
  beforeAll(async () => {
    s = await registerUser();
  });
  const seed = (path: string) => call(`/api/v1/chunks/seed/${path}`, { method: 'GET', token: s.access_token });

  it('answers {floor, chunk_index, world_seed, chunk_seed} from the documented function', async () => {
    const r = await seed('0/12345?world_seed=12345');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ floor: 0, chunk_index: 12345, world_seed: 12345, chunk_seed: referenceChunkSeed(12345, 0, 12345) });
    expect((await seed('-2/263999?world_seed=4294967295')).body.chunk_seed).toBe(referenceChunkSeed(4294967295, -2, 263999));
    expect((await seed('15/0')).body).toMatchObject({ world_seed: 12345, chunk_seed: referenceChunkSeed(12345, 15, 0) });
  });

  it('agrees with the seed the generator used', async () => {
    const g = await call('/api/chunks/generate', { token: s.access_token, body: { floor: 2, chunk_index: 77 } });
    expect((await seed('2/77')).body.chunk_seed).toBe(g.body.chunk.chunk_seed);
  });

  it.each([
    ['16/1', 'floor'],
    ['-3/1', 'floor'],
    ['x/1', 'floor'],
    ['0/264000', 'chunk_index'],
    ['0/1.5', 'chunk_index'],
    ['0/1?world_seed=abc', 'world_seed'],
    ['0/1?world_seed=-5', 'world_seed'],
  ])('refuses %s with 400 INVALID_REQUEST', async (path, field) => {
    const r = await seed(path);
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.details.field).toBe(field);
  });

  it('needs a token', async () => {
    expectError(await call('/api/v1/chunks/seed/0/1', { method: 'GET' }), 401, 'AUTHENTICATION_REQUIRED');
  });
});
