import { describe, expect, it } from 'vitest';
import { outputs, publishOutputs, room, rpc } from '../support/orchestrator';
import { type Frame, freshTenant, openActorSocket, player, service } from '../support/sockets';

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
