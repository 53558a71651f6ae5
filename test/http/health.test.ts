import { env, SELF } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { saveActorMetrics } from '../../src/db/metrics';
import { overallStatus } from '../../src/http/routes/health';
import type { Body } from '../support/api';
import { eventTenant, publish } from '../support/events';

const health = async () => {
  const res = await SELF.fetch('https://edge.test/health');
  return { status: res.status, body: (await res.json()) as Body };
};

describe('GET /health (seed 003 services)', () => {
  it("adds websocket, eventbus, reconciliation and the actors' storage, each with status and lastCheck", async () => {
    const r = await health();
    expect(r.status).toBe(200);
    expect(r.body.status).toBe(overallStatus(r.body.services));
    for (const name of ['d1', 'actors', 'websocket', 'eventbus', 'reconciliation', 'storage']) {
      expect(['healthy', 'degraded']).toContain(r.body.services[name].status);
      expect(Date.parse(r.body.services[name].lastCheck)).not.toBeNaN();
    }
    expect(r.body.services.websocket.activeConnections).toEqual(expect.any(Number));
    expect(r.body.services.storage).toMatchObject({ kind: 'durable-object-sqlite', latency: expect.any(Number) });
    // Each service is the seed's ServiceHealth: no probe's raw answer leaks into it.
    for (const service of Object.values(r.body.services)) expect(service).not.toHaveProperty('value');
  });

  it('sums the figures actors report: events per second after a publish, open connections', async () => {
    const t = await eventTenant();
    expect(
      (await publish(t.service, { events: Array.from({ length: 50 }, (_, i) => ({ eventType: 'h', payload: i })) })).status,
    ).toBe(201);
    await vi.waitFor(async () => expect((await health()).body.services.eventbus.eventsPerSecond).toBeGreaterThanOrEqual(5), {
      timeout: 15_000,
      interval: 50,
    });
    // Open sockets: what actors last reported to actor_metrics, however old (they report on open and close).
    const before = (await health()).body.services.websocket.activeConnections as number;
    const sockets = [{ name: 'edgerooms_ws_connections', labels: { endpoint: 'test' }, value: 7 }];
    await saveActorMetrics(env.DB, 'test:health', sockets, Date.now() - 3_600_000).run();
    try {
      expect((await health()).body.services.websocket.activeConnections).toBe(before + 7);
    } finally {
      await env.DB.prepare('DELETE FROM actor_metrics WHERE actor = ?').bind('test:health').run();
    }
  });

  it('counts a rate only from buses that reported lately: a stale row adds nothing', async () => {
    const rate = [{ name: 'edgerooms_eventbus_events_per_second', labels: {}, value: 1000 }];
    await saveActorMetrics(env.DB, 'test:stale-bus', rate, Date.now() - 3_600_000).run();
    try {
      expect((await health()).body.services.eventbus.eventsPerSecond).toBeLessThan(1000);
    } finally {
      await env.DB.prepare('DELETE FROM actor_metrics WHERE actor = ?').bind('test:stale-bus').run();
    }
  });

  it('computes degraded and unhealthy from the checks, never a constant', () => {
    const s = (status: 'healthy' | 'degraded' | 'unhealthy') => ({ status });
    expect(overallStatus({ d1: s('healthy'), eventbus: s('healthy') })).toBe('healthy');
    expect(overallStatus({ d1: s('healthy'), eventbus: s('degraded') })).toBe('degraded');
    expect(overallStatus({ d1: s('healthy'), eventbus: s('unhealthy') })).toBe('degraded');
    expect(overallStatus({ d1: s('unhealthy'), eventbus: s('healthy') })).toBe('unhealthy');
    expect(overallStatus({ d1: s('degraded'), eventbus: s('unhealthy') })).toBe('degraded');
  });
});
