import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { call, expectError } from '../support/api';
import { type EventTenant, eventTenant, exhaust, poll, publish } from '../support/events';

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

  it("takes the seed's whole event (tenantId, timestamp); another tenant's tenantId is TENANT_VIOLATION, nothing stored", async () => {
    const fresh = await eventTenant();
    const seedEvent = {
      eventId: 'evt-seed-shape',
      eventType: 'order.placed',
      tenantId: fresh.tenant,
      timestamp: '2026-01-30T12:00:00Z',
      payload: { orderId: 'order-456', amount: 1000, currency: 'NGN' },
      metadata: { source: 'order-service', userId: 'user-789', correlationId: 'corr-123' },
      schemaVersion: '1.0',
    };
    const ok = await publish(fresh.service, seedEvent);
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.events[0].event).toMatchObject({
      eventId: 'evt-seed-shape',
      tenantId: fresh.tenant,
      metadata: seedEvent.metadata,
    });
    // The stored time is the server's first publish, as the in-Worker EventBusService does.
    expect(ok.body.events[0].event.timestamp).not.toBe(seedEvent.timestamp);

    const before = await env.EVENT_BUS.getByName(fresh.tenant).stats();
    expectError(
      await publish(fresh.service, { ...seedEvent, eventId: 'evt-x', tenantId: other.tenant }),
      403,
      'TENANT_VIOLATION',
    );
    const batch = await publish(fresh.service, {
      events: [
        { ...seedEvent, eventId: 'evt-y' },
        { ...seedEvent, eventId: 'evt-z', tenantId: 'tenant-456' },
      ],
    });
    expectError(batch, 403, 'TENANT_VIOLATION');
    expect(batch.body.details.field).toBe('events.1.tenantId');
    expectError(await publish(fresh.service, { ...seedEvent, eventId: 'evt-w', timestamp: 'yesterday' }), 400, 'INVALID_REQUEST');
    expect((await env.EVENT_BUS.getByName(fresh.tenant).stats()).head).toBe(before.head);
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
  it('polling: 60 requests a minute pass, the 61st is 429 RATE_LIMIT; another user keeps their own budget', async () => {
    const fresh = await eventTenant();
    const key = `user:${fresh.tenant}:${fresh.alice.user_id}`;
    // The first 59 requests of the minute, spent in the user's limiter object as 59 polls would.
    const { id, limit, windowMs } = LIMITS.EVENTS_POLL;
    expect((await env.RATE_LIMITER.getByName(key).hit([{ id, limit, windowMs }], limit - 1))[0]?.allowed).toBe(true);
    expect((await poll(fresh.alice.access_token, '?limit=1')).status).toBe(200);
    await exhaust(key, 'EVENTS_POLL'); // the 60 are spent, whatever time the machine took
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
    await exhaust(`tenant:${fresh.tenant}`, 'EVENT_PUBLISH'); // this second's 1,000 are spent, however long the first took
    const refused = await publish(fresh.service, { events: batch });
    expectError(refused, 429, 'RATE_LIMIT');
    expect(refused.body.details.scope).toBe('event_publish');
    expect((await env.EVENT_BUS.getByName(fresh.tenant).stats()).head).toBe(1000);
  });
});

describe('pull consumer groups over HTTP', () => {
  it('creates a group, pulls a leased batch and acks it; a second PUT updates without moving the cursor', async () => {
    const fresh = await eventTenant();
    const created = await call('/api/events/groups/notification-service', {
      method: 'PUT',
      token: fresh.service,
      body: { eventTypes: ['order.placed'], startPosition: 'new', ackWaitMs: 30_000 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: 'notification-service', kind: 'pull', pending: 0 });
    await publish(fresh.service, {
      events: [
        { eventType: 'order.placed', payload: 1 },
        { eventType: 'other', payload: 2 },
      ],
    });

    const pulled = await call('/api/events/groups/notification-service/pull', {
      token: fresh.service,
      body: { consumer: 'worker-1', batchSize: 10, leaseMs: 20_000 },
    });
    expect(pulled.status, JSON.stringify(pulled.body)).toBe(200);
    expect(pulled.body.messages).toHaveLength(1);
    expect(pulled.body.messages[0]).toMatchObject({ attempts: 1, event: { eventType: 'order.placed', tenantId: fresh.tenant } });
    const leaseId = pulled.body.messages[0].leaseId;

    const pending = await call('/api/events/groups/notification-service/pending', {
      method: 'GET',
      token: fresh.admin.access_token,
    });
    expect(pending.body.pending).toMatchObject([{ consumer: 'worker-1', deliveries: 1, leaseId, state: 'leased' }]);

    const acked = await call('/api/events/groups/notification-service/ack', { token: fresh.service, body: { acks: [leaseId] } });
    expect(acked.status).toBe(200);
    expect(acked.body).toEqual({ acked: [leaseId], nacked: [], terminated: [], unknown: [] });

    const updated = await call('/api/events/groups/notification-service', {
      method: 'PUT',
      token: fresh.service,
      body: { eventTypes: ['order.*'] },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ eventTypes: ['order.*'], cursor: created.body.cursor + 2, pending: 0 });
    const list = await call('/api/events/groups', { method: 'GET', token: fresh.service });
    expect(list.body.map((g: { name: string }) => g.name)).toEqual(['notification-service']);
  });

  it('keeps a group start position as created: repeating it is fine, changing it is 400 and changes nothing', async () => {
    const fresh = await eventTenant();
    await publish(fresh.service, { eventType: 'order.placed', payload: 0 });
    const put = (body: unknown) => call('/api/events/groups/from-start', { method: 'PUT', token: fresh.service, body });
    const created = await put({ startPosition: 'beginning', maxDeliveries: 3 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ startPosition: 'beginning', cursor: 0 });
    const updated = await put({ maxDeliveries: 4 });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ startPosition: 'beginning', maxDeliveries: 4, cursor: 0 });
    // PUT replaces the settings: what it leaves out takes its default again.
    const repeated = await put({ startPosition: 'beginning' });
    expect(repeated.status).toBe(200);
    expect(repeated.body).toMatchObject({ startPosition: 'beginning', maxDeliveries: 5 });
    const refused = await put({ startPosition: 'new', maxDeliveries: 9 });
    expectError(refused, 400, 'INVALID_REQUEST');
    expect(refused.body.details).toMatchObject({ field: 'startPosition', startPosition: 'beginning' });
    const after = await call('/api/events/groups/from-start', { method: 'GET', token: fresh.service });
    expect(after.body).toMatchObject({ startPosition: 'beginning', maxDeliveries: 5, cursor: 0 });
  });

  it('refuses bad bodies, unknown groups, players, and services on dead letters, in seed 003 words', async () => {
    const fresh = await eventTenant();
    const put = (body: unknown, token = fresh.service) => call('/api/events/groups/g1', { method: 'PUT', token, body });
    expectError(await put({ startPosition: 'middle' }), 400, 'INVALID_REQUEST');
    expectError(await put({ ackWaitMs: 5 }), 400, 'INVALID_REQUEST');
    expectError(await put({}, fresh.alice.access_token), 403, 'AUTHZ_FAILED');
    expect((await put({})).status).toBe(201);
    expectError(
      await call('/api/events/groups/g1/pull', { token: fresh.service, body: { batchSize: 1 } }),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await call('/api/events/groups/g1/pull', { token: fresh.service, body: { consumer: 'c', batchSize: 0 } }),
      400,
      'INVALID_REQUEST',
    );
    expectError(await call('/api/events/groups/nope/pull', { token: fresh.service, body: { consumer: 'c' } }), 404, 'NOT_FOUND');
    expectError(await call('/api/events/groups/g1/ack', { token: fresh.service, body: { acks: 'x' } }), 400, 'INVALID_REQUEST');
    expectError(await call('/api/events/groups/g1/dead-letters', { method: 'GET', token: fresh.service }), 403, 'AUTHZ_FAILED');
    const dl = await call('/api/events/groups/g1/dead-letters', { method: 'GET', token: fresh.admin.access_token });
    expect(dl.body).toEqual({ deadLetters: [] });
    expectError(await call('/api/events/groups/nope', { method: 'DELETE', token: fresh.service }), 404, 'NOT_FOUND');
    expect((await call('/api/events/groups/g1', { method: 'DELETE', token: fresh.service })).status).toBe(204);
  });

  it("keeps tenants apart: another tenant's token never reaches a group, and X-Tenant-ID must be its own", async () => {
    const a = await eventTenant();
    const b = await eventTenant();
    expect((await call('/api/events/groups/shared-name', { method: 'PUT', token: a.service, body: {} })).status).toBe(201);
    await publish(a.service, { eventType: 'secret', payload: { of: 'a' } });
    expectError(
      await call('/api/events/groups/shared-name/pull', { token: b.service, body: { consumer: 'x' } }),
      404,
      'NOT_FOUND',
    );
    expectError(
      await call('/api/events/groups/shared-name/pull', {
        token: b.service,
        body: { consumer: 'x' },
        headers: { 'X-Tenant-ID': a.tenant },
      }),
      403,
      'TENANT_VIOLATION',
    );
    expectError(
      await call('/api/events/groups/shared-name', {
        method: 'PUT',
        token: b.admin.access_token,
        body: {},
        headers: { 'X-Tenant-ID': a.tenant },
      }),
      403,
      'TENANT_VIOLATION',
    );
    const bPoll = await poll(b.alice.access_token);
    expect(bPoll.body.events).toEqual([]);
  });
});

describe('OpenAPI', () => {
  it('documents the event bus and reconciliation routes', async () => {
    const doc = (await call('/openapi.json', { method: 'GET' })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/events',
        '/api/events/poll',
        '/api/events/groups',
        '/api/events/groups/{group}',
        '/api/events/groups/{group}/pull',
        '/api/events/groups/{group}/ack',
        '/api/events/groups/{group}/pending',
        '/api/events/groups/{group}/dead-letters',
        '/api/events/groups/{group}/dead-letters/replay',
        '/api/events/groups/{group}/dead-letters/purge',
        '/api/reconciliation/reconcile',
        '/api/reconciliation/snapshot/{entityType}/{entityId}',
        '/api/reconciliation/policies/{entityType}',
      ]),
    );
    expect(doc.components.schemas.PullRequest.required).toEqual(['consumer']);
    expect(doc.components.schemas.ReconcileRequest.required).toEqual(
      expect.arrayContaining(['requestId', 'clientId', 'tenantId', 'operations', 'requestedAt']),
    );
  });
});

describe('an empty JSON body on the event bus', () => {
  it('is no body where the body is optional (PUT group, replay, purge), and malformed JSON stays 400', async () => {
    const fresh = await eventTenant();
    const json = { 'Content-Type': 'application/json' };
    const admin = fresh.admin.access_token;
    // curl -X PUT -H 'Content-Type: application/json' URL: no body at all, and an explicit empty one.
    const created = await call('/api/events/groups/empty-body', { method: 'PUT', token: fresh.service, headers: json });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: 'empty-body', kind: 'pull', pending: 0 });
    const again = await call('/api/events/groups/empty-body', { method: 'PUT', token: fresh.service, headers: json, raw: '' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const replay = await call('/api/events/groups/empty-body/dead-letters/replay', { token: admin, headers: json });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    const purge = await call('/api/events/groups/empty-body/dead-letters/purge', { token: admin, headers: json, raw: '' });
    expect(purge.status, JSON.stringify(purge.body)).toBe(200);
    expect(purge.body).toEqual({ purged: 0 });

    const malformed = await call('/api/events/groups/other-group', {
      method: 'PUT',
      token: fresh.service,
      headers: json,
      raw: '{"eventTypes": [',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toBe('Malformed JSON in request body');
    const list = await call('/api/events/groups', { method: 'GET', token: fresh.service });
    expect(list.body.map((g: { name: string }) => g.name)).toEqual(['empty-body']);
  });

  it('is a 400 "Request body is required" where the body is required (publish), and stores nothing', async () => {
    const fresh = await eventTenant();
    const empty = await call('/api/events', { token: fresh.service, headers: { 'Content-Type': 'application/json' }, raw: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toBe('Request body is required (Content-Type: application/json)');
    const stream = await poll(fresh.service);
    expect(stream.body.events).toEqual([]);
  });
});
