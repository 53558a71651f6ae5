import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits';
import { call, expectError } from '../support/api';
import { type EventTenant, eventTenant, exhaust } from '../support/events';

let t: EventTenant;
let other: EventTenant;

beforeAll(async () => {
  [t, other] = await Promise.all([eventTenant(), eventTenant()]);
});

let n = 0;
const operation = (tenant: string, o: Record<string, unknown>) => ({
  operationId: `op-${Date.now().toString(36)}-${n++}`,
  clientId: 'client-789',
  tenantId: tenant,
  entityType: 'document',
  entityId: 'doc-456',
  operationType: 'UPDATE',
  timestamp: '2026-01-30T12:00:00Z',
  vectorClock: { 'client-789': 1 },
  ...o,
});

const reconcile = (token: string, tenant: string, operations: unknown[], extra: Record<string, unknown> = {}, headers = {}) =>
  call('/api/reconciliation/reconcile', {
    token,
    headers,
    body: {
      requestId: `req-${n++}`,
      clientId: 'client-789',
      tenantId: tenant,
      operations,
      requestedAt: '2026-01-30T12:00:00Z',
      ...extra,
    },
  });

const snapshot = (token: string, path: string, headers = {}) =>
  call(`/api/reconciliation/snapshot/${path}`, { method: 'GET', token, headers });

describe('POST /api/reconciliation/reconcile', () => {
  it('applies operations, answers currentVersion and deltas, and answers a replayed operationId with its first result', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    const created = operation(fresh.tenant, {
      operationType: 'CREATE',
      entityId: 'doc-1',
      payload: { title: 'Doc', content: 'v1' },
    });
    const first = await reconcile(token, fresh.tenant, [created], { lastKnownVersion: '0' });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ conflicts: [], currentVersion: '1' });
    expect(first.body.resolvedOperations).toMatchObject([
      { operationId: created.operationId, status: 'applied', entityVersion: '1' },
    ]);
    expect(first.body.deltaUpdates).toMatchObject([
      { entityId: 'doc-1', version: '1', operationType: 'UPSERT', data: { content: 'v1' } },
    ]);
    expect(Date.parse(first.body.completedAt)).not.toBeNaN();

    const update = operation(fresh.tenant, { entityId: 'doc-1', vectorClock: { 'client-789': 2 }, payload: { content: 'v2' } });
    const second = await reconcile(token, fresh.tenant, [update], { lastKnownVersion: '1' });
    expect(second.body).toMatchObject({
      currentVersion: '2',
      deltaUpdates: [{ version: '2', data: { title: 'Doc', content: 'v2' } }],
    });

    // The same operations again: the first answers, nothing applied twice, the version does not move.
    const replay = await reconcile(token, fresh.tenant, [created, update], { lastKnownVersion: '2' });
    expect(replay.body).toMatchObject({ currentVersion: '2', deltaUpdates: [], conflicts: [] });
    expect(replay.body.resolvedOperations.map((o: { entityVersion: string }) => o.entityVersion)).toEqual(['1', '2']);

    // A version this server never gave out, or none at all, gets a snapshot instead of deltas.
    const unknown = await reconcile(token, fresh.tenant, [], { lastKnownVersion: 'v1.0' });
    expect(unknown.body.deltaUpdates).toBeUndefined();
    expect(unknown.body.snapshot).toMatchObject({
      version: '2',
      truncated: false,
      entities: [{ entityId: 'doc-1', data: { content: 'v2' } }],
    });
  });

  it('reports a stale operation as a conflict with both values and both clocks, and changes nothing', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    await reconcile(token, fresh.tenant, [
      operation(fresh.tenant, { operationType: 'CREATE', entityId: 'd', payload: { content: 'a' }, vectorClock: { x: 2 } }),
    ]);
    const stale = operation(fresh.tenant, { entityId: 'd', payload: { content: 'old' }, vectorClock: { x: 1 } });
    const r = await reconcile(token, fresh.tenant, [stale], { lastKnownVersion: '1' });
    expect(r.body).toMatchObject({ currentVersion: '1', resolvedOperations: [], deltaUpdates: [] });
    expect(r.body.conflicts).toEqual([
      {
        operationId: stale.operationId,
        entityType: 'document',
        entityId: 'd',
        type: 'STALE_OPERATION',
        fields: ['content'],
        serverValue: { content: 'a' },
        clientValue: { content: 'old' },
        serverClock: { x: 2 },
        clientClock: { x: 1 },
        resolution: { policy: 'causal', winner: 'server' },
      },
    ]);
  });

  it('lets an admin set a type policy; concurrent edits then follow it', async () => {
    const fresh = await eventTenant();
    const put = (token: string, policy: string) =>
      call('/api/reconciliation/policies/document', { method: 'PUT', token, body: { policy } });
    expectError(await put(fresh.alice.access_token, 'server-wins'), 403, 'AUTHZ_FAILED');
    expectError(await put(fresh.admin.access_token, 'coin-flip'), 400, 'INVALID_REQUEST');
    expect((await put(fresh.admin.access_token, 'server-wins')).status).toBe(200);
    const token = fresh.alice.access_token;
    await reconcile(token, fresh.tenant, [
      operation(fresh.tenant, { operationType: 'CREATE', entityId: 'p', payload: { title: 'base' }, vectorClock: { a: 1 } }),
      operation(fresh.tenant, {
        entityId: 'p',
        payload: { title: 'from a' },
        vectorClock: { a: 2 },
        timestamp: '2026-01-30T12:00:00Z',
      }),
    ]);
    const late = await reconcile(token, fresh.tenant, [
      operation(fresh.tenant, {
        entityId: 'p',
        payload: { title: 'from b' },
        vectorClock: { a: 1, b: 1 },
        timestamp: '2026-01-30T13:00:00Z',
      }),
    ]);
    expect(late.body.conflicts).toMatchObject([
      { type: 'CONCURRENT_UPDATE', fields: ['title'], resolution: { policy: 'server-wins', winner: 'server' } },
    ]);
    expect((await snapshot(token, 'document/p')).body.data).toEqual({ title: 'from a' });
  });

  it('refuses another tenant anywhere in the request with TENANT_VIOLATION and applies nothing', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    const mine = operation(fresh.tenant, { operationType: 'CREATE', entityId: 'iso', payload: { a: 1 } });
    expectError(await reconcile(token, other.tenant, [mine]), 403, 'TENANT_VIOLATION');
    const foreignOp = operation(other.tenant, { operationType: 'CREATE', entityId: 'iso2', payload: { a: 1 } });
    const r = await reconcile(token, fresh.tenant, [mine, foreignOp]);
    expectError(r, 403, 'TENANT_VIOLATION');
    expect(r.body.details.field).toBe('operations.1.tenantId');
    expectError(await reconcile(token, fresh.tenant, [mine], {}, { 'X-Tenant-ID': other.tenant }), 403, 'TENANT_VIOLATION');
    expectError(await snapshot(token, 'document/iso'), 404, 'NOT_FOUND');
    expectError(await snapshot(token, 'document/iso', { 'X-Tenant-ID': other.tenant }), 403, 'TENANT_VIOLATION');
  });

  it('refuses malformed requests with INVALID_REQUEST naming the field, and no token with AUTH_FAILED', async () => {
    const token = t.alice.access_token;
    const bad = await reconcile(token, t.tenant, [operation(t.tenant, { operationType: 'MERGE' })]);
    expectError(bad, 400, 'INVALID_REQUEST');
    expect(bad.body.details.field).toBe('operations.0.operationType');
    expectError(await reconcile(token, t.tenant, [operation(t.tenant, { vectorClock: { a: -1 } })]), 400, 'INVALID_REQUEST');
    expectError(await reconcile(token, t.tenant, [operation(t.tenant, { timestamp: 'yesterday' })]), 400, 'INVALID_REQUEST');
    expectError(await reconcile(token, t.tenant, [operation(t.tenant, { operationType: 'CREATE' })]), 400, 'INVALID_REQUEST');
    expectError(await call('/api/reconciliation/reconcile', { body: {} }), 401, 'AUTH_FAILED');
    expectError(await snapshot(token, 'document/has%20space'), 400, 'INVALID_REQUEST');
  });

  it('the 11th request in a minute is 429 RATE_LIMIT', async () => {
    const fresh = await eventTenant();
    const key = `user:${fresh.tenant}:${fresh.alice.user_id}`;
    const { id, limit, windowMs } = LIMITS.RECONCILE;
    await env.RATE_LIMITER.getByName(key).hit([{ id, limit, windowMs }], limit - 1);
    expect((await reconcile(fresh.alice.access_token, fresh.tenant, [])).status).toBe(200);
    await exhaust(key, 'RECONCILE'); // the 10 are spent, whatever time the machine took
    const refused = await reconcile(fresh.alice.access_token, fresh.tenant, []);
    expectError(refused, 429, 'RATE_LIMIT');
    expect(refused.body.details.scope).toBe('reconcile');
  });
});

describe('reconciliation over HTTP: arrival order and named conflicts', () => {
  it('gives the same data, checksum and conflicts whatever order concurrent operations arrive in', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    const ops = (entityId: string) => {
      const base = { entityId, entityType: 'document', operationId: undefined };
      return {
        create: operation(fresh.tenant, {
          ...base,
          operationId: `${entityId}-0`,
          operationType: 'CREATE',
          clientId: 'a',
          payload: { title: 'T', body: 'B', n: 0 },
          vectorClock: { a: 1 },
        }),
        b: operation(fresh.tenant, {
          ...base,
          operationId: `${entityId}-b`,
          clientId: 'b',
          timestamp: '2026-01-30T12:00:05Z',
          payload: { title: 'from-b', n: 1 },
          vectorClock: { a: 1, b: 1 },
        }),
        c: operation(fresh.tenant, {
          ...base,
          operationId: `${entityId}-c`,
          clientId: 'c',
          timestamp: '2026-01-30T12:00:05Z',
          payload: { title: 'from-c', body: 'c-body' },
          vectorClock: { a: 1, c: 1 },
        }),
        d: operation(fresh.tenant, {
          ...base,
          operationId: `${entityId}-d`,
          clientId: 'd',
          timestamp: '2026-01-30T12:00:03Z',
          payload: { n: 7 },
          vectorClock: { a: 1, d: 1 },
        }),
      };
    };
    const one = ops('order-1');
    const two = ops('order-2');
    expect((await reconcile(token, fresh.tenant, [one.create, one.b, one.c, one.d])).status).toBe(200);
    expect((await reconcile(token, fresh.tenant, [two.create, two.d, two.c, two.b])).status).toBe(200);
    const [a, b] = [await snapshot(token, 'document/order-1'), await snapshot(token, 'document/order-2')];
    // Same (timestamp, clientId) order decides each field: c beats b on title (tie on time, "c" > "b"); b beats d on n.
    expect(a.body.data).toEqual({ title: 'from-c', body: 'c-body', n: 1 });
    expect(b.body.data).toEqual(a.body.data);
    expect(b.body.checksum).toBe(a.body.checksum);
    expect(b.body.vectorClock).toEqual(a.body.vectorClock);
  });

  it('names an update after a delete, a create of an existing entity and a delete of a modified one, with both clocks', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    const op = (o: Record<string, unknown>) => operation(fresh.tenant, { entityType: 'note', entityId: 'n1', ...o });
    const r = await reconcile(token, fresh.tenant, [
      op({ operationId: 'n-create', operationType: 'CREATE', clientId: 'a', payload: { t: 1 }, vectorClock: { a: 1 } }),
      op({ operationId: 'n-edit', clientId: 'a', payload: { t: 2 }, vectorClock: { a: 2 }, timestamp: '2026-01-30T12:00:01Z' }),
      op({ operationId: 'n-recreate', operationType: 'CREATE', clientId: 'b', payload: { t: 9 }, vectorClock: { a: 1, b: 1 } }),
      op({
        operationId: 'n-del-old',
        operationType: 'DELETE',
        clientId: 'c',
        payload: undefined,
        vectorClock: { a: 1, c: 1 },
        timestamp: '2026-01-30T11:00:00Z',
      }),
      op({
        operationId: 'n-del',
        operationType: 'DELETE',
        clientId: 'a',
        payload: undefined,
        vectorClock: { a: 3, b: 1, c: 1 },
        timestamp: '2026-01-30T12:00:09Z',
      }),
      op({ operationId: 'n-late', clientId: 'b', payload: { t: 5 }, vectorClock: { a: 2, b: 2 } }),
    ]);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const byOp = Object.fromEntries(r.body.conflicts.map((c: { operationId: string }) => [c.operationId, c]));
    expect(byOp['n-recreate']).toMatchObject({
      type: 'CREATE_EXISTING',
      serverValue: { t: 2 },
      clientValue: { t: 9 },
      serverClock: { a: 2 },
      clientClock: { a: 1, b: 1 },
      resolution: { policy: 'last-writer-wins', winner: 'server' },
    });
    expect(byOp['n-del-old']).toMatchObject({ type: 'DELETE_MODIFIED', resolution: { winner: 'server' } });
    expect(byOp['n-late']).toMatchObject({ type: 'UPDATE_AFTER_DELETE', fields: ['t'], clientValue: { t: 5 } });
    expect(r.body.resolvedOperations.map((o: { operationId: string }) => o.operationId)).toEqual(['n-create', 'n-edit', 'n-del']);
    expectError(await snapshot(token, 'note/n1'), 404, 'NOT_FOUND');
  });
});

describe('GET /api/reconciliation/snapshot/:entityType/:entityId', () => {
  it('answers a checksum over canonical JSON: stable under key order, equal to one computed by hand', async () => {
    const fresh = await eventTenant();
    const token = fresh.alice.access_token;
    await reconcile(token, fresh.tenant, [
      operation(fresh.tenant, {
        operationType: 'CREATE',
        entityId: 'doc-456',
        payload: { title: 'Doc', content: 'Updated text' },
      }),
    ]);
    const a = await snapshot(token, 'document/doc-456');
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    // sha256('{"content":"Updated text","title":"Doc"}'), computed outside the Worker (node:crypto).
    expect(a.body).toMatchObject({
      tenantId: fresh.tenant,
      entityType: 'document',
      entityId: 'doc-456',
      version: '1',
      data: { title: 'Doc', content: 'Updated text' },
      checksum: '3f8db6bc8460a03d0580f8cf779e38fc97024c9f749f48065237f6024fb01db8',
    });
    // Rewritten to the same state with its keys in the other order: same checksum, same snapshot id.
    await reconcile(token, fresh.tenant, [
      operation(fresh.tenant, { entityId: 'doc-456', payload: { content: 'x' }, vectorClock: { 'client-789': 2 } }),
      operation(fresh.tenant, {
        entityId: 'doc-456',
        payload: { content: 'Updated text', title: 'Doc' },
        vectorClock: { 'client-789': 3 },
      }),
    ]);
    const b = await snapshot(token, 'document/doc-456');
    expect(b.body.version).toBe('3');
    expect(b.body.checksum).toBe(a.body.checksum);
    expect(b.body.snapshotId).toBe(a.body.snapshotId);
    expectError(await snapshot(token, 'document/never'), 404, 'NOT_FOUND');
  });

  it('writes entities behind to D1', async () => {
    const fresh = await eventTenant();
    await reconcile(fresh.alice.access_token, fresh.tenant, [
      operation(fresh.tenant, { operationType: 'CREATE', entityId: 'wb', payload: { n: 1 } }),
    ]);
    await runDurableObjectAlarm(env.RECONCILIATION.getByName(fresh.tenant));
    const row = await env.DB.prepare(
      'SELECT version, data, deleted FROM reconciled_entities WHERE tenant_id = ?1 AND entity_id = ?2',
    )
      .bind(fresh.tenant, 'wb')
      .first();
    expect(row).toEqual({ version: 1, data: '{"n":1}', deleted: 0 });
  });
});
