import { abortAllDurableObjects, env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRoomKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import { actorIdentity } from '../../src/core/forward';
import { call, registerUser, type Session, uniqueTenant } from '../support/api';
import { freshRoom, openRoom } from '../support/rooms';
import { type Frame, sleep } from '../support/sockets';

let alice: Session;
let bob: Session;
let tenant: string;

beforeAll(async () => {
  tenant = uniqueTenant();
  alice = await registerUser({ tenant });
  bob = await registerUser({ tenant });
});

const stubOf = (roomId: string) => env.ROOM.getByName(`${tenant}:room:${roomId}`);
const identityOf = (s: Session) => actorIdentity({ userId: s.user_id, tenantId: tenant, role: 'player', username: s.username });
const snapshot = async (roomId: string) => (await stubOf(roomId).collabSnapshot(identityOf(alice))) as unknown as Frame;

const stroke = (n: number, y: number) => ({
  points: Array.from({ length: n }, (_, i) => ({ x: i % 1000, y })),
  color: '#123456',
  size: 2,
});

describe('Room actor: collaboration state', () => {
  it('keeps canvas history, notes and activity across eviction, one SQLite row per stroke', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    const b = await openRoom(bob.access_token, room);
    await a.ok('room.join');
    await b.ok('room.join');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await a.ok('canvas.erase', stroke(1500, i))).id);
    const bobs = (await b.ok('canvas.erase', stroke(10, 99))).id;
    await a.ok('note.edit', { noteId: 'n1', text: 'remember' });
    const before = await snapshot(room);

    const rows = await runInDurableObject(stubOf(room), (_instance: Room, state) => ({
      history: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM collab_rows WHERE section = 'history'").one().n,
      head: state.storage.sql.exec<{ n: number }>('SELECT LENGTH(value) AS n FROM collab_state').one().n,
    }));
    expect(rows.history).toBe(5);
    // The big strokes are rows of their own, not part of the state blob.
    expect(rows.head).toBeLessThan(10_000);

    await evictDurableObject(stubOf(room), { webSockets: 'hibernate' });
    const after = await snapshot(room);
    expect(after.canvas).toEqual(before.canvas);
    expect(after.notes).toEqual(before.notes);
    expect(after.activity).toEqual(before.activity);
    expect(after.lastEventId).toBe(before.lastEventId);

    // The hibernated sockets still work, and undo still knows whose op is whose.
    expect(await a.ok('canvas.undo')).toMatchObject({ opId: ids[3] });
    expect(await b.ok('canvas.undo')).toMatchObject({ opId: bobs });
    await evictDurableObject(stubOf(room));
    expect((await snapshot(room)).canvas.map((o: Frame) => o.id)).toEqual(ids.slice(0, 3));
    a.close();
    b.close();
  });

  it('throttles a cursor flood to at most 60 cursor events a second, delivering the latest position, never logged', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    const b = await openRoom(bob.access_token, room);
    await a.ok('room.join');
    await b.ok('room.join');
    const started = Date.now();
    const answers: Promise<Frame>[] = [];
    for (let i = 1; i <= 300; i++) {
      answers.push(a.request('cursor.move', { x: i, y: i }));
      if (i % 30 === 0) await sleep(25);
    }
    const all = await Promise.all(answers);
    expect(all.filter((f) => f.type !== 'response')).toEqual([]);
    const last = await b.event('cursor', (d) => d.x === 300);
    const elapsed = (Date.now() - started) / 1000;
    const cursors = b.events('cursor');
    expect(cursors.length).toBeGreaterThan(1);
    expect(cursors.length).toBeLessThanOrEqual(Math.ceil(60 * elapsed) + 1);
    expect(last).not.toHaveProperty('eventId');
    expect(last.data.userId).toBe(String(alice.user_id));
    // Not in the log; the snapshot has the latest cursor.
    const polled = await call(`/api/rooms/${room}/events?lastSequence=0`, { method: 'GET', token: bob.access_token });
    expect(polled.body.events.map((e: Frame) => e.method)).not.toContain('cursor');
    const me = (await snapshot(room)).presence.find((p: Frame) => p.userId === String(alice.user_id));
    expect(me.cursor).toEqual({ x: 300, y: 300 });
    a.close();
    b.close();
  });

  it('writes activity to D1 idempotently: replaying a flushed outbox batch changes nothing', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    await a.ok('chat.send', { text: 'persist me' });
    const outbox = () =>
      runInDurableObject(stubOf(room), (_i: Room, state) =>
        state.storage.sql
          .exec<{ kind: string; payload: string }>("SELECT kind, payload FROM _core_outbox WHERE kind = 'activity' ORDER BY id")
          .toArray(),
      );
    const queued = await outbox();
    expect(queued).toHaveLength(2);
    expect(await runDurableObjectAlarm(stubOf(room))).toBe(true);
    expect(await outbox()).toEqual([]);
    const rows = () =>
      env.DB.prepare('SELECT id, type, user_id, data FROM activities WHERE tenant_id = ? AND room_id = ? ORDER BY id')
        .bind(tenant, room)
        .all();
    const flushed = (await rows()).results;
    expect(flushed.map((r) => r.type)).toEqual(['user_joined', 'chat_message']);
    expect(JSON.parse(String(flushed[1]?.data))).toEqual({ text: 'persist me' });

    // A crash between the D1 batch and the outbox delete replays the same rows: nothing is duplicated.
    await runInDurableObject(stubOf(room), (_i: Room, state) => {
      for (const r of queued) state.storage.sql.exec('INSERT INTO _core_outbox (kind, payload) VALUES (?, ?)', r.kind, r.payload);
      return state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(stubOf(room));
    expect((await rows()).results).toEqual(flushed);
    a.close();
  });

  it('treats a room named "orchestrator" as a collaboration room, not the orchestrator channel', async () => {
    expect(parseRoomKey(`${tenant}:orchestrator`)).toEqual({ kind: 'orchestrator', tenantId: tenant });
    expect(parseRoomKey(`${tenant}:room:orchestrator`)).toEqual({ kind: 'collab', tenantId: tenant, roomId: 'orchestrator' });
    expect(parseRoomKey(`${tenant}:room:bad.id`)).toBeNull();
    const stub = stubOf('orchestrator');
    const published = (await stub.publishOrchestrator({ ...identityOf(alice), role: 'admin' }, [
      { type: 'repo_changed', payload: { workingDir: '/x' } },
    ])) as unknown as Frame;
    expect(published).toMatchObject({ ok: false, error: { error: 'TENANT_VIOLATION' } });
    const a = await openRoom(alice.access_token, 'orchestrator');
    expect((await a.ok('room.join')).canvas).toEqual([]);
    a.close();
  });

  it('releases connections whose sockets vanished with a restart: the user goes offline with user_left', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    await abortAllDurableObjects();
    const state = await snapshot(room);
    expect(state.presence.find((p: Frame) => p.userId === String(alice.user_id)).status).toBe('offline');
    const polled = await call(`/api/rooms/${room}/events?lastSequence=0`, { method: 'GET', token: bob.access_token });
    expect(polled.body.events.map((e: Frame) => e.method)).toEqual(['user_joined', 'user_left']);
  });
});
