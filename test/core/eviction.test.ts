import { abortAllDurableObjects, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { publishOutputs, room, rpc } from '../support/orchestrator';
import { type Frame, freshTenant, openActorSocket, player, service } from '../support/sockets';

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
