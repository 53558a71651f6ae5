import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { corsPatterns, originAllowed } from '../../src/http/middleware/cors';

const BASE = 'https://edge.test';
const ip = () => `2001:db8:c05:${crypto.randomUUID().slice(0, 4)}::1`;
// wrangler.toml's dev default: CORS_ORIGINS = "http://localhost:*, http://127.0.0.1:*"
const APP = 'http://localhost:5173';

const preflight = (path: string, origin: string, from: string) =>
  SELF.fetch(`${BASE}${path}`, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type, authorization',
      'CF-Connecting-IP': from,
    },
  });

describe('CORS', () => {
  it('answers a preflight from an allowed origin with 204 and the allowed methods and headers', async () => {
    const res = await preflight('/api/auth/login', APP, ip());
    expect(res.status).toBe(204);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe(APP);
    expect(res.headers.get('Access-Control-Allow-Methods')).toMatch(/POST/);
    expect(res.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toMatch(/authorization/);
    expect(res.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toMatch(/x-tenant-id/);
    expect(res.headers.get('Access-Control-Max-Age')).toBe('600');
    expect(res.headers.get('Access-Control-Allow-Credentials')).toBeNull();
  });

  it('keeps preflights out of the rate limits: ten preflights, then the first of five logins still passes', async () => {
    const from = ip();
    for (let i = 0; i < 10; i++) {
      const res = await preflight('/api/auth/login', APP, from);
      expect(res.status).toBe(204);
      expect(res.headers.get('X-RateLimit-Limit')).toBeNull();
    }
    const login = await SELF.fetch(`${BASE}/api/auth/login`, {
      method: 'POST',
      headers: { Origin: APP, 'Content-Type': 'application/json', 'CF-Connecting-IP': from },
      body: JSON.stringify({ username: 'nobody-here', password: 'Wrong-Pass-1' }),
    });
    expect(login.status).toBe(401);
    expect(login.headers.get('X-RateLimit-Limit')).toBe('5');
    expect(login.headers.get('X-RateLimit-Remaining')).toBe('4');
  });

  it('lets the page read errors and the rate-limit headers of a real request', async () => {
    const res = await SELF.fetch(`${BASE}/api/players/me`, { headers: { Origin: APP, 'CF-Connecting-IP': ip() } });
    expect(res.status).toBe(401);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe(APP);
    expect(res.headers.get('Access-Control-Expose-Headers')).toMatch(/X-RateLimit-Remaining/);
    expect(res.headers.get('Vary')).toMatch(/Origin/);
  });

  it('gives an origin that is not configured no Access-Control-Allow-Origin', async () => {
    const res = await preflight('/api/auth/login', 'https://evil.example', ip());
    expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
    const get = await SELF.fetch(`${BASE}/health`, { headers: { Origin: 'https://evil.example', 'CF-Connecting-IP': ip() } });
    expect(get.status).toBe(200);
    expect(get.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('matches configured origins exactly, with * for a port or one subdomain label', () => {
    const patterns = corsPatterns(' http://localhost:*, https://*.example.com ,https://app.test/, ');
    expect(patterns).toEqual(['http://localhost:*', 'https://*.example.com', 'https://app.test']);
    expect(originAllowed('http://localhost:8787', patterns)).toBe(true);
    expect(originAllowed('http://localhost', patterns)).toBe(false);
    expect(originAllowed('http://localhost:80.evil.com', patterns)).toBe(false);
    expect(originAllowed('https://a.example.com', patterns)).toBe(true);
    expect(originAllowed('https://a.b.example.com', patterns)).toBe(false);
    expect(originAllowed('https://example.com', patterns)).toBe(false);
    expect(originAllowed('https://app.test', patterns)).toBe(true);
    expect(originAllowed('https://app.test.evil', patterns)).toBe(false);
    expect(originAllowed('http://localhost:3000', corsPatterns(''))).toBe(false);
  });
});
