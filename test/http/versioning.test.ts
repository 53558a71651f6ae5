import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

const BASE = 'https://edge.test';
const ip = () => `2001:db8:f0:${crypto.randomUUID().slice(0, 4)}::1`;

async function send(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await SELF.fetch(`${BASE}${path}`, { ...init, headers: { 'CF-Connecting-IP': ip(), ...init.headers } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const badLogin = { username: 'no_such_user_anywhere', password: 'Wrong-Pass-123!' };
const postLogin = (path: string, headers: Record<string, string> = {}) =>
  send(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(badLogin),
  });

describe('/api/v1 alias', () => {
  it('routes /api/v1/<path> exactly like /api/<path> (same 404 body)', async () => {
    const plain = await send('/api/does-not-exist');
    const v1 = await send('/api/v1/does-not-exist');
    expect(plain.status).toBe(404);
    expect(v1).toEqual(plain);
  });

  it('reaches the real handlers under /api/v1 (login answers the same)', async () => {
    const plain = await postLogin('/api/auth/login');
    const v1 = await postLogin('/api/v1/auth/login');
    expect(plain.status).toBe(401);
    expect(v1).toEqual(plain);
  });

  it('refuses an unknown path version with 400 INVALID_REQUEST naming the supported ones', async () => {
    for (const path of ['/api/v2/x', '/api/v0/auth/login', '/api/v10']) {
      const res = await SELF.fetch(`${BASE}${path}`, { headers: { 'CF-Connecting-IP': ip() } });
      const status = res.status;
      const body = (await res.json()) as Record<string, unknown>;
      expect(status, path).toBe(400);
      expect(body.error, path).toBe('INVALID_REQUEST');
      expect(body.details, path).toMatchObject({ field: 'path', issue: 'unsupported_version', supported: ['1'] });
      // Refused inside the app, after the global limit: counted and labelled like any answer.
      expect(res.headers.get('X-RateLimit-Limit'), path).toBe('1000');
    }
  });

  it('does not mistake a path that merely starts with /api/v for a version', async () => {
    const { status, body } = await send('/api/vehicles/1');
    expect(status).toBe(404);
    expect(body.error).toBe('NOT_FOUND');
  });
});

describe('API-Version header', () => {
  it('accepts API-Version: 1 (and v1) on the same handlers', async () => {
    const plain = await postLogin('/api/auth/login');
    expect(await postLogin('/api/auth/login', { 'API-Version': '1' })).toEqual(plain);
    expect(await postLogin('/api/auth/login', { 'API-Version': 'v1' })).toEqual(plain);
    expect((await send('/health', { headers: { 'API-Version': '1' } })).status).toBe(200);
  });

  it('refuses an unknown version with 400 INVALID_REQUEST', async () => {
    for (const version of ['7', '2', 'latest']) {
      const { status, body } = await send('/api/does-not-exist', { headers: { 'API-Version': version } });
      expect(status, version).toBe(400);
      expect(body.error, version).toBe('INVALID_REQUEST');
      expect(body.message, version).toContain(`"${version}"`);
      expect(body.details, version).toMatchObject({ field: 'API-Version', issue: 'unsupported_version' });
    }
  });
});
