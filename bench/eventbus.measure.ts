import { env, SELF } from 'cloudflare:test';
import { it } from 'vitest';
import type { PublishInput } from '../src/domain/event-bus';
import { call, registerUser, tenantAdmin, uniqueName, uniqueTenant } from '../test/support/api';

/**
 * Measures, inside workerd (Miniflare, one machine): how many events one EventBus actor appends per second when
 * publishers batch (RPC, so the REST limit of 1,000/s per tenant does not cap the figure), the same through
 * `POST /api/events`, and the latency of `GET /api/events/poll` (limit 100) end to end and of the actor's poll
 * alone. Prints a table; asserts nothing about speed.
 */

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const round = (x: number) => Math.round(x * 100) / 100;
const payload = { orderId: 'order-789', amount: 1000, currency: 'NGN', note: 'x'.repeat(100) };

it('measures the event bus', async () => {
  const rows: string[] = [];
  for (const batch of [1, 10, 100, 1000]) {
    const bus = env.EVENT_BUS.getByName(`bench-${uniqueName('b')}`.toLowerCase());
    const inputs: PublishInput[] = Array.from({ length: batch }, () => ({ eventType: 'order.placed', payload }));
    let events = 0;
    const started = performance.now();
    while (performance.now() - started < 3000) {
      const r = await bus.publish(inputs);
      if (!r.ok) throw new Error(JSON.stringify(r));
      events += batch;
    }
    const seconds = (performance.now() - started) / 1000;
    rows.push(
      `| RPC publish, batches of ${batch} | ${Math.round(events / seconds)} events/s | ${Math.round(events / batch / seconds)} calls/s |`,
    );
  }

  // One-event publishes from 50 publishers at once: the actor interleaves them while their writes are confirmed.
  {
    const bus = env.EVENT_BUS.getByName(`bench-${uniqueName('c')}`.toLowerCase());
    let events = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (performance.now() - started < 3000) {
          const r = await bus.publish([{ eventType: 'order.placed', payload }]);
          if (!r.ok) throw new Error(JSON.stringify(r));
          events++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    rows.push(`| RPC publish, batches of 1, 50 publishers at once | ${Math.round(events / seconds)} events/s | |`);
  }

  // Through REST: a service token, batches of 500 (the tenant's 1,000/s budget allows two a second).
  const tenant = uniqueTenant();
  const admin = await tenantAdmin(tenant);
  const minted = await call('/api/admin/service-tokens', { token: admin.access_token, body: { name: 'bench' } });
  const service = minted.body.token as string;
  const body = JSON.stringify({ events: Array.from({ length: 500 }, () => ({ eventType: 'order.placed', payload })) });
  const restTimes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const res = await SELF.fetch('https://edge.test/api/events', {
      method: 'POST',
      headers: { Authorization: `Bearer ${service}`, 'Content-Type': 'application/json', 'CF-Connecting-IP': `10.9.0.${i}` },
      body,
    });
    await res.text();
    restTimes.push(performance.now() - t0);
    if (res.status === 429) await new Promise((r) => setTimeout(r, 1000));
  }
  rows.push(
    `| REST publish, batches of 500 | p50 ${round(quantile(restTimes, 0.5))} ms per request | ${Math.round(500 / (quantile(restTimes, 0.5) / 1000))} events/s before the limit |`,
  );

  // Poll: a stream of 10,000 events, pages of 100.
  const user = await registerUser({ tenant });
  const bus = env.EVENT_BUS.getByName(tenant);
  for (let i = 0; i < 10; i++) await bus.publish(Array.from({ length: 1000 }, () => ({ eventType: 'order.placed', payload })));
  const rpc: number[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const page = await bus.poll(String(user.user_id), cursor, 100);
    rpc.push(performance.now() - t0);
    cursor = page.hasMore ? page.nextEventId : undefined;
  }
  const http: number[] = [];
  cursor = undefined;
  for (let i = 0; i < 55; i++) {
    const t0 = performance.now();
    const res = await SELF.fetch(`https://edge.test/api/events/poll?limit=100${cursor ? `&lastEventId=${cursor}` : ''}`, {
      headers: { Authorization: `Bearer ${user.access_token}`, 'CF-Connecting-IP': `10.9.1.${i}` },
    });
    const page = (await res.json()) as { nextEventId: string; hasMore: boolean };
    http.push(performance.now() - t0);
    cursor = page.hasMore ? page.nextEventId : undefined;
  }
  rows.push(
    `| poll, limit 100, actor RPC (200 pages) | p50 ${round(quantile(rpc, 0.5))} ms | p99 ${round(quantile(rpc, 0.99))} ms |`,
  );
  rows.push(
    `| poll, limit 100, GET /api/events/poll (55 pages) | p50 ${round(quantile(http, 0.5))} ms | p99 ${round(quantile(http, 0.99))} ms |`,
  );
  console.log(['| measurement | figure | |', '| --- | --- | --- |', ...rows].join('\n'));
});
