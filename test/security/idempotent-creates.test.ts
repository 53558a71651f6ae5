import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { crafters } from '../http/crafting-helpers';
import { call, expectError, rect, registerUser, type Session, uniqueTenant } from '../support/api';
import { eventTenant } from '../support/events';
import { seedRace } from '../support/racing';

const zoneBody = (x: number, name = 'Retry Park') => ({
  name,
  zone_type: 'park',
  geometry: rect(x, 0, x + 50, 50),
  floor: 0,
  properties: {},
});
const key = () => `k-${crypto.randomUUID()}`;
const zonesOf = async (s: Session, tenant: string) =>
  (
    await env.DB.prepare('SELECT COUNT(*) AS n FROM zones WHERE tenant_id = ?1 AND owner_id = ?2')
      .bind(tenant, s.user_id)
      .first<{ n: number }>()
  )?.n;

describe('Idempotency-Key on creating POSTs', () => {
  let tenant: string;
  let owner: Session;
  beforeAll(async () => {
    tenant = uniqueTenant();
    owner = await registerUser({ tenant });
  });
  const createZone = (body: unknown, idem?: string) =>
    call('/api/zones', { token: owner.access_token, body, headers: idem ? { 'Idempotency-Key': idem } : {} });

  it('a retried zone creation answers the first answer and creates one zone', async () => {
    const k = key();
    const first = await createZone(zoneBody(100), k);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const retry = await createZone(zoneBody(100), k);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.res.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await zonesOf(owner, tenant)).toBe(1);
    // Without a key, the same body is a second zone (keys are opt-in).
    expect((await createZone(zoneBody(100))).status).toBe(201);
    expect(await zonesOf(owner, tenant)).toBe(2);
  });

  it('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and writes nothing', async () => {
    const k = key();
    expect((await createZone(zoneBody(300, 'First'), k)).status).toBe(201);
    const before = await zonesOf(owner, tenant);
    const other = await createZone(zoneBody(400, 'Second'), k);
    expectError(other, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(other.body.details).toMatchObject({ field: 'Idempotency-Key', issue: 'key_reused' });
    expect(await zonesOf(owner, tenant)).toBe(before);
  });

  it('a refused first request frees its key; a malformed key is 400; keys are per user', async () => {
    const k = key();
    expectError(await createZone({ ...zoneBody(500), zone_type: 'volcano' }, k), 400, 'INVALID_ZONE');
    const fixed = await createZone(zoneBody(500), k);
    expect(fixed.status).toBe(201);
    expect(fixed.res.headers.get('Idempotent-Replayed')).toBeNull();
    const before = await zonesOf(owner, tenant);
    expectError(await createZone(zoneBody(600), 'bad key with spaces'), 400, 'INVALID_REQUEST');
    expect(await zonesOf(owner, tenant)).toBe(before);
    // Another user's request under the same key is their own first request.
    const other = await registerUser({ tenant });
    const theirs = await call('/api/zones', {
      token: other.access_token,
      body: zoneBody(700),
      headers: { 'Idempotency-Key': k },
    });
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(fixed.body.id);
  });

  it('structures, racing events, crafting sessions and event-bus publishes answer a retry once', async () => {
    const s = await registerUser();
    const t = await crafters();
    const bus = await eventTenant();
    const cases: Array<{ path: string; token: string; body: unknown; id: (b: Record<string, unknown>) => unknown }> = [
      {
        path: '/api/structures',
        token: s.access_token,
        body: { structure_type: 'building', position: { x: 880_500, y: 0 }, floor: 0 },
        id: (b) => b.id,
      },
      { path: '/api/racing/events', token: s.access_token, body: seedRace(), id: (b) => b.id },
      { path: '/api/crafting/sessions', token: t.alice.access_token, body: { recipeId: 'plank', quantity: 1 }, id: (b) => b.id },
      {
        path: '/api/events',
        token: bus.service,
        body: { eventType: 'order.placed', payload: { n: 1 } },
        id: (b) => JSON.stringify(b),
      },
    ];
    for (const c of cases) {
      const k = key();
      const first = await call(c.path, { token: c.token, body: c.body, headers: { 'Idempotency-Key': k } });
      expect(first.status, `${c.path} ${JSON.stringify(first.body)}`).toBeLessThan(300);
      const retry = await call(c.path, { token: c.token, body: c.body, headers: { 'Idempotency-Key': k } });
      expect(retry.status, c.path).toBe(first.status);
      expect(c.id(retry.body), c.path).toEqual(c.id(first.body));
      expect(retry.res.headers.get('Idempotent-Replayed'), c.path).toBe('true');
    }
    // The event bus stored one event for the two publishes.
    const polled = await call('/api/events/poll?limit=100', { method: 'GET', token: bus.alice.access_token });
    expect(polled.body.events.filter((e: { eventType: string }) => e.eventType === 'order.placed')).toHaveLength(1);
  });
});
