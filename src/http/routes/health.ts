import { createRoute, z } from '@hono/zod-openapi';
import { HEALTH_LIMITER_KEY, rateLimiterActor } from '../../actors/keys';
import { router } from '../validation';

const ServiceHealth = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  latency: z.number().optional().openapi({ description: 'Round trip of the check, ms' }),
  lastCheck: z.string(),
  error: z.string().optional(),
});
const Health = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    service: z.string(),
    version: z.string(),
    services: z.object({ d1: ServiceHealth, actors: ServiceHealth }),
    timestamp: z.string(),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Overall and per-service health (seeds 002 and 003)',
  responses: {
    200: { description: 'Healthy or degraded', content: { 'application/json': { schema: Health } } },
    503: { description: 'Unhealthy', content: { 'application/json': { schema: Health } } },
  },
});

type Check = z.infer<typeof ServiceHealth>;

async function check(probe: () => Promise<unknown>): Promise<Check> {
  const started = Date.now();
  try {
    await probe();
    return { status: 'healthy', latency: Date.now() - started, lastCheck: new Date().toISOString() };
  } catch (err) {
    return {
      status: 'unhealthy',
      latency: Date.now() - started,
      lastCheck: new Date().toISOString(),
      error: (err as Error).message,
    };
  }
}

export const health = router().openapi(route, async (c) => {
  const [d1, actors] = await Promise.all([
    check(() => c.env.DB.prepare('SELECT 1').first()),
    check(() => rateLimiterActor(c.env, HEALTH_LIMITER_KEY).ping()),
  ]);
  const statuses = [d1.status, actors.status];
  const status = statuses.every((s) => s === 'healthy')
    ? 'healthy'
    : statuses.every((s) => s === 'unhealthy')
      ? 'unhealthy'
      : 'degraded';
  const body = {
    status,
    service: 'edgerooms',
    version: '0.1.0',
    services: { d1, actors },
    timestamp: new Date().toISOString(),
  } as const;
  return status === 'unhealthy' ? c.json(body, 503) : c.json(body, 200);
});
