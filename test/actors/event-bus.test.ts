import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import type { BusPoll, EventBus, PullMessage } from '../../src/actors/event-bus';
import { EventBusService } from '../../src/actors/event-bus-service';
import { registerHandler, unregisterHandler } from '../../src/actors/event-handlers';
import { type BusEvent, type Published, positionCursor } from '../../src/domain/event-bus';
import type { Reply } from '../../src/errors';

let counter = 0;
/** A bus of its own per test: streams and groups never leak between tests. */
const freshBus = () => {
  const tenant = `bus-${Date.now().toString(36)}-${counter++}`;
  return { tenant, bus: env.EVENT_BUS.getByName(tenant) };
};

/** RPC answers lose `unknown` payload types; these are the actor's declared ones. */
const ok = <T>(reply: unknown): T => {
  const r = reply as Reply<T>;
  if (!r.ok) throw new Error(`${r.error.error}: ${r.error.message}`);
  return r.value;
};

type Bus = DurableObjectStub<EventBus>;
/** Bounded waits for what the bus's own alarm may do at any moment (never a timed assertion). */
const WAIT = { timeout: 15_000, interval: 20 };

const publishN = async (bus: Bus, n: number, type = 'order.placed') =>
  ok<Published[]>(await bus.publish(Array.from({ length: n }, (_, i) => ({ eventType: type, payload: { i } }))));

const pull = async (bus: Bus, group: string, consumer: string, batch = 10) =>
  ok<{ messages: PullMessage[] }>(await bus.pull(group, consumer, batch)).messages;

/** Moves every lease and redelivery of the bus into the past, as if the ack wait had run out. */
const expireAll = (bus: Bus) =>
  runInDurableObject(bus, (_i, state) => {
    state.storage.sql.exec('UPDATE bus_pending SET due_at = ?', Date.now() - 1);
  });

describe('EventBus consumer groups', () => {
  it('gives every group every matching event, from where it started', async () => {
    const { bus } = freshBus();
    const early = await publishN(bus, 2);
    ok(await bus.putGroup({ name: 'billing' }));
    ok(await bus.putGroup({ name: 'audit', startPosition: 'beginning' }));
    ok(await bus.putGroup({ name: 'shipping', eventTypes: ['order.shipped'] }));
    const later = await publishN(bus, 3);
    await publishN(bus, 1, 'order.shipped');

    const positions = (m: PullMessage[]) => m.map((x) => x.position);
    expect(positions(await pull(bus, 'billing', 'b1'))).toEqual([...later.map((p) => p.position), later[2]!.position + 1]);
    expect(positions(await pull(bus, 'audit', 'a1'))).toEqual([
      ...early.map((p) => p.position),
      ...later.map((p) => p.position),
      later[2]!.position + 1,
    ]);
    const shipped = await pull(bus, 'shipping', 's1');
    expect(shipped.map((m) => m.event.eventType)).toEqual(['order.shipped']);
    expect(shipped[0]!.attempts).toBe(1);
  });

  it("never hands one event to two consumers of a group at once; a nack's delay keeps it back", async () => {
    const { bus } = freshBus();
    ok(await bus.putGroup({ name: 'workers' }));
    await publishN(bus, 6);
    const a = await pull(bus, 'workers', 'a', 4);
    const b = await pull(bus, 'workers', 'b', 4);
    expect(a).toHaveLength(4);
    expect(b).toHaveLength(2);
    const held = new Set(a.map((m) => m.position));
    expect(b.some((m) => held.has(m.position))).toBe(false);
    expect(await pull(bus, 'workers', 'c', 4)).toEqual([]);

    const pending = ok<Array<{ consumer: string; deliveries: number }>>(await bus.pendingList('workers'));
    expect(pending.map((p) => p.consumer)).toEqual(['a', 'a', 'a', 'a', 'b', 'b']);

    const settled = ok<{ acked: string[]; nacked: string[]; unknown: string[] }>(
      await bus.ack('workers', {
        acks: [a[0]!.leaseId, a[1]!.leaseId],
        nacks: [
          { leaseId: a[2]!.leaseId, delayMs: 0 },
          { leaseId: a[3]!.leaseId, delayMs: 3_600_000 },
        ],
      }),
    );
    expect(settled).toMatchObject({ acked: [a[0]!.leaseId, a[1]!.leaseId], nacked: [a[2]!.leaseId, a[3]!.leaseId], unknown: [] });
    // Acking again, or a lease never issued, changes nothing and says so.
    const again = ok<{ acked: string[]; unknown: string[] }>(await bus.ack('workers', { acks: [a[0]!.leaseId, 'lease_nope'] }));
    expect(again).toMatchObject({ acked: [], unknown: [a[0]!.leaseId, 'lease_nope'] });

    const c = await pull(bus, 'workers', 'c', 4);
    expect(c.map((m) => [m.position, m.attempts])).toEqual([[a[2]!.position, 2]]);
  });

  it('delivers unacked events again after the ack wait with the count raised, then dead-letters them', async () => {
    const { bus } = freshBus();
    ok(await bus.putGroup({ name: 'flaky', maxDeliveries: 2, ackWaitMs: 60_000 }));
    const [published] = await publishN(bus, 1);
    const first = await pull(bus, 'flaky', 'a');
    expect(first.map((m) => m.attempts)).toEqual([1]);
    expect(await pull(bus, 'flaky', 'b')).toEqual([]); // leased to a, not expired yet

    await expireAll(bus);
    const second = await pull(bus, 'flaky', 'b');
    expect(second.map((m) => [m.position, m.attempts])).toEqual([[published!.position, 2]]);
    // a's lease is gone: its ack is refused and the event stays with b.
    const late = ok<{ unknown: string[] }>(await bus.ack('flaky', { acks: [first[0]!.leaseId] }));
    expect(late.unknown).toEqual([first[0]!.leaseId]);

    await expireAll(bus);
    expect(await runDurableObjectAlarm(bus)).toBe(true);
    expect(ok<unknown[]>(await bus.pendingList('flaky'))).toEqual([]);
    const dead = ok<Array<{ position: number; deliveries: number; reason: string; event: BusEvent }>>(
      await bus.deadLetters('flaky'),
    );
    expect(dead).toMatchObject([{ position: published!.position, deliveries: 2, reason: 'max_deliveries' }]);
    expect(dead[0]!.event.eventId).toBe(published!.event.eventId);
    expect(await pull(bus, 'flaky', 'c')).toEqual([]);

    // Replay puts it back with a fresh count; purge removes dead letters for good.
    expect(ok<{ replayed: number }>(await bus.replayDeadLetters('flaky', null)).replayed).toBe(1);
    const replayed = await pull(bus, 'flaky', 'c');
    expect(replayed.map((m) => [m.position, m.attempts])).toEqual([[published!.position, 1]]);
    ok(await bus.ack('flaky', { terminate: [replayed[0]!.leaseId] }));
    expect(ok<Array<{ reason: string }>>(await bus.deadLetters('flaky')).map((d) => d.reason)).toEqual(['terminated']);
    expect(ok<{ purged: number }>(await bus.purgeDeadLetters('flaky', [published!.position])).purged).toBe(1);
    expect(ok<unknown[]>(await bus.deadLetters('flaky'))).toEqual([]);
  });

  it('loses nothing pending when the actor is evicted or restarts', async () => {
    const { bus } = freshBus();
    ok(await bus.putGroup({ name: 'durable' }));
    await publishN(bus, 3);
    const leased = await pull(bus, 'durable', 'a', 2);
    await evictDurableObject(bus);
    const pending = ok<Array<{ position: number; leaseId: string; consumer: string }>>(await bus.pendingList('durable'));
    expect(pending.map((p) => [p.position, p.leaseId, p.consumer])).toEqual(leased.map((m) => [m.position, m.leaseId, 'a']));
    const rest = await pull(bus, 'durable', 'b', 5);
    expect(rest).toHaveLength(1); // the cursor survived too: nothing delivered twice, nothing skipped
    expect(ok<{ acked: string[] }>(await bus.ack('durable', { acks: leased.map((m) => m.leaseId) })).acked).toHaveLength(2);
  });

  it('refuses bad groups and unknown ones clearly, and changes nothing', async () => {
    const { bus } = freshBus();
    const bad = (await bus.putGroup({ name: 'no spaces' })) as Reply<unknown>;
    expect(bad).toMatchObject({ ok: false, error: { error: 'INVALID_REQUEST', details: { field: 'group' } } });
    const badType = (await bus.putGroup({ name: 'g', eventTypes: ['a b'] })) as Reply<unknown>;
    expect(badType).toMatchObject({ ok: false, error: { details: { field: 'eventTypes.0' } } });
    expect((await bus.pull('missing', 'a', 1)) as Reply<unknown>).toMatchObject({ ok: false, error: { error: 'NOT_FOUND' } });
    expect(await bus.listGroups()).toEqual([]);
  });
});

describe('EventBusService (in-Worker publish/subscribe/unsubscribe)', () => {
  it('runs a subscribed callback from the bus, retries a throw until it succeeds, and stops after unsubscribe', async () => {
    const { tenant, bus } = freshBus();
    const service = new EventBusService(env);
    const seen: string[] = [];
    let failNext = true;
    const sub = await service.subscribe({
      tenantId: tenant,
      eventTypes: ['order.*'],
      consumerGroup: 'notification-service',
      callback: async (event) => {
        if (failNext) {
          failNext = false;
          throw new Error('mail server down');
        }
        seen.push(event.eventId);
      },
    });
    expect(sub.group).toMatchObject({ kind: 'handler', eventTypes: ['order.*'] });

    const published = await service.publish({ eventType: 'order.placed', tenantId: tenant, payload: { orderId: 'o-1' } });
    await service.publish({ eventType: 'user.created', tenantId: tenant, payload: {} });
    // The alarm may run by itself at any moment; drive it until the retry has succeeded, moving the backoff to now.
    await vi.waitFor(async () => {
      await expireAll(bus);
      await runDurableObjectAlarm(bus);
      expect(seen).toContain(published.event.eventId);
    }, WAIT);
    expect(failNext).toBe(false); // the first delivery threw; a later one succeeded
    expect(new Set(seen)).toEqual(new Set([published.event.eventId])); // user.created is not this group's
    await vi.waitFor(async () => expect(ok<unknown[]>(await bus.pendingList('notification-service'))).toEqual([]), WAIT);

    expect(await service.unsubscribe(sub.subscriptionId)).toBe(true);
    expect(await service.unsubscribe(sub.subscriptionId)).toBe(false);
    const after = seen.length;
    await service.publish({ eventType: 'order.placed', tenantId: tenant, payload: { orderId: 'o-2' } });
    await runDurableObjectAlarm(bus);
    expect(seen).toHaveLength(after);
    expect(await bus.listGroups()).toEqual([]);
  });

  it('spends no delivery while no callback is registered for a group in this isolate, and delivers once one is', async () => {
    const { tenant, bus } = freshBus();
    ok(await bus.subscribe({ subscriptionId: 'sub-later', consumerGroup: 'late-handler', eventTypes: ['*'] }));
    const [published] = await publishN(bus, 1);
    await runDurableObjectAlarm(bus);
    expect(ok<unknown[]>(await bus.pendingList('late-handler'))).toEqual([]);
    expect(ok<unknown[]>(await bus.deadLetters('late-handler'))).toEqual([]);
    expect((await bus.groupInfo('late-handler'))?.cursor).toBe(0);

    const seen: string[] = [];
    registerHandler(tenant, 'late-handler', (event) => {
      seen.push(event.eventId);
    });
    await vi.waitFor(async () => {
      await runDurableObjectAlarm(bus);
      expect(seen).toEqual([published!.event.eventId]);
    }, WAIT);
    unregisterHandler(tenant, 'late-handler');
  });

  it('refuses a batch across tenants and an invalid event before anything is stored', async () => {
    const { tenant, bus } = freshBus();
    const service = new EventBusService(env);
    await expect(
      service.publish([
        { eventType: 'a', tenantId: tenant, payload: 1 },
        { eventType: 'a', tenantId: 'other', payload: 1 },
      ]),
    ).rejects.toThrow(/one tenant/);
    await expect(service.publish({ eventType: 'not valid!', tenantId: tenant, payload: 1 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect((await bus.stats()).head).toBe(0);
  });
});

describe('EventBus retention', () => {
  it('drops events past the age bound, but never one a group holds pending (nor anything after it)', async () => {
    const { bus } = freshBus();
    ok(await bus.putGroup({ name: 'slow', startPosition: 'beginning' }));
    await publishN(bus, 3);
    const [held] = await pull(bus, 'slow', 'a', 1);
    const age = async () =>
      runInDurableObject(bus, (_i, state) => {
        state.storage.sql.exec('UPDATE bus_events SET ts = ?', Date.now() - 8 * 24 * 60 * 60_000);
      });
    await age();
    await runDurableObjectAlarm(bus);
    expect((await bus.stats()).retained).toBe(3);

    ok(await bus.ack('slow', { acks: [held!.leaseId] }));
    await age();
    await runDurableObjectAlarm(bus);
    expect((await bus.stats()).retained).toBe(0);
    // The group's cursor still points into the dropped range: nothing is pending, nothing is delivered twice.
    expect(await pull(bus, 'slow', 'a', 10)).toEqual([]);
  });
});

describe('EventBus poll', () => {
  it('says "expired" for a position retention has dropped, and starts again at the oldest retained event', async () => {
    const { bus } = freshBus();
    const published = await publishN(bus, 4);
    // Retention dropped the two oldest events.
    await runInDurableObject(bus, (_i, state) => {
      state.storage.sql.exec('DELETE FROM bus_events WHERE position <= 2');
    });
    const answer = (await bus.poll('u1', positionCursor(1), 10)) as BusPoll;
    expect(answer).toMatchObject({ truncated: true, reason: 'expired', oldestPosition: 3, hasMore: false });
    expect(answer.events.map((e) => e.eventId)).toEqual(published.slice(2).map((p) => p.event.eventId));
    // A reference just before the oldest retained event lost nothing: no flag.
    const exact = (await bus.poll('u1', positionCursor(2), 10)) as BusPoll;
    expect(exact.truncated).toBeUndefined();
    expect(exact.events).toHaveLength(2);
  });
});
