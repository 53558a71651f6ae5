import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Room } from '../../src/actors/room';
import type { PresenceChange } from '../../src/core/presence';
import { room, rpc } from '../support/orchestrator';
import { freshTenant, openActorSocket, player, sleep } from '../support/sockets';

describe('presence', () => {
  it('coalesces join/leave per user: two sockets of one user are one join and one leave', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const changes: string[] = [];
    await runInDurableObject(stub, (instance: Room) => {
      const actor = instance as unknown as { dialects: Record<string, object> };
      actor.dialects = {
        orchestrator: {
          ...actor.dialects.orchestrator,
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
});
