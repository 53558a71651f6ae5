import { describe, expect, it } from 'vitest';
import {
  applyMethod,
  connectionClosed,
  createRoomState,
  nextDeadline,
  type RoomCaller,
  type RoomState,
  roomSnapshot,
  tick,
} from '../../../src/domain/room';
import { PRESENCE_GRACE_MS } from '../../../src/domain/room-presence';

const alice: RoomCaller = { userId: 'u-alice', username: 'Alice', connectionId: 'c-a1' };
const aliceBack: RoomCaller = { ...alice, connectionId: 'c-a2' };
const bob: RoomCaller = { userId: 'u-bob', username: 'Bob', connectionId: 'c-b1' };
const T0 = 1_000_000;

function joined(): RoomState {
  let s = createRoomState();
  for (const c of [alice, bob]) s = applyMethod(s, c, 'room.join', {}, T0).state;
  return s;
}

const aliceIn = (s: RoomState) => roomSnapshot(s).presence.find((p) => p.userId === alice.userId);

describe('presence grace period: a closed socket is not a leave until the grace period is over', () => {
  it('announces nothing for a socket that closes and a connection that joins again within the grace period', () => {
    let s = applyMethod(joined(), alice, 'presence.update', { activity: { type: 'drawing' } }, T0).state;
    const closed = connectionClosed(s, alice, T0 + 100);
    expect(closed.events).toEqual([]);
    s = closed.state;
    expect(aliceIn(s)).toMatchObject({ status: 'online', activity: { type: 'drawing' } });
    expect(aliceIn(s)).not.toHaveProperty('leavingAt');
    expect(nextDeadline(s)).toBe(T0 + 100 + PRESENCE_GRACE_MS);
    expect(tick(s, T0 + 100 + PRESENCE_GRACE_MS - 1).events).toEqual([]);

    const back = applyMethod(s, aliceBack, 'room.join', {}, T0 + 2_000);
    expect(back.events).toEqual([]);
    expect(back.activity).toBeUndefined();
    s = back.state;
    expect(nextDeadline(s)).toBeNull();
    expect(tick(s, T0 + 100 + PRESENCE_GRACE_MS + 1).events).toEqual([]);
    expect(aliceIn(s)?.status).toBe('online');
  });

  it('announces user_left (and records it) when the grace period ends without a new connection', () => {
    const s = connectionClosed(joined(), alice, T0 + 100).state;
    const due = tick(s, T0 + 100 + PRESENCE_GRACE_MS);
    expect(due.events).toEqual([{ method: 'user_left', data: { userId: alice.userId, username: 'Alice', lastSeen: T0 + 100 } }]);
    expect((due.activities ?? []).map((a) => [a.type, a.userId])).toEqual([['user_left', alice.userId]]);
    expect(aliceIn(due.state)).toMatchObject({ status: 'offline', lastSeen: T0 + 100 });
    expect(nextDeadline(due.state)).toBeNull();
    // Coming back later is a new arrival.
    expect(applyMethod(due.state, aliceBack, 'room.join', {}, T0 + 20_000).events.map((e) => e.method)).toEqual(['user_joined']);
  });

  it('leaves at once on room.leave, keeps a user with another tab, and ignores unknown connections', () => {
    const s = joined();
    expect(applyMethod(s, alice, 'room.leave', {}, T0).events.map((e) => e.method)).toEqual(['user_left']);
    const twoTabs = applyMethod(s, aliceBack, 'room.join', {}, T0).state;
    const oneClosed = connectionClosed(twoTabs, alice, T0 + 1);
    expect(nextDeadline(oneClosed.state)).toBeNull();
    expect(connectionClosed(s, { ...bob, connectionId: 'c-unknown' }, T0).state).toBe(s);
  });

  it('takes the grace period from the caller (the actor config), 0 meaning the next tick', () => {
    const s = connectionClosed(joined(), alice, T0, 0).state;
    expect(nextDeadline(s)).toBe(T0);
    expect(tick(s, T0).events.map((e) => e.method)).toEqual(['user_left']);
  });
});
