import { env, SELF } from 'cloudflare:test';
import { expect, it } from 'vitest';

it('serves /health and has D1 migrated', async () => {
  const res = await SELF.fetch('https://edge.test/health');
  expect(res.status).toBe(200);
  const row = await env.DB.prepare('SELECT id FROM tenants').first<{ id: string }>();
  expect(row?.id).toBe('default');
  expect(await env.RATE_LIMITER.getByName('x').ping()).toBe('pong');
});
