import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { publishOutputs, room, rpc } from '../support/orchestrator';
import { freshTenant, openActorSocket, player, service, sleep } from '../support/sockets';

describe('alarm-driven work', () => {
  it('closes an idle connection cleanly when the alarm finds it silent past the timeout', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ idleTimeoutMs: 50 });
    const idle = await openActorSocket(stub, player('1', tenant));
    await idle.nextOf('connected');
    await sleep(120);
    await runDurableObjectAlarm(stub);
    const closed = await idle.waitClosed();
    expect(closed).toMatchObject({ code: 1000, reason: 'Idle timeout' });
    expect((await rpc(stub).clients()).count).toBe(0);
  });

  it('sends planning_keepalive while planning is active and stops when planning completes', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ planningKeepaliveMs: 100 });
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    await rpc(stub).publishOrchestrator(service(tenant), [{ type: 'planning_output', payload: { output: 'thinking' } }]);
    await sleep(150);
    await runDurableObjectAlarm(stub);
    const keepalive = await s.nextOf('planning_keepalive');
    expect(keepalive).toMatchObject({ scope: 'planning', payload: { state: 'planning' } });
    expect(typeof keepalive.sequence).toBe('number');

    await rpc(stub).publishOrchestrator(service(tenant), [{ type: 'planning_completed', payload: { prd: { title: 'P' } } }]);
    await s.nextOf('planning_completed');
    const count = () => s.frames.filter((f) => f.type === 'planning_keepalive').length;
    const before = count();
    await sleep(250);
    await runDurableObjectAlarm(stub);
    await sleep(50);
    expect(count()).toBe(before);
    expect(await rpc(stub).orchestratorState(['prd'])).toMatchObject({ prd: { title: 'P' } });
  });

  it('writes published events behind to D1 once, even when a flush is replayed after a crash', async () => {
    const tenant = freshTenant();
    await env.DB.prepare('INSERT INTO tenants (id) VALUES (?)').bind(tenant).run();
    const stub = room(tenant);
    await rpc(stub).configure({ flushDelayMs: 60_000 });
    const events = await publishOutputs(stub, tenant, 1, 3);
    const count = async () =>
      (await env.DB.prepare('SELECT COUNT(*) AS n FROM orchestrator_events WHERE tenant_id = ?')
        .bind(tenant)
        .first<{ n: number }>())!.n;
    expect(await count()).toBe(0); // not yet: write-behind
    const outbox = () =>
      runInDurableObject(stub, (_i, state) =>
        state.storage.sql
          .exec<{ kind: string }>('SELECT kind FROM _core_outbox')
          .toArray()
          .map((r) => r.kind),
      );
    // One write-behind row for the published batch of three, not one per event.
    expect(await outbox()).toEqual(['orchestrator_events']);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await count()).toBe(3);
    const row = await env.DB.prepare('SELECT * FROM orchestrator_events WHERE tenant_id = ? ORDER BY sequence LIMIT 1')
      .bind(tenant)
      .first<Record<string, unknown>>();
    expect(row).toMatchObject({ event_id: events[0]!.eventId, sequence: 1, type: 'iteration_output', scope: 'battle' });
    expect(JSON.parse(row!.payload as string)).toEqual({ taskId: 'T', iteration: 1, output: 'line 1' });

    // A crash after the D1 batch but before the outbox delete: the same rows are flushed again (the batch row, and
    // rows of the one-per-event kind queued before batches existed).
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(
        'INSERT INTO _core_outbox (kind, payload) VALUES (?, ?)',
        'orchestrator_events',
        JSON.stringify(
          events.map((e) => ({
            tenantId: tenant,
            eventId: e.eventId,
            epoch: 'x',
            sequence: e.sequence,
            type: e.type,
            scope: e.scope,
            payload: {},
            timestamp: e.timestamp,
          })),
        ),
      );
      for (const e of events) {
        state.storage.sql.exec(
          'INSERT INTO _core_outbox (kind, payload) VALUES (?, ?)',
          'orchestrator_event',
          JSON.stringify({
            tenantId: tenant,
            eventId: e.eventId,
            epoch: 'x',
            sequence: e.sequence,
            type: e.type,
            scope: e.scope,
            payload: {},
            timestamp: e.timestamp,
          }),
        );
      }
      void state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await count()).toBe(3);
    const pending = await runInDurableObject(
      stub,
      (_i, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM _core_outbox').one().n,
    );
    expect(pending).toBe(0);
  });
});
