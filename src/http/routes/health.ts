import { createRoute, z } from '@hono/zod-openapi';
import { eventBusActor, HEALTH_LIMITER_KEY, HEALTH_PROBE_TENANT, rateLimiterActor, reconciliationActor } from '../../actors/keys';
import { METRICS_REPORT_MS } from '../../actors/metrics';
import type { Sample } from '../../core/metrics';
import { readActorMetrics } from '../../db/metrics';
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
    services: z.object({
      d1: ServiceHealth,
      actors: ServiceHealth,
      websocket: ServiceHealth.extend({
        activeConnections: z.number().int().openapi({ description: 'Open sockets, as the realtime actors last reported them' }),
      }),
      eventbus: ServiceHealth.extend({
        eventsPerSecond: z.number().openapi({ description: 'Appended per second, all tenants (each bus over its last 10 s)' }),
      }),
      reconciliation: ServiceHealth,
      storage: ServiceHealth.extend({
        kind: z.literal('durable-object-sqlite').openapi({ description: "In the place of seed 003's redis: actors' own SQLite" }),
      }),
    }),
    timestamp: z.string(),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Overall and per-service health (seeds 002 and 003)',
  description:
    'healthy: every check passed in time; degraded: a check failed or was slow (over 1 s); unhealthy (503): D1 ' +
    'is down, or every check failed.',
  responses: {
    200: { description: 'Healthy or degraded', content: { 'application/json': { schema: Health } } },
    503: { description: 'Unhealthy', content: { 'application/json': { schema: Health } } },
  },
});

type Check = z.infer<typeof ServiceHealth>;

/** Over this a passing check reports `degraded`. */
const SLOW_MS = 1000;

async function check<T>(probe: () => Promise<T>): Promise<Check & { value?: T }> {
  const started = Date.now();
  try {
    const value = await probe();
    const latency = Date.now() - started;
    return { status: latency > SLOW_MS ? 'degraded' : 'healthy', latency, lastCheck: new Date().toISOString(), value };
  } catch (err) {
    return {
      status: 'unhealthy',
      latency: Date.now() - started,
      lastCheck: new Date().toISOString(),
      error: (err as Error).message,
    };
  }
}

const strip = <T extends { value?: unknown }>({ value: _, ...rest }: T) => rest;

/** A rate older than this is from a bus that stopped publishing (and so stopped reporting): it no longer counts. */
const RATE_MAX_AGE_MS = 3 * METRICS_REPORT_MS;

/**
 * The gauges `/health` shows, from the same D1 reports `/metrics` sums: open sockets as each actor last reported
 * them (actors report when a socket opens or closes), and the append rate of the buses that reported lately.
 */
async function gauges(db: D1Database, now: number): Promise<{ activeConnections: number; eventsPerSecond: number }> {
  const [all, recent] = await Promise.all([readActorMetrics(db), readActorMetrics(db, now - RATE_MAX_AGE_MS)]);
  const total = (reports: Sample[][], name: string) =>
    reports.flat().reduce((sum, s) => (s.name === name ? sum + s.value : sum), 0);
  return {
    activeConnections: total(all, 'edgerooms_ws_connections'),
    eventsPerSecond: total(recent, 'edgerooms_eventbus_events_per_second'),
  };
}

export const health = router().openapi(route, async (c) => {
  const [d1, actors, metrics, bus, reconciliation] = await Promise.all([
    check(() => c.env.DB.prepare('SELECT 1').first()),
    check(() => rateLimiterActor(c.env, HEALTH_LIMITER_KEY).ping()),
    check(() => gauges(c.env.DB, Date.now())),
    check(() => eventBusActor(c.env, HEALTH_PROBE_TENANT).stats()),
    check(() => reconciliationActor(c.env, HEALTH_PROBE_TENANT).ping()),
  ]);
  const services = {
    d1: strip(d1),
    actors: strip(actors),
    websocket: { ...strip(metrics), activeConnections: metrics.value?.activeConnections ?? 0 },
    eventbus: {
      ...strip(bus),
      status: worst(bus.status, metrics.status),
      eventsPerSecond: metrics.value?.eventsPerSecond ?? 0,
    },
    reconciliation: strip(reconciliation),
    // The bus probe is a read of an actor's SQLite: the storage seed 003 put in Redis.
    storage: { ...strip(bus), kind: 'durable-object-sqlite' as const },
  };
  const status = overallStatus(services);
  const body = { status, service: 'edgerooms', version: '0.1.0', services, timestamp: new Date().toISOString() } as const;
  return status === 'unhealthy' ? c.json(body, 503) : c.json(body, 200);
});

const RANK = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
function worst(a: Check['status'], b: Check['status']): Check['status'] {
  return RANK[a] >= RANK[b] ? a : b;
}

/** unhealthy when D1 (the system of record) is down or every check failed; degraded when any check is not healthy. */
export function overallStatus(
  services: { d1: { status: Check['status'] } } & Record<string, { status: Check['status'] }>,
): Check['status'] {
  const statuses = Object.values(services).map((s) => s.status);
  if (services.d1.status === 'unhealthy' || statuses.every((s) => s === 'unhealthy')) return 'unhealthy';
  return statuses.every((s) => s === 'healthy') ? 'healthy' : 'degraded';
}
