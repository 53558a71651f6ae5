import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { call, expectError } from '../support/api';
import { type EventTenant, eventTenant, poll, publish } from '../support/events';

let t: EventTenant;
let other: EventTenant;

beforeAll(async () => {
  [t, other] = await Promise.all([eventTenant(), eventTenant()]);
});

describe('POST /api/events', () => {
  it('stores one event for a service token and answers it with its stream position', async () => {
    const r = await publish(t.service, {
      eventType: 'order.placed',
      payload: { orderId: 'order-789' },
      metadata: { source: 'order-service' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.position).toBeGreaterThan(0);
    expect(r.body.events[0]).toMatchObject({
      duplicate: false,
      position: r.body.position,
      event: {
        eventId: r.body.eventId,
        eventType: 'order.placed',
        tenantId: t.tenant,
        payload: { orderId: 'order-789' },
        metadata: { source: 'order-service' },
        schemaVersion: '1.0',
      },
    });
    expect(Date.parse(r.body.events[0].event.timestamp)).not.toBeNaN();
  });

  it('is idempotent on eventId: a replay answers the stored event and stores nothing', async () => {
    const first = await publish(t.service, { eventId: 'evt-idem-1', eventType: 'order.placed', payload: { n: 1 } });
    expect(first.status).toBe(201);
    const again = await publish(t.service, { eventId: 'evt-idem-1', eventType: 'order.changed', payload: { n: 2 } });
    expect(again.status).toBe(200);
    expect(again.body.events[0]).toMatchObject({ duplicate: true, position: first.body.position, event: { payload: { n: 1 } } });
    const batch = await publish(t.service, {
      events: [
        { eventId: 'evt-idem-1', eventType: 'order.placed', payload: { n: 1 } },
        { eventId: 'evt-idem-2', eventType: 'order.placed', payload: { n: 3 } },
      ],
    });
    expect(batch.status).toBe(201);
    expect(batch.body.events.map((e: { duplicate: boolean }) => e.duplicate)).toEqual([true, false]);
    expect(batch.body.events[1].position).toBeGreaterThan(first.body.position);
  });

  it('publishes a batch in order and refuses a bad one whole, in seed 003 words', async () => {
    const ok = await publish(t.service, {
      events: [
        { eventType: 'a.one', payload: 1 },
        { eventType: 'a.two', payload: 2 },
      ],
    });
    expect(ok.status).toBe(201);
    const [p1, p2] = ok.body.events.map((e: { position: number }) => e.position);
    expect(p2).toBe(p1 + 1);

    const before = await env.EVENT_BUS.getByName(t.tenant).stats();
    const bad = await publish(t.service, {
      events: [
        { eventType: 'fine', payload: 1 },
        { eventType: 'bad type!', payload: 1 },
      ],
    });
    expectError(bad, 400, 'INVALID_REQUEST');
    expect(bad.body.details.field).toBe('events.1.eventType');
    expectError(await publish(t.service, { events: [] }), 400, 'INVALID_REQUEST');
    expectError(await publish(t.service, { eventType: 'x' }), 400, 'INVALID_REQUEST');
    expectError(
      await publish(t.service, {
        events: [
          { eventId: 'd', eventType: 'x', payload: 1 },
          { eventId: 'd', eventType: 'x', payload: 2 },
        ],
      }),
      400,
      'INVALID_REQUEST',
    );
    expect((await env.EVENT_BUS.getByName(t.tenant).stats()).head).toBe(before.head);
  });

  it('answers AUTH_FAILED without a token, AUTHZ_FAILED for a player and TENANT_VIOLATION across tenants', async () => {
    expectError(await call('/api/events', { body: { eventType: 'x', payload: 1 } }), 401, 'AUTH_FAILED');
    expectError(await publish(t.alice.access_token, { eventType: 'x', payload: 1 }), 403, 'AUTHZ_FAILED');
    expectError(
      await publish(t.service, { eventType: 'x', payload: 1 }, { 'X-Tenant-ID': other.tenant }),
      403,
      'TENANT_VIOLATION',
    );
    const r = await publish(t.admin.access_token, { eventType: 'x', payload: 1 }, { 'X-Tenant-ID': t.tenant });
    expect(r.status).toBe(201);
  });
});

describe('GET /api/events/poll', () => {
  it('pages through the stream with nextEventId and hasMore, and sees only the tenant its token names', async () => {
    const fresh = await eventTenant();
    const published = await publish(fresh.service, {
      events: Array.from({ length: 5 }, (_, i) => ({ eventType: 'page.test', payload: { i } })),
    });
    expect(published.status).toBe(201);
    const ids = published.body.events.map((e: { event: { eventId: string } }) => e.event.eventId);

    const first = await poll(fresh.alice.access_token, '?limit=2', { 'X-Tenant-ID': fresh.tenant });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.events.map((e: { eventId: string }) => e.eventId)).toEqual(ids.slice(0, 2));
    expect(first.body).toMatchObject({ hasMore: true, nextEventId: ids[1] });
    expect(first.body.truncated).toBeUndefined();
    const second = await poll(fresh.alice.access_token, `?limit=2&lastEventId=${first.body.nextEventId}`);
    expect(second.body.events.map((e: { eventId: string }) => e.eventId)).toEqual(ids.slice(2, 4));
    const third = await poll(fresh.alice.access_token, `?limit=2&lastEventId=${second.body.nextEventId}`);
    expect(third.body).toMatchObject({ hasMore: false, nextEventId: ids[4] });
    expect(third.body.events).toHaveLength(1);
    const empty = await poll(fresh.alice.access_token, `?lastEventId=${third.body.nextEventId}`);
    expect(empty.body).toMatchObject({ events: [], hasMore: false });
    // Another tenant's user never sees these, even naming their ids.
    const foreign = await poll(other.alice.access_token, `?lastEventId=${ids[0]}`);
    expect(foreign.body.events.every((e: { tenantId: string }) => e.tenantId === other.tenant)).toBe(true);
    expect(foreign.body).toMatchObject({ truncated: true, reason: 'unknown_event_id' });
  });

  it('shows addressed events only to their audience, and skips past what the caller cannot read', async () => {
    const fresh = await eventTenant();
    const r = await publish(fresh.service, {
      events: [
        { eventType: 'chat.message', payload: { text: 'to bob' }, audience: [String(fresh.bob.user_id)] },
        { eventType: 'chat.message', payload: { text: 'to all' } },
        { eventType: 'chat.message', payload: { text: 'to bob again' }, audience: [String(fresh.bob.user_id)] },
      ],
    });
    expect(r.status).toBe(201);
    const secret = r.body.events[0].event.eventId;
    const bob = await poll(fresh.bob.access_token);
    expect(bob.body.events.map((e: { payload: { text: string } }) => e.payload.text)).toEqual([
      'to bob',
      'to all',
      'to bob again',
    ]);
    const alice = await poll(fresh.alice.access_token);
    expect(alice.body.events.map((e: { payload: { text: string } }) => e.payload.text)).toEqual(['to all']);
    // Alice's cursor moves past bob's messages without naming them; their ids are as unknown to her as a made-up one.
    const next = await poll(fresh.alice.access_token, `?lastEventId=${alice.body.nextEventId}`);
    expect(next.body).toMatchObject({ events: [], hasMore: false });
    expect(next.body.nextEventId).toMatch(/^pos:\d+$/);
    const probing = await poll(fresh.alice.access_token, `?lastEventId=${secret}`);
    expect(probing.body).toMatchObject({ truncated: true, reason: 'unknown_event_id' });
    expect(probing.body.events.map((e: { payload: { text: string } }) => e.payload.text)).toEqual(['to all']);
  });

  it('answers an unknown or expired lastEventId with the oldest retained position and a flag, never a silent gap', async () => {
    const fresh = await eventTenant();
    await publish(fresh.service, { events: [{ eventType: 'x', payload: 1 }] });
    const unknown = await poll(fresh.alice.access_token, '?lastEventId=evt-never-published');
    expect(unknown.status).toBe(200);
    expect(unknown.body).toMatchObject({ truncated: true, reason: 'unknown_event_id', oldestPosition: 1 });
    expect(unknown.body.events).toHaveLength(1);
    const future = await poll(fresh.alice.access_token, '?lastEventId=pos:999');
    expect(future.body).toMatchObject({ truncated: true, reason: 'unknown_event_id' });
  });

  it('refuses a bad query with INVALID_REQUEST and a missing token with AUTH_FAILED', async () => {
    expectError(await poll(t.alice.access_token, '?limit=0'), 400, 'INVALID_REQUEST');
    expectError(await poll(t.alice.access_token, '?limit=abc'), 400, 'INVALID_REQUEST');
    expectError(await poll(t.alice.access_token, '?limit=501'), 400, 'INVALID_REQUEST');
    expectError(await call('/api/events/poll', { method: 'GET' }), 401, 'AUTH_FAILED');
    expectError(await poll(t.alice.access_token, '', { 'X-Tenant-ID': other.tenant }), 403, 'TENANT_VIOLATION');
  });
});

describe('seed 003 limits', () => {
  it('polling: the 61st request in a minute is 429 RATE_LIMIT; another user keeps their own budget', async () => {
    const fresh = await eventTenant();
    // The first 59 requests of the minute, spent in the user's limiter object as 59 polls would.
    const { id, limit, windowMs } = LIMITS.EVENTS_POLL;
    const limiter = env.RATE_LIMITER.getByName(`user:${fresh.tenant}:${fresh.alice.user_id}`);
    expect((await limiter.hit([{ id, limit, windowMs }], limit - 1))[0]?.allowed).toBe(true);
    expect((await poll(fresh.alice.access_token, '?limit=1')).status).toBe(200);
    const refused = await poll(fresh.alice.access_token, '?limit=1');
    expectError(refused, 429, 'RATE_LIMIT');
    expect(refused.body.details.scope).toBe('events_poll');
    expect(refused.res.headers.get('Retry-After')).toBeTruthy();
    expect((await poll(fresh.bob.access_token, '?limit=1')).status).toBe(200);
  });

  it('publishing: a batch of 1,000 events passes; another 1,000 in the same second is 429 RATE_LIMIT and stores nothing', async () => {
    const fresh = await eventTenant();
    const batch = Array.from({ length: 1000 }, (_, i) => ({ eventType: 'load.tick', payload: i }));
    const r = await publish(fresh.service, { events: batch });
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(201);
    expect(r.body.events).toHaveLength(1000);
    // This second's budget, spent as another 1,000-event batch would spend it.
    const { id, limit, windowMs } = LIMITS.EVENT_PUBLISH;
    await env.RATE_LIMITER.getByName(`tenant:${fresh.tenant}`).hit([{ id, limit, windowMs }], limit);
    const refused = await publish(fresh.service, { events: batch });
    expectError(refused, 429, 'RATE_LIMIT');
    expect(refused.body.details.scope).toBe('event_publish');
    expect((await env.EVENT_BUS.getByName(fresh.tenant).stats()).head).toBe(1000);
  });
});
