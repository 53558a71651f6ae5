import { abortAllDurableObjects, env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { orchestratorKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import type { PresenceChange } from '../../src/core/presence';
import { orchestratorDialect } from '../../src/dialects/orchestrator';
import { type Frame, freshTenant, openActorSocket, openActorSse, player, service, sleep } from '../core/helpers';

const room = (tenant: string) => env.ROOM.getByName(orchestratorKey(tenant));

type Stub = ReturnType<typeof room>;
/** RPC typings cannot express `unknown` payloads; the actor's own signatures are the contract. */
type RoomApi = Pick<Room, 'poll' | 'clients' | 'publishOrchestrator' | 'sendFrame' | 'configure' | 'orchestratorState'>;
const rpc = (stub: Stub) => stub as unknown as RoomApi;

async function publishOutputs(stub: Stub, tenant: string, from: number, to: number) {
  const items = [];
  for (let i = from; i <= to; i++)
    items.push({ type: 'iteration_output', payload: { taskId: 'T', iteration: 1, output: `line ${i}` } });
  const res = await rpc(stub).publishOrchestrator(service(tenant), items);
  if (!res.ok) throw new Error(JSON.stringify(res.error));
  return res.events;
}

const outputs = (frames: Frame[]) => frames.map((f) => f.payload.output as string);

describe('resync over the log', () => {
  it('a client that drops and reconnects with lastEventId gets exactly the missed events, in order, once', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const a = await openActorSocket(stub, player('1', tenant));
    await a.nextOf('connected');
    await publishOutputs(stub, tenant, 1, 3);
    const seen = [await a.next(), await a.next(), await a.next()];
    expect(seen.map((f) => f.sequence)).toEqual([1, 2, 3]);
    a.ws.close(1000, 'bye');
    await a.waitClosed();

    await publishOutputs(stub, tenant, 4, 6);
    const b = await openActorSocket(stub, player('1', tenant), `lastEventId=${encodeURIComponent(seen[2]!.eventId)}`);
    expect((await b.next()).type).toBe('connected');
    const resync = await b.next();
    expect(resync.type).toBe('resync_response');
    expect(resync.payload.truncated).toBe(false);
    expect(resync.payload.missedEvents.map((e: Frame) => e.sequence)).toEqual([4, 5, 6]);
    expect(outputs(resync.payload.missedEvents)).toEqual(['line 4', 'line 5', 'line 6']);
    // live events continue right after the replay, no duplicate and no gap
    await publishOutputs(stub, tenant, 7, 7);
    expect((await b.next()).sequence).toBe(7);

    // the same by sequence
    const c = await openActorSocket(stub, player('2', tenant), 'lastSequence=5');
    await c.nextOf('connected');
    expect((await c.nextOf('resync_response')).payload.missedEvents.map((e: Frame) => e.sequence)).toEqual([6, 7]);
  });

  it('gives a snapshot with truncated:true when the reference left the ring, is past the limit, or is unknown', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ ringSize: 5, replayLimit: 3 });
    await rpc(stub).publishOrchestrator(service(tenant), [{ type: 'battle_start', payload: { taskId: 'T', task: { n: 1 } } }]);
    const all = await publishOutputs(stub, tenant, 2, 10);

    const old = await openActorSocket(stub, player('1', tenant), `lastSequence=2`); // event 3 has left the ring of 5
    await old.nextOf('connected');
    const r1 = await old.nextOf('resync_response');
    expect(r1.payload.truncated).toBe(true);
    expect(r1.payload.missedEvents).toEqual([]);
    expect(r1.payload.state.activeBattle).toMatchObject({ taskId: 'T', status: 'running', iteration: 1 });
    expect(r1.payload.lastEventId).toBe(all[all.length - 1]!.eventId);

    const behind = await openActorSocket(stub, player('1', tenant), 'lastSequence=6'); // 4 missed > limit 3
    await behind.nextOf('connected');
    expect((await behind.nextOf('resync_response')).payload.truncated).toBe(true);

    const close = await openActorSocket(stub, player('1', tenant), 'lastSequence=8'); // 2 missed
    await close.nextOf('connected');
    const r3 = await close.nextOf('resync_response');
    expect(r3.payload.truncated).toBe(false);
    expect(r3.payload.missedEvents.map((e: Frame) => e.sequence)).toEqual([9, 10]);

    for (const bad of ['nonsense', 'ezzzz-3', 'e1-999999']) {
      const s = await openActorSocket(stub, player('1', tenant));
      await s.nextOf('connected');
      s.send({ type: 'resync', lastEventId: bad, requestedScopes: ['battle'] });
      const r = await s.nextOf('resync_response');
      expect(r.payload.truncated, bad).toBe(true);
      expect(r.payload.state.activeBattle.taskId).toBe('T');
      expect(r.payload.state.planningSession).toBeUndefined();
    }
  });

  it('answers a resync message; an unknown scope is an error frame and the socket stays up', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    const connected = await s.nextOf('connected');
    await rpc(stub).publishOrchestrator(service(tenant), [
      { type: 'planning_output', payload: { output: 'Hello ' } },
      { type: 'repo_changed', payload: { workingDir: '/src/app' } },
    ]);
    await s.next();
    await s.next();
    s.send({ type: 'resync', lastEventId: connected.payload.lastEventId, requestedScopes: ['planning'] });
    const r = await s.nextOf('resync_response');
    expect(r.payload.truncated).toBe(false);
    expect(r.payload.missedEvents.map((e: Frame) => e.type)).toEqual(['planning_output']); // filtered to the scope
    expect(r.payload.state).toMatchObject({
      planningSession: { state: 'planning', partialOutput: 'Hello ' },
      config: { workingDir: '/src/app' },
    });

    s.send({ type: 'resync', lastEventId: connected.payload.lastEventId, requestedScopes: ['weather'] });
    const err = await s.next();
    expect(err).toMatchObject({ type: 'error', payload: { code: 'INVALID_REQUEST' } });
    expect(err.payload.details.field).toBe('requestedScopes.0');
    s.send({ type: 'ping', payload: { timestamp: 't' } });
    expect((await s.next()).type).toBe('pong');
  });
});

describe('durability across eviction, abort and hibernation', () => {
  it('keeps identities and subscriptions of hibernated sockets and continues the sequence after eviction', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('42', tenant), 'topics=battle');
    const connected = await s.nextOf('connected');
    await publishOutputs(stub, tenant, 1, 2);
    expect((await s.next()).sequence).toBe(1);
    expect((await s.next()).sequence).toBe(2);

    await evictDurableObject(stub, { webSockets: 'hibernate' });
    // a frame wakes the actor: the connection is the same one, with its identity and subscriptions
    s.send({ type: 'ping', payload: { timestamp: 'after-wake' } });
    expect((await s.next()).payload.timestamp).toBe('after-wake');
    const clients = await rpc(stub).clients();
    expect(clients.count).toBe(1);
    expect(clients.connections[0]).toMatchObject({
      connectionId: connected.payload.connectionId,
      userId: '42',
      username: 'user42',
    });

    await rpc(stub).publishOrchestrator(service(tenant), [
      { type: 'planning_output', payload: { output: 'not for battle subscribers' } },
    ]);
    await publishOutputs(stub, tenant, 4, 4);
    const next = await s.next();
    expect(next.sequence).toBe(4); // sequence continued; the planning event (3) was filtered by the subscription
    expect(next.scope).toBe('battle');
  });

  it('loses nothing when the actor is aborted mid-stream: the client resumes from its last id', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    await publishOutputs(stub, tenant, 1, 3);
    const last = [await s.next(), await s.next(), await s.next()].pop()!;

    await abortAllDurableObjects();
    const fresh = room(tenant);
    await publishOutputs(fresh, tenant, 4, 5);
    const back = await openActorSocket(fresh, player('1', tenant), `lastEventId=${last.eventId}`);
    await back.nextOf('connected');
    const r = await back.nextOf('resync_response');
    expect(r.payload.missedEvents.map((e: Frame) => e.sequence)).toEqual([4, 5]);
    expect(r.payload.missedEvents[0].eventId.split('-')[0]).toBe(last.eventId.split('-')[0]); // same epoch
  });
});

describe('one log, three transports', () => {
  it('WebSocket → SSE → polling: every event exactly once, in order', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const got: string[] = [];
    const ws = await openActorSocket(stub, player('1', tenant));
    await ws.nextOf('connected');
    await publishOutputs(stub, tenant, 1, 2);
    let lastId = '';
    for (let i = 0; i < 2; i++) {
      const f = await ws.next();
      got.push(f.payload.output);
      lastId = f.eventId;
    }
    ws.ws.close(1000);
    await publishOutputs(stub, tenant, 3, 4);

    const sse = await openActorSse(stub, player('1', tenant), '', lastId);
    expect((await sse.next()).event).toBe('connected');
    for (let i = 0; i < 2; i++) {
      const m = await sse.next();
      expect(m.event).toBe('iteration_output');
      const frame = JSON.parse(m.data);
      expect(m.id).toBe(frame.eventId);
      got.push(frame.payload.output);
      lastId = m.id!;
    }
    await publishOutputs(stub, tenant, 5, 5); // live over SSE
    const live = await sse.next();
    got.push(JSON.parse(live.data).payload.output);
    lastId = live.id!;
    await sse.cancel();

    await publishOutputs(stub, tenant, 6, 8);
    const page1 = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: lastId, limit: 2 });
    expect(page1.hasMore).toBe(true);
    const page2 = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: page1.nextEventId!, limit: 2 });
    expect(page2.hasMore).toBe(false);
    for (const f of [...page1.events, ...page2.events] as Frame[]) got.push(f.payload.output);
    expect(got).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8']);

    const empty = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: page2.nextEventId! });
    expect(empty).toMatchObject({ events: [], hasMore: false, nextEventId: page2.nextEventId });
  });

  it('long-polls until the next event, filters SSE by type, and flags an unknown poll reference', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const start = await rpc(stub).poll(player('1', tenant), 'orchestrator', {});
    expect(start.events).toEqual([]);
    expect(start.snapshot).toBeDefined();
    const sse = await openActorSse(stub, player('1', tenant), 'types=battle_start');
    await sse.next(); // connected
    const waiting = rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: start.nextEventId!, wait: 5 });
    await sleep(100);
    await publishOutputs(stub, tenant, 1, 1);
    await rpc(stub).publishOrchestrator(service(tenant), [{ type: 'battle_start', payload: { taskId: 'B', task: {} } }]);
    const answer = await waiting;
    expect((answer.events[0] as Frame).payload.output).toBe('line 1');
    const m = await sse.next();
    expect(m.event).toBe('battle_start'); // the iteration_output before it was filtered out
    await sse.cancel();

    const bad = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: 'e0-1' });
    expect(bad.truncated).toBe(true);
  });

  it('answers a first poll (no reference) at once with its snapshot, even when asked to wait', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const started = Date.now();
    const first = rpc(stub).poll(player('1', tenant), 'orchestrator', { wait: 5 });
    await sleep(100);
    await publishOutputs(stub, tenant, 1, 1);
    const answer = await first;
    expect(answer.snapshot).toBeDefined();
    expect(answer.events).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2000);
    // The event published meanwhile is the next poll's, not lost.
    const next = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: answer.nextEventId! });
    expect((next.events[0] as Frame).payload.output).toBe('line 1');
  });

  it('SSE resume from a reference that left the ring gets a resync_response snapshot with the latest id', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ ringSize: 3 });
    const events = await publishOutputs(stub, tenant, 1, 6);
    const sse = await openActorSse(stub, player('1', tenant), '', events[0]!.eventId);
    await sse.next(); // connected
    const m = await sse.next();
    expect(m.event).toBe('resync_response');
    expect(m.id).toBe(events[5]!.eventId);
    expect(JSON.parse(m.data).payload.truncated).toBe(true);
    await sse.cancel();
  });
});

describe('connection limits and codecs', () => {
  it('closes with 1009 on an oversize frame', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    s.ws.send(JSON.stringify({ type: 'ping', payload: { timestamp: 'x'.repeat(70 * 1024) } }));
    expect((await s.waitClosed()).code).toBe(1009);
  });

  it('answers malformed and unknown frames with error frames and keeps the socket open', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    s.ws.send('{not json');
    expect(await s.next()).toMatchObject({
      type: 'error',
      payload: { code: 'INVALID_REQUEST', message: 'Malformed JSON frame' },
    });
    s.ws.send('[1,2]');
    expect((await s.next()).type).toBe('error');
    s.send({ type: 'launch_missiles' });
    expect(await s.next()).toMatchObject({
      type: 'error',
      payload: { code: 'INVALID_REQUEST', details: { type: 'launch_missiles' } },
    });
    s.send({ type: 'ping', payload: { timestamp: 42 } });
    expect(await s.next()).toMatchObject({ type: 'pong', payload: { timestamp: 42 } });
    s.send({ type: 'ping', timestamp: '2026-01-30T12:00:00Z' });
    expect(await s.next()).toMatchObject({ type: 'pong', payload: { timestamp: '2026-01-30T12:00:00Z' } });
    expect(s.closed).toBeNull();
  });

  it('sends RATE_LIMIT_EXCEEDED over the limit and closes with 1008 when it goes on', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ messagesPerMinute: 5, rateLimitStrikes: 3 });
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    for (let i = 0; i < 5; i++) s.send({ type: 'ping', payload: { timestamp: `${i}` } });
    for (let i = 0; i < 5; i++) expect((await s.next()).type).toBe('pong');
    s.send({ type: 'ping' });
    const err = await s.next();
    expect(err).toMatchObject({ type: 'error', payload: { code: 'RATE_LIMIT_EXCEEDED' } });
    expect(err.payload.details.retryAfterMs).toBeGreaterThan(0);
    expect(s.closed).toBeNull();
    s.send({ type: 'ping' });
    s.send({ type: 'ping' });
    expect((await s.waitClosed()).code).toBe(1008);
  });

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

  it('speaks MessagePack binary frames with the same envelope as JSON', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const m = await openActorSocket(stub, player('1', tenant), 'codec=msgpack');
    const j = await openActorSocket(stub, player('2', tenant));
    const mc = await m.nextOf('connected');
    await j.nextOf('connected');
    expect(mc.payload.connectionId).toMatch(/^conn_/);
    m.ws.send(encode({ type: 'ping', payload: { timestamp: 'bin' } }));
    expect(await m.next()).toMatchObject({ type: 'pong', payload: { timestamp: 'bin' } });
    await publishOutputs(stub, tenant, 1, 1);
    const [fm, fj] = [await m.next(), await j.next()];
    expect(fm.binary).toBe(true);
    expect(fj.binary).toBeUndefined();
    const { binary: _b, ...envelope } = fm;
    expect(envelope).toEqual(fj);
    m.ws.send(new Uint8Array([0xc1])); // never-used MessagePack byte
    expect(await m.next()).toMatchObject({ type: 'error', payload: { message: 'Malformed MessagePack frame' } });
    // a JSON client that sends a binary frame is answered in MessagePack from then on
    j.ws.send(encode({ type: 'ping', payload: { timestamp: 'switch' } }));
    expect(await j.next()).toMatchObject({ binary: true, type: 'pong', payload: { timestamp: 'switch' } });
  });
});

describe('presence and HTTP-sent frames', () => {
  it('coalesces join/leave per user: two sockets of one user are one join and one leave', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const changes: string[] = [];
    await runInDurableObject(stub, (instance: Room) => {
      (instance as unknown as { dialects: Record<string, unknown> }).dialects = {
        orchestrator: {
          ...orchestratorDialect,
          onPresence: (_api: unknown, c: PresenceChange) => changes.push(`${c.kind}:${c.entry.userId}`),
        },
      };
    });
    const a1 = await openActorSocket(stub, player('7', tenant));
    const a2 = await openActorSocket(stub, player('7', tenant));
    const b = await openActorSocket(stub, player('8', tenant));
    await Promise.all([a1.nextOf('connected'), a2.nextOf('connected'), b.nextOf('connected')]);
    const list = await rpc(stub).clients({ limit: 1 });
    expect(list.count).toBe(3);
    expect(list.presence.total).toBe(2);
    expect(list.presence.users).toHaveLength(1);
    expect(list.presence.users[0]).toMatchObject({ userId: '7', connections: 2, status: 'online' });
    const page2 = await rpc(stub).clients({ limit: 1, cursor: list.presence.nextCursor! });
    expect(page2.presence.users[0]?.userId).toBe('8');
    expect(page2.presence.nextCursor).toBeNull();

    a1.ws.close(1000);
    await a1.waitClosed();
    await sleep(50);
    expect(changes).toEqual(['join:7', 'join:8']);
    a2.ws.close(1000);
    await a2.waitClosed();
    await sleep(50);
    expect(changes).toEqual(['join:7', 'join:8', 'leave:7']);
  });

  it('handles a frame sent over HTTP like a WebSocket frame and answers the frames sent back', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const pong = await rpc(stub).sendFrame(
      player('1', tenant),
      'orchestrator',
      JSON.stringify({ type: 'ping', payload: { timestamp: 'h' } }),
    );
    expect(pong).toMatchObject({ tooLarge: false, frames: [{ type: 'pong', payload: { timestamp: 'h' } }] });
    const bad = await rpc(stub).sendFrame(player('1', tenant), 'orchestrator', '{oops');
    expect(bad.frames).toMatchObject([{ type: 'error', payload: { code: 'INVALID_REQUEST' } }]);
    const big = await rpc(stub).sendFrame(player('1', tenant), 'orchestrator', 'x'.repeat(65 * 1024));
    expect(big.tooLarge).toBe(true);
  });
});

describe('alarm-driven work', () => {
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

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await count()).toBe(3);
    const row = await env.DB.prepare('SELECT * FROM orchestrator_events WHERE tenant_id = ? ORDER BY sequence LIMIT 1')
      .bind(tenant)
      .first<Record<string, unknown>>();
    expect(row).toMatchObject({ event_id: events[0]!.eventId, sequence: 1, type: 'iteration_output', scope: 'battle' });
    expect(JSON.parse(row!.payload as string)).toEqual({ taskId: 'T', iteration: 1, output: 'line 1' });

    // A crash after the D1 batch but before the outbox delete: the same rows are flushed again.
    await runInDurableObject(stub, (_instance, state) => {
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
