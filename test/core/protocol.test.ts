import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { orchestratorKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import { freshTenant, openActorSocket, player, service } from '../support/sockets';

describe('Room actor: orchestrator basics', () => {
  it('sends connected, answers ping with pong, delivers published events with eventId and sequence', async () => {
    const tenant = freshTenant();
    const stub = env.ROOM.getByName(orchestratorKey(tenant));
    const a = await openActorSocket(stub, player('1', tenant));
    const connected = await a.next();
    expect(connected.type).toBe('connected');
    expect(connected.payload.clientsConnected).toBe(1);
    expect(connected.payload.connectionId).toMatch(/^conn_/);

    a.send({ type: 'ping', payload: { timestamp: 'client-ts-1' } });
    const pong = await a.next();
    expect(pong).toMatchObject({ type: 'pong', payload: { timestamp: 'client-ts-1' } });

    const res = await (stub as unknown as Pick<Room, 'publishOrchestrator'>).publishOrchestrator(service(tenant), [
      { type: 'battle_start', payload: { taskId: 'T1', task: { title: 'x' } } },
      { type: 'iteration_start', payload: { taskId: 'T1', iteration: 1 } },
    ]);
    expect(res.ok).toBe(true);
    const e1 = await a.next();
    const e2 = await a.next();
    expect(e1).toMatchObject({ type: 'battle_start', scope: 'battle', sequence: 1, payload: { taskId: 'T1' } });
    expect(e2).toMatchObject({ type: 'iteration_start', sequence: 2 });
    expect(e1.eventId).toMatch(/^e[0-9a-z]+-1$/);
    if (res.ok) expect(res.events.map((e) => e.eventId)).toEqual([e1.eventId, e2.eventId]);
  });
});
