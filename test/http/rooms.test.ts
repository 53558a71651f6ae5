import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, expectError, nextIp, registerUser, type Session, uniqueTenant } from '../support/api';
import { expectErrorFrame, freshRoom, openRoom, upgradeRoom } from '../support/rooms';
import { type Frame, SseReader, sleep } from '../support/sockets';

let alice: Session;
let bob: Session;
let tenant: string;

beforeAll(async () => {
  tenant = uniqueTenant();
  alice = await registerUser({ tenant });
  bob = await registerUser({ tenant });
});

const stubOf = (tenantId: string, roomId: string) => env.ROOM.getByName(`${tenantId}:room:${roomId}`);
const get = (path: string, token: string) => call(path, { method: 'GET', token });
const send = (roomId: string, token: string, frame: unknown) => call(`/api/rooms/${roomId}/messages`, { token, body: frame });

describe('handshakes', () => {
  it('refuses a missing or bad token with 401 before any upgrade, a plain GET with 426, a bad room id with 400', async () => {
    const room = freshRoom();
    const none = await upgradeRoom(room, '');
    expect(none.status).toBe(401);
    expect(none.webSocket).toBeNull();
    expect((await upgradeRoom(room, '?token=abc.def.ghi')).status).toBe(401);
    expectError(await get(`/ws/rooms/${room}`, alice.access_token), 426, 'INVALID_REQUEST');
    const bad = await upgradeRoom('bad.room', `?token=${alice.access_token}`);
    expect(bad.status).toBe(400);
    expect((await upgradeRoom('x'.repeat(65), `?token=${alice.access_token}`)).status).toBe(400);
    expectError(await get('/sse?room=bad%20room', alice.access_token), 400, 'INVALID_REQUEST');
    expectError(await get('/sse', alice.access_token), 400, 'INVALID_REQUEST');
    expectError(await get(`/api/rooms/${room}/state`, ''), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await get('/api/rooms/bad.room/state', alice.access_token), 400, 'INVALID_REQUEST');
  });

  it('says connected with the connection id and where the log stands', async () => {
    const s = await openRoom(alice.access_token, freshRoom());
    expect(s.connected?.data).toMatchObject({
      connectionId: expect.stringMatching(/^conn_/),
      userId: String(alice.user_id),
      lastEventId: expect.stringMatching(/^e[0-9a-z]+-0$/),
      sequence: 0,
    });
    s.close();
  });
});

describe('room.join, envelope and errors', () => {
  it('gives a newcomer the whole room in the room.join response: canvas, presence, recent activity', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    await a.ok('chat.send', { text: 'hello' });
    await a.ok('canvas.shape', {
      tool: 'rectangle',
      points: [
        { x: 0, y: 0 },
        { x: 10, y: 10 },
      ],
      color: '#ff0000',
      size: 2,
    });
    const b = await openRoom(bob.access_token, room);
    const joined = await b.request('room.join', {});
    expect(joined).toMatchObject({ type: 'response', id: expect.any(String), timestamp: expect.any(Number) });
    const state = joined.data;
    expect(state.you).toMatchObject({ userId: String(bob.user_id), status: 'online' });
    expect(state.canvas).toHaveLength(1);
    expect(state.canvas[0]).toMatchObject({ tool: 'rectangle', userId: String(alice.user_id) });
    expect(state.presence.map((p: Frame) => p.userId).sort()).toEqual([String(alice.user_id), String(bob.user_id)].sort());
    expect(state.activity[0]).toMatchObject({ type: 'user_joined', userId: String(bob.user_id) });
    expect(state.activity.map((x: Frame) => x.type)).toContain('chat_message');
    expect(state.lastEventId).toMatch(/^e[0-9a-z]+-\d+$/);
    const seen = await a.event('user_joined', (d) => d.userId === String(bob.user_id));
    expect(seen).toMatchObject({ eventId: expect.any(String), sequence: expect.any(Number), timestamp: expect.any(Number) });
    a.close();
    b.close();
  });

  it('answers unknown methods, malformed frames and calls before room.join with error frames, and the socket stays up', async () => {
    const s = await openRoom(alice.access_token, freshRoom());
    const unknown = await s.request('room.explode', {});
    expectErrorFrame(unknown, 400, 'INVALID_REQUEST');
    expect(unknown.error.details.issue).toBe('unknown_method');
    expectErrorFrame(await s.request('chat.send', { text: 'too early' }), 403, 'AUTHORIZATION_FAILED');
    s.ws.send('{not json');
    expectErrorFrame(await s.waitFor((f) => f.type === 'error' && f.id === undefined), 400, 'INVALID_REQUEST');
    s.send({ type: 'event', id: 'x1', method: 'chat.send' });
    expectErrorFrame(await s.waitFor((f) => f.type === 'error' && f.id === 'x1'), 400, 'INVALID_REQUEST');
    s.send({ type: 'request', id: 'x2' });
    expect((await s.waitFor((f) => f.id === 'x2')).error.details.field).toBe('method');
    // The envelope's heartbeat: a ping request echoes its timestamp.
    expect(await s.ok('ping', { timestamp: 1234 })).toEqual({ timestamp: 1234 });
    await s.ok('room.join');
    expect(s.closed).toBeNull();
    s.close();
  });

  it('closes a frame over 64 KB with 1009', async () => {
    const s = await openRoom(alice.access_token, freshRoom());
    s.send({ type: 'request', id: 'big', method: 'chat.send', params: { text: 'x'.repeat(70_000) } });
    expect((await s.waitClosed()).code).toBe(1009);
  });

  it('refuses a request past the per-connection budget with 429 RATE_LIMIT_EXCEEDED', async () => {
    // The seed's budget is 100 a minute (a token every 0.6 s): a loaded machine can take longer than that to send
    // 101 frames and earn a new token. At 10 a minute (one every 6 s) the 11th is refused however slow the run.
    const room = freshRoom();
    await stubOf(tenant, room).configure({ collabRequestsPerMinute: 10 });
    const s = await openRoom(alice.access_token, room);
    await s.ok('room.join');
    const answers: Promise<Frame>[] = [];
    for (let i = 0; i < 10; i++) answers.push(s.request('room.state'));
    const all = await Promise.all(answers);
    const refused = all.filter((f) => f.type === 'error');
    expect(refused).toHaveLength(1);
    expectErrorFrame(refused[0]!, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused[0]!.error.details.retryAfterMs).toBeGreaterThan(0);
    s.close();
  });
});

describe('methods and their events', () => {
  it('chat.send, dice.roll, turns, notes, map and presence reach the other member; bad params get 400', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    const b = await openRoom(bob.access_token, room);
    await a.ok('room.join');
    await b.ok('room.join');

    await a.ok('chat.send', { text: '  hi there  ' });
    expect((await b.event('chat_message')).data).toMatchObject({ text: 'hi there', userId: String(alice.user_id) });
    expectErrorFrame(await a.request('chat.send', { text: '' }), 400, 'INVALID_REQUEST');
    expectErrorFrame(await a.request('chat.send', { text: 'x'.repeat(2001) }), 400, 'INVALID_REQUEST');

    const rolled = await a.ok('dice.roll', { notation: '2d6+3', reason: 'attack' });
    expect(rolled.total).toBeGreaterThanOrEqual(5);
    expect(rolled.total).toBeLessThanOrEqual(15);
    expect((await b.event('dice_roll')).data).toMatchObject({ total: rolled.total, reason: 'attack' });
    for (const notation of ['1000000d1000000', '2d', 'd1', '1d6+', 'rm -rf', `${'1d6+'.repeat(30)}1`]) {
      const bad = await a.request('dice.roll', { notation });
      expectErrorFrame(bad, 400, 'INVALID_REQUEST');
    }

    await a.ok('turn.add', { name: 'Goblin', initiative: 12 });
    await a.ok('turn.add', { name: 'Hero', initiative: 18 });
    const next = await a.ok('turn.next');
    expect(next).toMatchObject({ reason: 'next' });
    expect((await b.event('turn_changed', (d) => d.reason === 'next')).data.current).toEqual(next.current);
    const removed = await a.ok('turn.remove', { id: next.current.id });
    expect(removed.reason).toBe('removed');
    expectErrorFrame(await a.request('turn.remove', { id: 'nobody' }), 404, 'NOT_FOUND');
    expectErrorFrame(await a.request('turn.add', { name: '', initiative: 1 }), 400, 'INVALID_REQUEST');

    const note = await a.ok('note.edit', { noteId: 'plot', text: 'The dragon sleeps' });
    expect(note.version).toBe(1);
    expect((await b.event('note_edited')).data.note).toMatchObject({ id: 'plot', text: 'The dragon sleeps' });
    const stale = await b.request('note.edit', { noteId: 'plot', text: 'overwrite', baseVersion: 0 });
    expectErrorFrame(stale, 400, 'INVALID_REQUEST');
    expect(stale.error.details.issue).toBe('version_conflict');

    const map = await a.ok('map.update', { name: 'Cave', gridSize: 40, tokens: [{ id: 'hero', x: 1, y: 2 }] });
    expect(map.version).toBe(1);
    expect((await b.event('map_updated')).data.map).toMatchObject({ name: 'Cave', gridSize: 40 });
    expectErrorFrame(await a.request('map.update', {}), 400, 'INVALID_REQUEST');
    expectErrorFrame(await a.request('map.update', { backgroundUrl: 'javascript:alert(1)' }), 400, 'INVALID_REQUEST');

    await a.ok('presence.update', { status: 'away', activity: { type: 'typing', location: 'chat' } });
    expect((await b.event('presence', (d) => d.status === 'away')).data).toMatchObject({
      userId: String(alice.user_id),
      activity: { type: 'typing', location: 'chat' },
    });
    expectErrorFrame(await a.request('presence.update', { status: 'offline' }), 400, 'INVALID_REQUEST');
    expectErrorFrame(await a.request('cursor.move', { x: 'left', y: 1 }), 400, 'INVALID_REQUEST');
    a.close();
    b.close();
  });

  it('canvas: batched pen strokes, erase, shapes, validation, per-user undo, clear then undo, redo', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    const b = await openRoom(bob.access_token, room);
    await a.ok('room.join');
    await b.ok('room.join');

    expectErrorFrame(await a.request('canvas.undo'), 400, 'INVALID_REQUEST');
    expectErrorFrame(await a.request('canvas.redo'), 400, 'INVALID_REQUEST');

    // Pen points sent in quick succession become one op; its draw event comes from the flush (the alarm).
    const first = await a.ok('canvas.draw', { points: [{ x: 1, y: 1 }], color: '#000', size: 3 });
    expect(first).toMatchObject({ id: expect.stringMatching(/^op-/), pending: true });
    const second = await a.ok('canvas.draw', { points: [{ x: 2, y: 2 }], color: '#000', size: 3 });
    expect(second.id).toBe(first.id);
    const drawn = await b.event('draw', (d) => d.op.id === first.id);
    expect(drawn.data.op.points).toEqual([
      { x: 1, y: 1 },
      { x: 2, y: 2 },
    ]);
    expect(drawn.eventId).toMatch(/^e/);

    const tooMany = Array.from({ length: 2001 }, (_, i) => ({ x: i % 100, y: 1 }));
    expectErrorFrame(await a.request('canvas.draw', { points: tooMany, color: '#000', size: 3 }), 400, 'INVALID_REQUEST');
    expectErrorFrame(await a.request('canvas.draw', { points: [{ x: 1, y: 1 }], color: 'red', size: 3 }), 400, 'INVALID_REQUEST');
    expectErrorFrame(
      await a.request('canvas.draw', { points: [{ x: 1, y: 1 }], color: '#000', size: 500 }),
      400,
      'INVALID_REQUEST',
    );
    expectErrorFrame(
      await a.request('canvas.draw', { points: [{ x: 1e9, y: 1 }], color: '#000', size: 3 }),
      400,
      'INVALID_REQUEST',
    );
    const threePoints = [
      { x: 0, y: 0 },
      { x: 1, y: 1 },
      { x: 2, y: 2 },
    ];
    expectErrorFrame(
      await a.request('canvas.shape', { tool: 'circle', points: threePoints, color: '#000', size: 1 }),
      400,
      'INVALID_REQUEST',
    );

    const erased = await a.ok('canvas.erase', { points: [{ x: 1, y: 1 }], size: 10 });
    expect((await b.event('draw', (d) => d.op.id === erased.id)).data.op).toMatchObject({ type: 'erase', tool: 'eraser' });
    const circle = await b.ok('canvas.shape', {
      tool: 'circle',
      points: [
        { x: 5, y: 5 },
        { x: 9, y: 5 },
      ],
      color: '#00ff00',
      size: 2,
    });
    await a.event('draw', (d) => d.op.id === circle.id);

    // A's undo takes back A's latest op (the erase), not B's circle, which is newer.
    const undone = await a.ok('canvas.undo');
    expect(undone).toMatchObject({ opId: erased.id, userId: String(alice.user_id), kind: 'op' });
    expect((await b.event('undo')).data.opId).toBe(erased.id);

    const cleared = await b.ok('canvas.clear');
    await a.event('clear', (d) => d.id === cleared.id);
    expect((await a.ok('room.state')).canvas).toEqual([]);
    const back = await b.ok('canvas.undo');
    expect(back).toMatchObject({ opId: cleared.id, kind: 'clear' });
    expect(back.visible.map((o: Frame) => o.id)).toEqual([first.id, circle.id]);
    expect((await a.ok('room.state')).canvas.map((o: Frame) => o.id)).toEqual([first.id, circle.id]);

    const redone = await b.ok('canvas.redo');
    expect(redone).toMatchObject({ opId: cleared.id, kind: 'clear' });
    await a.event('redo', (d) => d.opId === cleared.id);
    expect((await a.ok('room.state')).canvas).toEqual([]);
    a.close();
    b.close();
  });
});

describe('presence', () => {
  it('counts a user with two tabs as one presence; the last tab closing announces user_left', async () => {
    const room = freshRoom();
    await stubOf(tenant, room).configure({ presenceGraceMs: 0 }); // announce at once after the last tab
    const watcher = await openRoom(bob.access_token, room);
    await watcher.ok('room.join');
    const tab1 = await openRoom(alice.access_token, room);
    const tab2 = await openRoom(alice.access_token, room);
    await tab1.ok('room.join');
    await tab2.ok('room.join');
    const state = await watcher.ok('room.state');
    expect(state.presence.filter((p: Frame) => p.userId === String(alice.user_id))).toHaveLength(1);
    expect(watcher.events('user_joined').filter((e) => e.data.userId === String(alice.user_id))).toHaveLength(1);

    tab1.close();
    await sleep(300);
    expect(watcher.events('user_left')).toHaveLength(0);
    expect((await watcher.ok('room.state')).presence.find((p: Frame) => p.userId === String(alice.user_id)).status).toBe(
      'online',
    );
    tab2.close();
    const left = await watcher.event('user_left');
    expect(left.data).toMatchObject({ userId: String(alice.user_id), lastSeen: expect.any(Number) });
    expect((await watcher.ok('room.state')).presence.find((p: Frame) => p.userId === String(alice.user_id)).status).toBe(
      'offline',
    );
    watcher.close();
  });
});

describe('presence grace period', () => {
  it('posts nothing when a socket drops and the user is back within the grace period', async () => {
    const room = freshRoom();
    const watcher = await openRoom(bob.access_token, room);
    await watcher.ok('room.join');
    const first = await openRoom(alice.access_token, room);
    await first.ok('room.join');
    await watcher.event('user_joined');
    first.close();
    await sleep(300);
    const again = await openRoom(alice.access_token, room);
    await again.ok('room.join');
    await watcher.ok('chat.send', { text: 'after the blip' });
    await watcher.event('chat_message');
    const aliceId = String(alice.user_id);
    expect(watcher.events('user_left')).toHaveLength(0);
    expect(watcher.events('user_joined').filter((e) => e.data.userId === aliceId)).toHaveLength(1);
    const me = (await watcher.ok('room.state')).presence.find((p: Frame) => p.userId === String(alice.user_id));
    expect(me.status).toBe('online');
    again.close();
    watcher.close();
  });

  it('announces user_left once the grace period is over', async () => {
    const room = freshRoom();
    await stubOf(tenant, room).configure({ presenceGraceMs: 400 });
    const watcher = await openRoom(bob.access_token, room);
    await watcher.ok('room.join');
    const gone = await openRoom(alice.access_token, room);
    await gone.ok('room.join');
    gone.close();
    await sleep(100);
    expect(watcher.events('user_left')).toHaveLength(0);
    const left = await watcher.event('user_left');
    expect(left.data).toMatchObject({ userId: String(alice.user_id), lastSeen: expect.any(Number) });
    const activity = await get(`/api/rooms/${room}/state`, bob.access_token);
    expect(activity.body.presence.find((p: Frame) => p.userId === String(alice.user_id)).status).toBe('offline');
    watcher.close();
  });
});

describe('resync, SSE, polling and HTTP send', () => {
  it('replays the events a reconnecting client missed after ?lastEventId=', async () => {
    const room = freshRoom();
    await stubOf(tenant, room).configure({ presenceGraceMs: 0 });
    const a = await openRoom(alice.access_token, room);
    const b = await openRoom(bob.access_token, room);
    await a.ok('room.join');
    await b.ok('room.join');
    await a.ok('chat.send', { text: 'seen' });
    const seen = await b.event('chat_message');
    b.close();
    await a.event('user_left');
    await a.ok('chat.send', { text: 'missed 1' });
    await a.ok('dice.roll', { notation: '1d20' });

    const back = await openRoom(bob.access_token, room, `&lastEventId=${seen.eventId}`);
    const resync = await back.event('resync');
    expect(resync.data.truncated).toBe(false);
    expect(resync.data.events.map((e: Frame) => e.method)).toEqual(['user_left', 'chat_message', 'dice_roll']);
    expect(resync.data.events[1].data.text).toBe('missed 1');
    expect(resync.data.events[0].sequence).toBe(seen.sequence + 1);

    const unknown = await openRoom(bob.access_token, room, '&lastEventId=e000000000000-999');
    const truncated = await unknown.event('resync');
    expect(truncated.data.truncated).toBe(true);
    expect(truncated.data.snapshot.activity.length).toBeGreaterThan(0);
    a.close();
    back.close();
    unknown.close();
  });

  it('SSE and long polling read the same events as the WebSocket; HTTP clients send frames with POST', async () => {
    const room = freshRoom();
    const start = await get(`/api/rooms/${room}/events`, bob.access_token);
    expect(start.status).toBe(200);
    expect(start.body.events).toEqual([]);
    expect(start.body.snapshot).toMatchObject({ canvas: [], presence: [] });
    const from = start.body.nextEventId;

    const sseRes = await SELF.fetch(`https://edge.test/sse?room=${room}&token=${bob.access_token}`, {
      headers: { Accept: 'text/event-stream', 'CF-Connecting-IP': nextIp() },
    });
    expect(sseRes.status).toBe(200);
    const sse = new SseReader(sseRes);
    expect((await sse.next()).event).toBe('connected');

    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    await a.ok('chat.send', { text: 'to everyone' });
    const wsEvents = [await a.event('user_joined'), await a.event('chat_message')];

    const m1 = await sse.next();
    const m2 = await sse.next();
    expect([m1.event, m2.event]).toEqual(['user_joined', 'chat_message']);
    expect([m1.id, m2.id]).toEqual(wsEvents.map((e) => e.eventId));
    expect(JSON.parse(m2.data)).toEqual(wsEvents[1]);

    const polled = await get(`/api/rooms/${room}/events?lastEventId=${from}`, bob.access_token);
    expect(polled.body.events).toEqual(wsEvents);
    expect(polled.body.nextEventId).toBe(wsEvents[1]!.eventId);

    // Over HTTP: join, chat, a bad frame; each answer is the frames sent back to the sender.
    const joined = await send(room, bob.access_token, { type: 'request', id: 'h1', method: 'room.join' });
    expect(joined.status).toBe(200);
    expect(joined.body[0]).toMatchObject({ type: 'response', id: 'h1', data: { you: { userId: String(bob.user_id) } } });
    const chat = await send(room, bob.access_token, {
      type: 'request',
      id: 'h2',
      method: 'chat.send',
      params: { text: 'via http' },
    });
    expect(chat.body[0]).toMatchObject({ type: 'response', id: 'h2' });
    expect((await a.event('chat_message', (d) => d.text === 'via http')).data.userId).toBe(String(bob.user_id));
    const sseChat = await sse.next();
    expect(sseChat.event).toBe('user_joined');
    expect(JSON.parse((await sse.next()).data).data.text).toBe('via http');
    const bad = await send(room, bob.access_token, { type: 'request', id: 'h3', method: 'nope' });
    expect(bad.status).toBe(200);
    expectErrorFrame(bad.body[0], 400, 'INVALID_REQUEST');
    const huge = await call(`/api/rooms/${room}/messages`, {
      token: bob.access_token,
      raw: JSON.stringify({ type: 'request', id: 'h4', method: 'chat.send', params: { text: 'x'.repeat(70_000) } }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(huge.status).toBe(413);
    expectError(await get(`/api/rooms/${room}/events?limit=1000`, bob.access_token), 400, 'INVALID_REQUEST');
    await sse.cancel();
    a.close();
  });
});

describe('activity feed and state over REST', () => {
  it('reads the activity page by page from D1 once the write-behind alarm ran, newest first', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    for (let i = 0; i < 4; i++) await a.ok('chat.send', { text: `m${i}` });
    await a.ok('dice.roll', { notation: '1d4' });
    await runDurableObjectAlarm(stubOf(tenant, room));

    const p1 = await get(`/api/rooms/${room}/activity?limit=2`, alice.access_token);
    expect(p1.status).toBe(200);
    expect(p1.body.items.map((x: Frame) => x.type)).toEqual(['dice_roll', 'chat_message']);
    expect(p1.body.items[1].data.text).toBe('m3');
    expect(p1.body.nextCursor).toEqual(expect.any(String));
    const p2 = await get(`/api/rooms/${room}/activity?limit=2&cursor=${p1.body.nextCursor}`, alice.access_token);
    expect(p2.body.items.map((x: Frame) => x.data.text)).toEqual(['m2', 'm1']);
    const p3 = await get(`/api/rooms/${room}/activity?limit=2&cursor=${p2.body.nextCursor}`, alice.access_token);
    expect(p3.body.items.map((x: Frame) => x.type)).toEqual(['chat_message', 'user_joined']);
    expect(p3.body.nextCursor).toBeNull();
    const ids = [...p1.body.items, ...p2.body.items, ...p3.body.items].map((x: Frame) => x.id);
    expect(new Set(ids).size).toBe(6);

    expectError(await get(`/api/rooms/${room}/activity?cursor=garbage!`, alice.access_token), 400, 'INVALID_REQUEST');
    expectError(await get(`/api/rooms/${room}/activity?cursor=${btoa('{"t":"x"}')}`, alice.access_token), 400, 'INVALID_REQUEST');
    expectError(await get(`/api/rooms/${room}/activity?limit=0`, alice.access_token), 400, 'INVALID_REQUEST');
    a.close();
  });

  it('serves the state; the same room id in another tenant is another room', async () => {
    const room = freshRoom();
    const a = await openRoom(alice.access_token, room);
    await a.ok('room.join');
    await a.ok('note.edit', { noteId: 'secret', text: 'tenant A only' });
    const state = await get(`/api/rooms/${room}/state`, alice.access_token);
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ roomId: room, notes: [{ id: 'secret' }], lastEventId: expect.any(String) });

    const other = await registerUser({ tenant: uniqueTenant() });
    const theirs = await get(`/api/rooms/${room}/state`, other.access_token);
    expect(theirs.body.notes).toEqual([]);
    expect(theirs.body.presence).toEqual([]);
    const s = await openRoom(other.access_token, room);
    await s.ok('room.join');
    await a.ok('chat.send', { text: 'not for them' });
    await sleep(200);
    expect(s.events('chat_message')).toHaveLength(0);
    expect(a.events('user_joined').filter((e) => e.data.userId === String(other.user_id))).toHaveLength(0);
    const cross = await call(`/api/rooms/${room}/state`, {
      method: 'GET',
      token: other.access_token,
      headers: { 'X-Tenant-ID': tenant },
    });
    expectError(cross, 403, 'TENANT_VIOLATION');
    a.close();
    s.close();
  });
});
