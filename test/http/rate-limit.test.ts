import {
  createExecutionContext,
  env,
  evictDurableObject,
  runInDurableObject,
  SELF,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/actors/rate-limiter';
import type { Identity } from '../../src/auth/identity';
import type { StoredBudget } from '../../src/core/budgets';
import { LIMITS } from '../../src/core/limits';
import { handleError } from '../../src/http/app';
import { clientIp, globalRateLimit, rateLimitBy } from '../../src/http/middleware/rate-limit';
import { router } from '../../src/http/validation';

const BASE = 'https://edge.test';
/** A fresh documentation-range (2001:db8::/32) IP per test, so tests never share a limiter object. */
const freshIp = () => {
  const hex = crypto.randomUUID().replaceAll('-', '');
  return `2001:db8:${hex.slice(0, 4)}:${hex.slice(4, 8)}::1`;
};

const login = (ip: string) =>
  SELF.fetch(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip },
    body: JSON.stringify({ username: 'nobody', password: 'Wrong-Pass-123!' }),
  });

const headerNumbers = (res: Response) => ({
  limit: Number(res.headers.get('X-RateLimit-Limit')),
  remaining: Number(res.headers.get('X-RateLimit-Remaining')),
  reset: Number(res.headers.get('X-RateLimit-Reset')),
});

describe('clientIp', () => {
  it('takes CF-Connecting-IP, else the first X-Forwarded-For hop, else unknown', () => {
    expect(clientIp(new Headers({ 'CF-Connecting-IP': '203.0.113.5', 'X-Forwarded-For': '198.51.100.1' }))).toBe('203.0.113.5');
    expect(clientIp(new Headers({ 'X-Forwarded-For': ' 198.51.100.1 , 10.0.0.1' }))).toBe('198.51.100.1');
    expect(clientIp(new Headers())).toBe('unknown');
  });
});

describe('X-RateLimit headers', () => {
  it('come on every normal answer, with Remaining and Reset in Unix seconds', async () => {
    const ip = freshIp();
    const before = Math.floor(Date.now() / 1000);
    const first = await SELF.fetch(`${BASE}/health`, { headers: { 'CF-Connecting-IP': ip } });
    const second = await SELF.fetch(`${BASE}/health`, { headers: { 'CF-Connecting-IP': ip } });
    expect(first.status).toBe(200);
    const after = Math.ceil(Date.now() / 1000);
    expect(headerNumbers(first)).toMatchObject({ limit: 1000, remaining: 999 });
    // A sliding window: nothing frees up before the first hit is a minute old.
    expect(headerNumbers(second)).toMatchObject({ limit: 1000, remaining: 998 });
    // Reset is when the oldest hit leaves the window: a minute after the first answer, whenever that came.
    const { reset } = headerNumbers(second);
    expect(reset).toBeGreaterThanOrEqual(before + 60);
    expect(reset).toBeLessThanOrEqual(after + 60);
  });

  it('come on a 404 and on errors raised further down the pipeline (415 from the JSON guard)', async () => {
    const ip = freshIp();
    const notFound = await SELF.fetch(`${BASE}/api/no-such-route`, { headers: { 'CF-Connecting-IP': ip } });
    expect(notFound.status).toBe(404);
    expect(headerNumbers(notFound)).toMatchObject({ limit: 1000, remaining: 999 });
    const unsupported = await SELF.fetch(`${BASE}/api/no-such-route`, {
      method: 'POST',
      headers: { 'CF-Connecting-IP': ip, 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    expect(unsupported.status).toBe(415);
    expect(headerNumbers(unsupported)).toMatchObject({ limit: 1000, remaining: 998 });
  });

  it('come on a 500 thrown from a handler (the onError path), without leaking the error', async () => {
    const app = router();
    app.onError(handleError);
    app.use('*', globalRateLimit);
    app.get('/boom', () => {
      throw new Error('secret internals');
    });
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${BASE}/boom`, { headers: { 'CF-Connecting-IP': freshIp() } }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(500);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toEqual({ error: 'SERVER_ERROR', message: 'Internal server error' });
    expect(headerNumbers(res)).toMatchObject({ limit: 1000, remaining: 999 });
  });
});

describe('auth limit: 5 per minute per IP', () => {
  it('answers the sixth call in a minute with 429, the seed body, Retry-After and headers', async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await login(ip);
      expect(res.status).not.toBe(429);
      // The auth decision is the most restrictive one, so it is the one shown.
      expect(headerNumbers(res)).toMatchObject({ limit: 5, remaining: 4 - i });
    }
    const refused = await login(ip);
    expect(refused.status).toBe(429);
    const body = await refused.json<Record<string, unknown>>();
    expect(body).toEqual({
      error: 'RATE_LIMIT_EXCEEDED',
      message: 'Too many requests. Please try again later.',
      retry_after: expect.any(Number),
      details: { limit: 5, window_seconds: 60, scope: 'auth' },
    });
    const retryAfter = body.retry_after as number;
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60); // until the first of the five leaves the window
    expect(refused.headers.get('Retry-After')).toBe(String(retryAfter));
    expect(refused.headers.get('Content-Type')).toMatch(/application\/json/);
    expect(headerNumbers(refused)).toMatchObject({ limit: 5, remaining: 0 });
    expect(headerNumbers(refused).reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 59);
  });

  it('leaves another IP, and the same IP on other routes, unaffected', async () => {
    const ip = freshIp();
    for (let i = 0; i < 6; i++) await login(ip);
    expect((await login(ip)).status).toBe(429);
    const other = await login(freshIp());
    expect(other.status).not.toBe(429);
    expect(headerNumbers(other)).toMatchObject({ limit: 5, remaining: 4 });
    const health = await SELF.fetch(`${BASE}/health`, { headers: { 'CF-Connecting-IP': ip } });
    expect(health.status).toBe(200);
    expect(headerNumbers(health).limit).toBe(1000);
  });

  it('keeps counting across an eviction of the limiter object', async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await login(ip)).status).not.toBe(429);
    const stub = env.RATE_LIMITER.getByName(`ip:${ip}`);
    // Flushed first: the runtime waits out the pending idle-flush timer before it evicts; the crash case is below.
    const evict = async () => {
      await stub.flush();
      await evictDurableObject(stub);
    };
    await evict();
    expect(headerNumbers(await login(ip))).toMatchObject({ limit: 5, remaining: 1 });
    await evict();
    expect(headerNumbers(await login(ip))).toMatchObject({ limit: 5, remaining: 0 });
    await evict();
    expect((await login(ip)).status).toBe(429);
  });
});

describe('global limit: 1000 per minute per IP', () => {
  it('refuses the 1001st request of a minute with scope global, however fast the test runs', async () => {
    const ip = freshIp();
    // A minute's worth through the limiter object itself (cost 1000), then over HTTP: nothing frees up for 60 s.
    const [pre] = await env.RATE_LIMITER.getByName(`ip:${ip}`).hit([LIMITS.GLOBAL], 1000);
    expect(pre).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await SELF.fetch(`${BASE}/health`, { headers: { 'CF-Connecting-IP': ip } });
    expect(refused.status).toBe(429);
    const body = await refused.json<{ retry_after: number; details: unknown }>();
    expect(body.details).toEqual({ limit: 1000, window_seconds: 60, scope: 'global' });
    expect(body.retry_after).toBeGreaterThan(50);
    expect(body.retry_after).toBeLessThanOrEqual(60);
    expect(refused.headers.get('Retry-After')).toBe(String(body.retry_after));
    expect(headerNumbers(refused)).toMatchObject({ limit: 1000, remaining: 0 });
  });
});

describe('RateLimiter object', () => {
  const A = { id: 'a', limit: 1, windowMs: 60_000 };
  const B = { id: 'b', limit: 5, windowMs: 60_000 };
  const HUNDRED = { id: 'h', limit: 100, windowMs: 60_000 };
  const stored = (stub: DurableObjectStub<RateLimiter>) =>
    runInDurableObject(stub, (_, state) => [...state.storage.kv.list<StoredBudget>({ prefix: 'window|' })]);

  it('is all or nothing: a refused hit consumes no rule', async () => {
    const stub = env.RATE_LIMITER.getByName(`test:${crypto.randomUUID()}`);
    const first = await stub.hit([A, B]);
    expect(first.map((d) => [d.id, d.allowed, d.remaining])).toEqual([
      ['a', true, 0],
      ['b', true, 4],
    ]);
    const second = await stub.hit([A, B]);
    expect(second.map((d) => [d.id, d.allowed, d.remaining])).toEqual([
      ['a', false, 0],
      ['b', true, 4],
    ]);
    const [b] = await stub.hit([B]);
    expect(b?.remaining).toBe(3);
  });

  it('sets no alarm and writes once per tenth of the limit (or more ahead in a burst), not once per hit', async () => {
    const stub = env.RATE_LIMITER.getByName(`test:${crypto.randomUUID()}`);
    await stub.hit([HUNDRED]);
    const [first] = await stored(stub);
    expect(first?.[1]).toMatchObject({ reserve: 10 });
    const seen = new Set([JSON.stringify(first)]);
    for (let i = 0; i < 29; i++) {
      await stub.hit([HUNDRED]);
      seen.add(JSON.stringify(await stored(stub)));
    }
    // 30 hits, at most one write per 5 (the next reservation is written when half of one is left).
    expect(seen.size).toBeLessThanOrEqual(6);
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBeNull();
  });

  it('never hands out a fresh budget after an eviction: exact once flushed, the reservation counted if not', async () => {
    const stub = env.RATE_LIMITER.getByName(`test:${crypto.randomUUID()}`);
    await stub.hit([HUNDRED], 30);
    await stub.hit([HUNDRED], 5);
    // A crash before the idle flush: the hits inside the reservation are unknown, so all of it is counted.
    await evictDurableObject(stub);
    const [crashed] = await stub.hit([HUNDRED], 0);
    // Never more than the exact 65 (what the idle flush, a second after the last hit, writes), and the hits counted
    // beyond them are a reservation: 15 (half of 10 left when the next was written ahead), more in a burst.
    const left = crashed?.remaining ?? -1;
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left).toBeLessThanOrEqual(65);
    // An idle eviction: the flush wrote the exact log first.
    await stub.flush();
    await evictDurableObject(stub);
    const [idle] = await stub.hit([HUNDRED], 0);
    expect(idle?.remaining).toBe(left);
    const [last] = await stub.hit([HUNDRED], left);
    expect(last?.allowed).toBe(true);
    await stub.flush();
    await evictDurableObject(stub);
    const [refused] = await stub.hit([HUNDRED]);
    expect(refused?.allowed).toBe(false);
  });
});

describe('rateLimitBy: per-route limits by configuration', () => {
  const as = (userId: string): Identity => ({
    userId,
    tenantId: 'default',
    role: 'player',
    username: `u${userId}`,
    jti: crypto.randomUUID(),
    exp: Math.floor(Date.now() / 1000) + 900,
  });

  it('counts a user limit per user, not per IP, and names the rule in a refusal', async () => {
    const app = router();
    app.onError(handleError);
    app.use('*', async (c, next) => {
      c.set('identity', as(c.req.header('x-user') ?? ''));
      await next();
    });
    app.post('/zones', rateLimitBy('ZONE_CREATE', 'user'), (c) => c.json({ ok: true }, 201));
    const ip = freshIp();
    const alice = crypto.randomUUID();
    const call = async (user: string) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE}/zones`, { method: 'POST', headers: { 'CF-Connecting-IP': ip, 'x-user': user } }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    for (let i = 0; i < 10; i++) expect((await call(alice)).status).toBe(201);
    const refused = await call(alice);
    expect(refused.status).toBe(429);
    expect((await refused.json<{ details: unknown }>()).details).toEqual({
      limit: 10,
      window_seconds: 60,
      scope: 'zone_create',
    });
    const bob = await call(crypto.randomUUID());
    expect(bob.status).toBe(201);
    expect(headerNumbers(bob)).toMatchObject({ limit: 10, remaining: 9 });
  });
});
