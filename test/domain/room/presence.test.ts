import { describe, expect, it } from 'vitest';
import {
  CURSOR_INTERVAL_MS,
  type CursorThrottle,
  connect,
  disconnect,
  flushCursor,
  isConnected,
  listPresence,
  MAX_CONNECTIONS_PER_USER,
  MAX_OFFLINE,
  type PresenceState,
  setCursor,
  throttleCursor,
  toPresenceData,
  updatePresence,
} from '../../../src/domain/room-presence';
import { ApiError } from '../../../src/errors';

const alice = (connectionId: string) => ({ userId: 'u-alice', username: 'Alice', connectionId });

function codeOf(fn: () => unknown): [string, string | undefined] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return [e.code, e.details?.issue];
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('presence: one per user, however many tabs', () => {
  it('a second tab adds a connection, not a second presence; the user leaves with the last tab', () => {
    let s: PresenceState = {};
    const first = connect(s, alice('c1'), 100);
    expect(first.firstConnection).toBe(true);
    s = first.state;
    const second = connect(s, alice('c2'), 200);
    expect(second).toMatchObject({ firstConnection: false, alreadyJoined: false });
    s = second.state;
    expect(listPresence(s)).toEqual([{ userId: 'u-alice', username: 'Alice', status: 'online', lastSeen: 200 }]);
    expect(connect(s, alice('c2'), 300)).toMatchObject({ alreadyJoined: true, state: s });
    expect(isConnected(s, 'u-alice', 'c1') && isConnected(s, 'u-alice', 'c2')).toBe(true);

    const d1 = disconnect(s, 'u-alice', 'c1', 400);
    expect(d1).toMatchObject({ lastConnection: false, wasConnected: true });
    expect(d1.entry?.status).toBe('online');
    const d2 = disconnect(d1.state, 'u-alice', 'c2', 500);
    expect(d2.lastConnection).toBe(true);
    expect(toPresenceData(d2.entry!)).toEqual({ userId: 'u-alice', username: 'Alice', status: 'offline', lastSeen: 500 });
    // unknown connection: no-op
    expect(disconnect(d2.state, 'u-alice', 'c9', 600)).toMatchObject({ wasConnected: false, state: d2.state });
    // comes back: online again, one entry
    const back = connect(d2.state, alice('c3'), 700);
    expect(back.firstConnection).toBe(true);
    expect(Object.keys(back.state)).toEqual(['u-alice']);
  });

  it('caps connections per user', () => {
    let s: PresenceState = {};
    for (let i = 0; i < MAX_CONNECTIONS_PER_USER; i++) s = connect(s, alice(`c${i}`), i).state;
    expect(codeOf(() => connect(s, alice('one-too-many'), 99))).toEqual(['RATE_LIMIT_EXCEEDED', 'too_many_connections']);
  });

  it('merges status and activity updates; going offline drops activity and cursor', () => {
    let s = connect({}, alice('c1'), 0).state;
    s = updatePresence(s, 'u-alice', { status: 'away' }, 1).state;
    s = updatePresence(s, 'u-alice', { activity: { type: 'drawing', location: 'map' } }, 2).state;
    s = setCursor(s, 'u-alice', { x: 5, y: 6 }, 3).state;
    expect(toPresenceData(s['u-alice']!)).toEqual({
      userId: 'u-alice',
      username: 'Alice',
      status: 'away',
      activity: { type: 'drawing', location: 'map' },
      cursor: { x: 5, y: 6 },
      lastSeen: 3,
    });
    s = updatePresence(s, 'u-alice', { status: 'online', activity: null }, 4).state;
    expect(s['u-alice']).toMatchObject({ status: 'online', lastSeen: 4 });
    expect(s['u-alice']?.activity).toBeUndefined();
    s = setCursor(s, 'u-alice', { x: 1, y: 1 }, 5).state;
    const off = disconnect(s, 'u-alice', 'c1', 6).entry!;
    expect(off.cursor).toBeUndefined();
    expect(off.status).toBe('offline');
  });

  it('rejects updates from users not present and bad values, changing nothing', () => {
    const s = connect({}, alice('c1'), 0).state;
    expect(codeOf(() => updatePresence(s, 'u-bob', { status: 'away' }, 1))).toEqual(['AUTHORIZATION_FAILED', 'not_joined']);
    const offline = disconnect(s, 'u-alice', 'c1', 1).state;
    expect(codeOf(() => setCursor(offline, 'u-alice', { x: 1, y: 1 }, 2))).toEqual(['AUTHORIZATION_FAILED', 'not_joined']);
    expect(codeOf(() => updatePresence(s, 'u-alice', { status: 'offline' as 'away' }, 1))).toEqual([
      'INVALID_REQUEST',
      'invalid_status',
    ]);
    expect(codeOf(() => updatePresence(s, 'u-alice', { activity: { type: 'sleeping' as 'typing' } }, 1))).toEqual([
      'INVALID_REQUEST',
      'invalid_activity',
    ]);
    expect(codeOf(() => updatePresence(s, 'u-alice', { activity: { type: 'typing', location: 'x'.repeat(201) } }, 1))[1]).toBe(
      'invalid_activity',
    );
    expect(codeOf(() => setCursor(s, 'u-alice', { x: Number.NaN, y: 0 }, 1))).toEqual(['INVALID_REQUEST', 'invalid_cursor']);
    expect(codeOf(() => setCursor(s, 'u-alice', { x: 0, y: 1e9 }, 1))[1]).toBe('invalid_cursor');
    expect(s['u-alice']).toEqual({ userId: 'u-alice', username: 'Alice', status: 'online', lastSeen: 0, connections: ['c1'] });
  });

  it('lists online users first and keeps only the most recently seen offline ones', () => {
    let s: PresenceState = {};
    for (let i = 0; i < MAX_OFFLINE + 5; i++) {
      s = connect(s, { userId: `u${i}`, username: `U${i}`, connectionId: 'c' }, i).state;
      s = disconnect(s, `u${i}`, 'c', 1000 + i).state;
    }
    s = connect(s, alice('c1'), 5000).state;
    const list = listPresence(s);
    expect(list).toHaveLength(MAX_OFFLINE + 1);
    expect(list[0]?.userId).toBe('u-alice');
    expect(list[1]?.userId).toBe(`u${MAX_OFFLINE + 4}`);
    expect(s.u0).toBeUndefined();
    expect(s.u5).toBeDefined();
  });
});

describe('cursor throttle (60 Hz)', () => {
  it('emits at once, coalesces moves inside the interval to the latest, and says when to flush it', () => {
    const a = throttleCursor(undefined, { x: 1, y: 1 }, 1000);
    expect(a.emit).toEqual({ x: 1, y: 1 });
    const b = throttleCursor(a.throttle, { x: 2, y: 2 }, 1005);
    expect(b).toMatchObject({ emit: null, flushAt: 1000 + CURSOR_INTERVAL_MS });
    const c = throttleCursor(b.throttle, { x: 3, y: 3 }, 1010);
    expect(c.throttle.pending).toEqual({ x: 3, y: 3 });
    expect(flushCursor(c.throttle, 1015)).toMatchObject({ emit: null, flushAt: 1000 + CURSOR_INTERVAL_MS });
    const f = flushCursor(c.throttle, 1017);
    expect(f).toEqual({ throttle: { lastEmitAt: 1017, pending: null }, emit: { x: 3, y: 3 }, flushAt: null });
    expect(flushCursor(f.throttle, 2000)).toMatchObject({ emit: null, flushAt: null });
  });

  it('a flood of moves yields at most 60 events a second and ends on the last position', () => {
    let t: CursorThrottle | undefined;
    let emitted = 0;
    let last: unknown = null;
    let flushAt: number | null = null;
    for (let now = 0; now < 1000; now++) {
      if (flushAt !== null && now >= flushAt && t) {
        const f = flushCursor(t, now);
        t = f.throttle;
        if (f.emit) {
          emitted++;
          last = f.emit;
        }
        flushAt = f.flushAt;
      }
      const r = throttleCursor(t, { x: now, y: now }, now);
      t = r.throttle;
      if (r.emit) {
        emitted++;
        last = r.emit;
      }
      flushAt = r.flushAt ?? flushAt;
    }
    expect(emitted).toBeLessThanOrEqual(60);
    expect(emitted).toBeGreaterThanOrEqual(55);
    // the final coalesced position is still delivered
    const end = flushCursor(t!, 1000 + CURSOR_INTERVAL_MS);
    if (end.emit) last = end.emit;
    expect(last).toEqual({ x: 999, y: 999 });
    expect(end.throttle.pending).toBeNull();
  });
});
