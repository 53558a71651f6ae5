import { describe, expect, it } from 'vitest';
import { ACTIVITY_TYPES } from '../../../src/domain/activity';
import { DRAW_DEBOUNCE_MS } from '../../../src/domain/canvas';
import type { RandomSource } from '../../../src/domain/dice';
import {
  applyMethod,
  createRoomState,
  type MethodResult,
  nextDeadline,
  type RoomCaller,
  type RoomEvent,
  type RoomSnapshot,
  type RoomState,
  roomSnapshot,
  tick,
} from '../../../src/domain/room';
import { CURSOR_INTERVAL_MS } from '../../../src/domain/room-presence';
import { ApiError } from '../../../src/errors';

const aliceTab1: RoomCaller = { userId: 'u-alice', username: 'Alice', connectionId: 'c-a1' };
const aliceTab2: RoomCaller = { ...aliceTab1, connectionId: 'c-a2' };
const bob: RoomCaller = { userId: 'u-bob', username: 'Bob', connectionId: 'c-b1' };
const carol: RoomCaller = { userId: 'u-carol', username: 'Carol', connectionId: 'c-c1' };

/** Dice answer 0,1,2,... modulo the die: faces 1,2,3,... */
const counting = (): RandomSource => {
  let i = 0;
  return (max) => i++ % max;
};

/** A little driver: keeps the state like the actor would, and records what was broadcast. */
class Session {
  state: RoomState = createRoomState();
  now = 1_000_000;
  broadcast: RoomEvent[] = [];
  random = counting();

  call(caller: RoomCaller, method: string, params?: unknown): MethodResult {
    const r = applyMethod(this.state, caller, method, params, this.now, this.random);
    this.state = r.state;
    this.broadcast.push(...r.events);
    if (r.activity) {
      expect(Object.keys(r.activity).sort()).toEqual(['data', 'id', 'timestamp', 'type', 'userId', 'username']);
      expect(ACTIVITY_TYPES).toContain(r.activity.type);
    }
    return r;
  }

  /** Asserts the call is refused with this code/issue and changes nothing. */
  refuse(caller: RoomCaller, method: string, params: unknown, code: string, issue: string): ApiError {
    const before = JSON.stringify(this.state);
    let err: unknown;
    try {
      applyMethod(this.state, caller, method, params, this.now, this.random);
    } catch (e) {
      err = e;
    }
    expect(err, `${method} should fail`).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(code);
    expect((err as ApiError).details?.issue).toBe(issue);
    expect(JSON.stringify(this.state)).toBe(before);
    return err as ApiError;
  }

  /** Lets time pass like the actor's timer: runs `tick` at each deadline up to `until`. */
  advance(ms: number): RoomEvent[] {
    const until = this.now + ms;
    const out: RoomEvent[] = [];
    for (let at = nextDeadline(this.state); at !== null && at <= until; at = nextDeadline(this.state)) {
      this.now = Math.max(this.now, Math.ceil(at));
      const t = tick(this.state, this.now);
      this.state = t.state;
      out.push(...t.events);
    }
    this.now = until;
    this.broadcast.push(...out);
    return out;
  }

  take(): RoomEvent[] {
    const e = this.broadcast;
    this.broadcast = [];
    return e;
  }
}

const names = (events: RoomEvent[]) => events.map((e) => e.method);
const canvasIds = (s: RoomState) => roomSnapshot(s).canvas.map((o) => o.id);
const line = (x: number) => [
  { x, y: 0 },
  { x: x + 1, y: 1 },
];

describe('a scripted room session', () => {
  it('joins, chats, rolls, takes turns, edits, draws with undo/redo, and leaves; newcomers get the state', () => {
    const s = new Session();

    // --- joining: one presence per user, however many tabs
    s.refuse(aliceTab1, 'chat.send', { text: 'hi' }, 'AUTHORIZATION_FAILED', 'not_joined');
    const joined = s.call(aliceTab1, 'room.join');
    expect(names(s.take())).toEqual(['user_joined']);
    expect(joined.activity).toMatchObject({ type: 'user_joined', userId: 'u-alice', username: 'Alice' });
    expect((joined.response as RoomSnapshot & { you: unknown }).you).toMatchObject({ userId: 'u-alice', status: 'online' });
    expect(s.call(aliceTab2, 'room.join').events).toEqual([]);
    expect(s.call(aliceTab2, 'room.join').events).toEqual([]); // same tab again: no-op
    s.call(bob, 'room.join');
    expect(s.take()).toEqual([
      {
        method: 'user_joined',
        data: {
          userId: 'u-bob',
          username: 'Bob',
          presence: { userId: 'u-bob', username: 'Bob', status: 'online', lastSeen: s.now },
        },
      },
    ]);
    expect(
      roomSnapshot(s.state)
        .presence.map((p) => p.userId)
        .sort(),
    ).toEqual(['u-alice', 'u-bob']);

    // --- bad requests change nothing
    s.refuse(bob, 'chat.shout', {}, 'INVALID_REQUEST', 'unknown_method');
    s.refuse(bob, 'chat.send', { text: '' }, 'INVALID_REQUEST', 'invalid_params');
    s.refuse(bob, 'chat.send', { text: ' \u0000\u0007 ' }, 'INVALID_REQUEST', 'empty_message');

    // --- chat
    s.now += 10;
    const chat = s.call(bob, 'chat.send', { text: 'Hello\u0000 table!\nReady?' });
    expect(s.take()).toEqual([
      {
        method: 'chat_message',
        data: { id: chat.activity?.id, userId: 'u-bob', username: 'Bob', text: 'Hello table!\nReady?', timestamp: s.now },
      },
    ]);

    // --- dice: rolled with the injected source; abuse refused
    const dice = s.call(aliceTab2, 'dice.roll', { notation: '2d6+3', reason: 'attack' });
    expect(dice.response).toMatchObject({
      userId: 'u-alice',
      notation: '2d6+3',
      rolls: [{ term: '2d6', dice: [1, 2], kept: [1, 2], subtotal: 3 }],
      modifier: 3,
      total: 6,
      reason: 'attack',
    });
    expect(names(s.take())).toEqual(['dice_roll']);
    const abuse = s.refuse(bob, 'dice.roll', { notation: '1000000d1000000' }, 'INVALID_REQUEST', 'too_many_dice');
    expect(abuse.message).toMatch(/Too many dice/);

    // --- turns
    s.refuse(bob, 'turn.next', {}, 'INVALID_REQUEST', 'no_participants');
    s.call(aliceTab1, 'turn.add', { name: 'Aria', initiative: 15, userId: 'u-alice' });
    s.call(bob, 'turn.add', { name: 'Bram', initiative: 9, userId: 'u-bob' });
    s.call(bob, 'turn.add', { name: 'Goblin', initiative: 12 });
    s.take();
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = s.call(bob, 'turn.next');
      const d = r.response as { round: number; current: { name: string } };
      order.push(`${d.round}:${d.current.name}`);
    }
    expect(order).toEqual(['1:Aria', '1:Goblin', '1:Bram', '2:Aria']);
    const turnEvents = s.take();
    expect(names(turnEvents)).toEqual(['turn_changed', 'turn_changed', 'turn_changed', 'turn_changed']);
    expect(turnEvents[3]?.data).toMatchObject({ reason: 'next', round: 2, current: { name: 'Aria' }, userId: 'u-bob' });
    s.refuse(bob, 'turn.remove', { id: 'p-99' }, 'NOT_FOUND', 'unknown_participant');

    // --- notes and map
    const note = s.call(aliceTab1, 'note.edit', { noteId: 'quest', text: 'Find the orb', baseVersion: 0 });
    expect(note.response).toMatchObject({ id: 'quest', version: 1, updatedBy: 'u-alice' });
    s.refuse(bob, 'note.edit', { noteId: 'quest', text: 'stale', baseVersion: 0 }, 'INVALID_REQUEST', 'version_conflict');
    s.call(bob, 'note.edit', { noteId: 'quest', text: 'Find the orb (north)', baseVersion: 1 });
    const map = s.call(bob, 'map.update', { name: 'Crypt', tokens: [{ id: 'orc', x: 10, y: 20 }] });
    expect(map.response).toMatchObject({ name: 'Crypt', version: 1, tokens: [{ id: 'orc', x: 10, y: 20 }] });
    expect(names(s.take())).toEqual(['note_edited', 'note_edited', 'map_updated']);
    s.refuse(bob, 'map.update', { backgroundUrl: 'javascript:alert(1)' }, 'INVALID_REQUEST', 'invalid_params');

    // --- presence and cursors (60 Hz)
    s.call(bob, 'presence.update', { status: 'away', activity: { type: 'viewing', location: 'map' } });
    expect(s.take()).toEqual([
      {
        method: 'presence',
        data: {
          userId: 'u-bob',
          username: 'Bob',
          status: 'away',
          activity: { type: 'viewing', location: 'map' },
          lastSeen: s.now,
        },
      },
    ]);
    for (let i = 0; i < 20; i++) {
      s.call(aliceTab1, 'cursor.move', { x: i, y: i });
      s.now += 1;
    }
    const cursors = s.take();
    expect(cursors).toEqual([{ method: 'cursor', data: { userId: 'u-alice', x: 0, y: 0 }, ephemeral: true }, expect.anything()]);
    expect(cursors[1]?.data).toMatchObject({ userId: 'u-alice' });
    const flushed = s.advance(CURSOR_INTERVAL_MS * 2);
    expect(flushed).toEqual([{ method: 'cursor', data: { userId: 'u-alice', x: 19, y: 19 }, ephemeral: true }]);
    expect(roomSnapshot(s.state).presence.find((p) => p.userId === 'u-alice')?.cursor).toEqual({ x: 19, y: 19 });
    s.take();

    // --- canvas: batched pen strokes, per-user undo, clear that can be undone
    const pen = (x: number) => ({ points: line(x), color: '#ff0000', size: 3 });
    const first = s.call(aliceTab1, 'canvas.draw', pen(0));
    s.now += 10;
    const second = s.call(aliceTab2, 'canvas.draw', pen(2)); // same user, other tab, inside the window
    expect(first.response).toEqual({ id: 'op-1', pending: true });
    expect(second.response).toEqual({ id: 'op-1', pending: true });
    expect(s.take()).toEqual([]);
    expect(nextDeadline(s.state)).toBe(s.now + DRAW_DEBOUNCE_MS);
    const drawn = s.advance(DRAW_DEBOUNCE_MS);
    expect(names(drawn)).toEqual(['draw']);
    expect((drawn[0]!.data as { op: { points: unknown[] } }).op.points).toHaveLength(4);
    s.take();

    s.refuse(bob, 'canvas.undo', {}, 'INVALID_REQUEST', 'nothing_to_undo');
    s.refuse(
      bob,
      'canvas.draw',
      { points: Array(2001).fill({ x: 0, y: 0 }), color: '#000', size: 1 },
      'INVALID_REQUEST',
      'invalid_params',
    );
    s.call(bob, 'canvas.shape', { tool: 'rectangle', points: line(5), color: '#00f', size: 2 }); // op-2
    s.call(bob, 'canvas.erase', { points: line(7), size: 10 }); // op-3
    expect(canvasIds(s.state)).toEqual(['op-1', 'op-2', 'op-3']);
    const undoAlice = s.call(aliceTab1, 'canvas.undo');
    expect(undoAlice.response).toEqual({ userId: 'u-alice', opId: 'op-1', kind: 'op' });
    expect(canvasIds(s.state)).toEqual(['op-2', 'op-3']);
    s.call(aliceTab1, 'canvas.redo');
    expect(canvasIds(s.state)).toEqual(['op-2', 'op-3', 'op-1']);
    s.call(bob, 'canvas.clear'); // op-4
    expect(canvasIds(s.state)).toEqual([]);
    const undoClear = s.call(bob, 'canvas.undo');
    expect(undoClear.response).toMatchObject({ opId: 'op-4', kind: 'clear' });
    expect((undoClear.response as { visible: { id: string }[] }).visible.map((o) => o.id)).toEqual(['op-2', 'op-3', 'op-1']);
    expect(names(s.take())).toEqual(['draw', 'draw', 'undo', 'redo', 'clear', 'undo']);

    // a stroke still in the batch is flushed before an undo, and is what the undo takes back
    s.call(aliceTab1, 'canvas.draw', pen(9)); // op-5, pending
    const undoPending = s.call(aliceTab1, 'canvas.undo');
    expect(undoPending.response).toMatchObject({ opId: 'op-5' });
    expect(names(undoPending.events)).toEqual(['draw', 'undo']);
    s.take();

    // --- the state is plain JSON: an evicted actor picks up where it left off
    s.state = JSON.parse(JSON.stringify(s.state));
    s.call(aliceTab1, 'canvas.redo');
    expect(canvasIds(s.state)).toEqual(['op-2', 'op-3', 'op-1', 'op-5']);

    // --- leaving: a stroke in flight is kept; the user leaves with their last tab
    s.call(bob, 'canvas.draw', pen(11)); // op-6 pending
    const bobLeft = s.call(bob, 'room.leave');
    expect(names(bobLeft.events)).toEqual(['draw', 'user_left']);
    expect(s.call(bob, 'room.leave').response).toEqual({ left: false });
    s.refuse(bob, 'chat.send', { text: 'still here?' }, 'AUTHORIZATION_FAILED', 'not_joined');
    expect(s.call(aliceTab1, 'room.leave').events).toEqual([]);
    expect(names(s.call(aliceTab2, 'room.leave').events)).toEqual(['user_left']);
    s.take();

    // --- a newcomer gets the whole room in the join answer
    const newcomer = s.call(carol, 'room.join').response as RoomSnapshot;
    expect(newcomer.canvas.map((o) => o.id)).toEqual(['op-2', 'op-3', 'op-1', 'op-5', 'op-6']);
    expect(newcomer.presence.map((p) => [p.userId, p.status])).toEqual([
      ['u-carol', 'online'],
      ['u-alice', 'offline'],
      ['u-bob', 'offline'],
    ]);
    expect(newcomer.activity[0]).toMatchObject({ type: 'user_joined', userId: 'u-carol' });
    expect(newcomer.activity.map((a) => a.type)).toContain('chat_message');
    expect(newcomer.activity.map((a) => a.type)).toContain('dice_roll');
    expect(newcomer.turns).toMatchObject({ round: 2, current: { name: 'Aria' } });
    expect(newcomer.notes).toEqual([expect.objectContaining({ id: 'quest', text: 'Find the orb (north)', version: 2 })]);
    expect(newcomer.map.tokens).toEqual([{ id: 'orc', x: 10, y: 20 }]);
    // nothing left waiting
    expect(nextDeadline(s.state)).toBeNull();
  });

  it('room.state answers anyone with the snapshot and changes nothing; nothing is due in a fresh room', () => {
    const state = createRoomState();
    const r = applyMethod(state, carol, 'room.state', undefined, 1);
    expect(r.state).toBe(state);
    expect(r.events).toEqual([]);
    expect(r.response).toEqual(roomSnapshot(state));
    expect(nextDeadline(state)).toBeNull();
    expect(tick(state, 5)).toEqual({ state, events: [] });
  });

  it('map.update upserts and removes tokens, bounded', () => {
    const s = new Session();
    s.call(bob, 'room.join');
    s.call(bob, 'map.update', { tokens: Array.from({ length: 150 }, (_, i) => ({ id: `t${i}`, x: i, y: 0 })) });
    s.refuse(
      bob,
      'map.update',
      { tokens: Array.from({ length: 60 }, (_, i) => ({ id: `n${i}`, x: i, y: 0 })) },
      'INVALID_REQUEST',
      'too_many_tokens',
    );
    const r = s.call(bob, 'map.update', {
      removeTokens: ['t0', 'missing'],
      tokens: [{ id: 't1', x: 99, y: 99 }],
      backgroundUrl: null,
    });
    const map = r.response as { tokens: { id: string; x: number }[]; version: number; backgroundUrl: null };
    expect(map.tokens).toHaveLength(149);
    expect(map.tokens.find((t) => t.id === 't1')?.x).toBe(99);
    expect(map.version).toBe(2);
    expect(r.activity?.data).toEqual({ changed: ['backgroundUrl', 'tokens', 'removeTokens'], version: 2 });
  });
});
