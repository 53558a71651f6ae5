import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { HubStore } from '../../src/actors/hub-store';

// The store on a real hub shard's SQLite (a key no test routes sessions to). Its room members and a socket's rooms
// are cached in memory: after every change the cached answer must equal what a fresh store reads from SQLite.
const shard = () => env.HUB.getByName(`hub-store-test-${crypto.randomUUID()}`);

describe('HubStore member cache', () => {
  it('keeps room members and rooms in step with join, leave, detach, reconnect and forget', async () => {
    await runInDurableObject(shard(), (_instance, state) => {
      const store = new HubStore(state.storage.sql);
      const fresh = () => new HubStore(state.storage.sql);
      const agree = (room: string) => {
        expect(store.roomMembers('t', room)).toEqual(fresh().roomMembers('t', room));
        expect(store.roomsOf('s1')).toEqual(fresh().roomsOf('s1'));
      };
      const connect = (socketId: string, userId: string, sid: string) =>
        store.connect({ pid: `p-${socketId}`, socketId, tenantId: 't', userId, clientId: 'c', sinceSeq: 0, sid });
      connect('s1', 'u1', 'sid1');
      connect('s2', 'u2', 'sid2');
      expect(store.roomMembers('t', 'r')).toEqual({ connected: [], userIds: [], detached: false });
      expect(store.join('t', 'r', 's1', 'u1', 'sid1', 0)).toBe(true);
      expect(store.join('t', 'r', 's2', 'u2', 'sid2', 0)).toBe(true);
      expect(store.join('t', 'b', 's1', 'u1', 'sid1', 0)).toBe(true);
      agree('r');
      expect(store.roomMembers('t', 'r').connected.map((m) => m.sid)).toEqual(['sid1', 'sid2']);
      expect(store.roomsOf('s1')).toEqual(['b', 'r']);

      // Joining twice changes nothing.
      expect(store.join('t', 'r', 's1', 'u1', 'sid1', 0)).toBe(false);
      agree('r');

      // Leaving; leaving a room one is not in changes nothing.
      expect(store.leave('t', 'b', 's1')).toBe(true);
      expect(store.leave('t', 'b', 's1')).toBe(false);
      agree('b');
      agree('r');

      // A dropped socket stays a member, detached; recovered (handed over, reconnected, rejoined) it is delivered to again.
      store.detach('s2', Date.now());
      expect(store.roomMembers('t', 'r')).toMatchObject({ detached: true, userIds: ['u1', 'u2'] });
      expect(store.roomMembers('t', 'r').connected.map((m) => m.socketId)).toEqual(['s1']);
      agree('r');
      const row = store.recovery('p-s2');
      expect(row).not.toBeNull();
      if (row) expect(store.take(row, 0, 0).rooms).toEqual(['r']);
      agree('r');
      connect('s2', 'u2', 'sid3');
      expect(store.join('t', 'r', 's2', 'u2', 'sid3', 0)).toBe(true);
      expect(store.roomMembers('t', 'r')).toMatchObject({ detached: false });
      expect(store.roomMembers('t', 'r').connected.map((m) => m.sid)).toEqual(['sid1', 'sid3']);
      agree('r');

      // An explicit disconnect forgets the socket everywhere.
      store.forget('s1');
      agree('r');
      expect(store.roomsOf('s1')).toEqual([]);
      expect(store.roomMembers('t', 'r').userIds).toEqual(['u2']);
      // Another tenant's room of the same name is another room.
      expect(store.roomMembers('other', 'r')).toEqual({ connected: [], userIds: [], detached: false });
    });
  });
});
