import { SELF } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, expectError, nextIp, registerUser, tenantAdmin, uniqueName, uniqueTenant } from '../support/api';
import { type Frame, SseReader, TestSocket } from '../support/sockets';

/**
 * Batched delivery (`?batch=1`: one frame per published batch) and publishing over the socket (`publish` frames
 * of service and admin clients), end to end through the Worker: real upgrades, the REST and SSE paths beside them.
 * Each test has its own tenant, so its own orchestrator actor and log.
 */

/** Generous: a loaded machine may take seconds; a frame that never comes fails the test anyway. */
const WAIT = 10_000;

let tenant: string;
let playerToken: string;
let serviceToken: string;
let adminToken: string;
const open: TestSocket[] = [];
const streams: SseReader[] = [];

beforeEach(async () => {
  tenant = uniqueTenant();
  const admin = await tenantAdmin(tenant);
  adminToken = admin.access_token;
  playerToken = (await registerUser({ tenant })).access_token;
  const minted = await call('/api/admin/service-tokens', {
    token: adminToken,
    body: { name: uniqueName('pub').toLowerCase().slice(0, 60) },
  });
  expect(minted.status, JSON.stringify(minted.body)).toBe(201);
  serviceToken = minted.body.token;
});

afterEach(async () => {
  for (const s of open.splice(0)) s.ws.close(1000);
  for (const s of streams.splice(0)) await s.cancel();
});

async function connect(token: string, query = ''): Promise<TestSocket> {
  const res = await SELF.fetch(`https://edge.test/ws/orchestrator?token=${token}${query}`, {
    headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() },
  });
  expect(res.status).toBe(101);
  res.webSocket!.accept();
  const socket = new TestSocket(res.webSocket!);
  open.push(socket);
  await socket.nextOf('connected', WAIT);
  return socket;
}

const output = (n: number) => ({ type: 'iteration_output', payload: { taskId: 'B1', iteration: 1, output: `line ${n}` } });
const ids = (events: Frame[]) => events.map((e) => e.eventId as string);

/** Where the log stands, from a first poll (no reference): the id to poll from next. */
async function head(): Promise<string> {
  const r = await call('/api/orchestrator/events', { method: 'GET', token: playerToken });
  expect(r.status).toBe(200);
  return r.body.nextEventId;
}

/** Everything after `from`, as a poll sees it. */
async function pollAfter(from: string): Promise<Frame[]> {
  const r = await call(`/api/orchestrator/events?lastEventId=${from}&limit=100`, { method: 'GET', token: playerToken });
  expect(r.status).toBe(200);
  return r.body.events;
}

describe('batched delivery (?batch=1)', () => {
  it('sends one frame per publish to opted-in sockets and one per event to the others, both in log order', async () => {
    const plain = await connect(playerToken);
    const batched = await connect(playerToken, '&batch=1');
    const publisher = await connect(serviceToken);

    publisher.send({ type: 'publish', id: 'p1', events: [output(1), output(2), output(3)] });
    const ack = await publisher.nextOf('publish_ack', WAIT);
    expect(ack.id).toBe('p1');
    const first = ack.payload.events as Frame[];
    expect(first.map((e) => e.sequence)).toEqual([first[0]!.sequence, first[0]!.sequence + 1, first[0]!.sequence + 2]);
    const rest = await call('/api/orchestrator/events', { token: serviceToken, body: [output(4), output(5)] });
    expect(rest.status).toBe(201);
    const all = [...ids(first), ...ids(rest.body.events)];

    const singles = [];
    for (let i = 0; i < 5; i++) singles.push(await plain.nextOf('iteration_output', WAIT));
    expect(ids(singles)).toEqual(all);
    expect(singles.map((f) => f.payload.output)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);

    const one = await batched.next(WAIT);
    const two = await batched.next(WAIT);
    expect(Array.isArray(one) && Array.isArray(two)).toBe(true);
    expect(ids(one as unknown as Frame[])).toEqual(all.slice(0, 3));
    expect(ids(two as unknown as Frame[])).toEqual(all.slice(3));
    // Each element is the frame a socket without ?batch=1 gets.
    expect((one as unknown as Frame[])[0]).toEqual(singles[0]);
    // Answers stay single frames on a batched socket.
    batched.send({ type: 'ping', payload: { timestamp: 't1' } });
    expect(await batched.next(WAIT)).toMatchObject({ type: 'pong', payload: { timestamp: 't1' } });
  });

  it('resumes a batched socket with a single resync frame, then batches what follows', async () => {
    const from = await head();
    const early = await call('/api/orchestrator/events', { token: serviceToken, body: [output(1), output(2)] });
    expect(early.status).toBe(201);

    const res = await SELF.fetch(`https://edge.test/ws/orchestrator?token=${playerToken}&batch=1&lastEventId=${from}`, {
      headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const socket = new TestSocket(res.webSocket!);
    open.push(socket);
    expect((await socket.next(WAIT)).type).toBe('connected');
    const resync = await socket.next(WAIT);
    expect(resync.type).toBe('resync_response');
    expect(ids(resync.payload.missedEvents)).toEqual(ids(early.body.events));

    const later = await call('/api/orchestrator/events', { token: serviceToken, body: [output(3), output(4)] });
    const batch = (await socket.next(WAIT)) as unknown as Frame[];
    expect(ids(batch)).toEqual(ids(later.body.events));

    // A resync message asked for on the open socket answers in one frame too.
    socket.send({ type: 'resync', lastEventId: early.body.events[1].eventId });
    const again = await socket.nextOf('resync_response', WAIT);
    expect(ids(again.payload.missedEvents)).toEqual(ids(later.body.events));
  });

  it('delivers collaboration-room events as arrays to an opted-in socket', async () => {
    const roomId = uniqueName('r');
    const res = await SELF.fetch(`https://edge.test/ws/rooms/${roomId}?token=${playerToken}&batch=1`, {
      headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const socket = new TestSocket(res.webSocket!);
    open.push(socket);
    expect((await socket.next(WAIT)).data.connectionId).toMatch(/^conn_/);
    socket.send({ type: 'request', id: 1, method: 'room.join', params: {} });
    socket.send({ type: 'request', id: 2, method: 'chat.send', params: { text: 'hello' } });
    const seen: Frame[] = [];
    while (!seen.some((f) => f.type === 'response' && f.id === 2)) seen.push(await socket.next(WAIT));
    const events = seen.filter((f) => Array.isArray(f)).flat() as Frame[];
    expect(events.map((e) => e.method)).toEqual(['user_joined', 'chat_message']);
    expect(events[1]).toMatchObject({ type: 'event', data: { text: 'hello' } });
    expect(seen.filter((f) => !Array.isArray(f)).map((f) => f.id)).toEqual([1, 2]);
  });

  it('sends a MessagePack socket the batch as one MessagePack array', async () => {
    const socket = await connect(playerToken, '&codec=msgpack&batch=1');
    const r = await call('/api/orchestrator/events', { token: serviceToken, body: [output(1), output(2)] });
    expect(r.status).toBe(201);
    // The test socket spreads a decoded binary frame into an object: an array arrives as its indices.
    const frame = await socket.next(WAIT);
    expect(frame.binary).toBe(true);
    expect([frame[0].eventId, frame[1].eventId]).toEqual(ids(r.body.events));
    expect(frame[2]).toBeUndefined();
  });

  it('refuses a batch value other than 1 or 0 before the upgrade', async () => {
    const res = await SELF.fetch(`https://edge.test/ws/orchestrator?token=${playerToken}&batch=yes`, {
      headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(400);
    expect(res.webSocket).toBeNull();
    expect((await res.json<{ error: string }>()).error).toBe('INVALID_REQUEST');
  });
});

describe('publishing over the socket', () => {
  it('acks after the log append with the ids SSE and poll subscribers see', async () => {
    const from = await head();
    const sseRes = await SELF.fetch(`https://edge.test/sse/orchestrator?token=${playerToken}`, {
      headers: { 'CF-Connecting-IP': nextIp() },
    });
    const sse = new SseReader(sseRes);
    streams.push(sse);
    expect((await sse.next(WAIT)).event).toBe('connected');
    const publisher = await connect(serviceToken);

    publisher.send({
      type: 'publish',
      id: 7,
      events: [{ type: 'battle_start', payload: { taskId: 'S1', task: { name: 'x' } } }, output(1)],
    });
    const ack = await publisher.nextOf('publish_ack', WAIT);
    expect(ack.id).toBe(7);
    expect(ack.payload.events).toMatchObject([
      { type: 'battle_start', scope: 'battle', eventId: expect.stringMatching(/^e/) },
      { type: 'iteration_output', scope: 'battle' },
    ]);
    const acked = ids(ack.payload.events);
    expect([(await sse.next(WAIT)).id, (await sse.next(WAIT)).id]).toEqual(acked);
    expect(ids(await pollAfter(from))).toEqual(acked);
    // Both events of the batch reached the state (the output's task replaced the started one).
    const state = await call('/api/orchestrator/messages', { token: playerToken, body: { type: 'resync', lastEventId: 'x' } });
    expect(state.body[0].payload.state.activeBattle).toMatchObject({ taskId: 'B1', status: 'running', iteration: 1 });
  });

  it('lets an admin publish too, and shares the idempotency key with REST', async () => {
    const from = await head();
    const admin = await connect(adminToken);
    admin.send({ type: 'publish', id: 'a', idempotencyKey: 'once-1', events: [output(1)] });
    const ack = await admin.nextOf('publish_ack', WAIT);
    admin.send({ type: 'publish', id: 'b', idempotencyKey: 'once-1', events: [output(1)] });
    const replay = await admin.nextOf('publish_ack', WAIT);
    expect(replay.id).toBe('b');
    expect(replay.payload.events).toEqual(ack.payload.events);
    const rest = await call('/api/orchestrator/events', {
      token: adminToken,
      body: output(1),
      headers: { 'Idempotency-Key': 'once-1' },
    });
    expect(rest.status).toBe(201);
    expect(rest.body.events).toEqual(ack.payload.events);
    expect(ids(await pollAfter(from))).toEqual(ids(ack.payload.events));
  });

  it('refuses a player, invalid events, oversized batches and too-deep frames with an error frame, writing nothing', async () => {
    const from = await head();
    const watcher = await connect(playerToken, '&batch=1');
    const player = await connect(playerToken);
    const publisher = await connect(serviceToken);

    player.send({ type: 'publish', id: 'x1', events: [output(1)] });
    const denied = await player.nextOf('error', WAIT);
    expect(denied).toMatchObject({ id: 'x1', payload: { code: 'AUTHORIZATION_FAILED' } });

    const bad: Array<[string, unknown, string]> = [
      ['unknown type', { type: 'publish', id: 'b1', events: [output(1), { type: 'nope', payload: {} }] }, 'INVALID_REQUEST'],
      [
        'bad payload',
        { type: 'publish', id: 'b2', events: [output(1), { type: 'iteration_output', payload: { taskId: 'B1' } }] },
        'INVALID_REQUEST',
      ],
      ['too many', { type: 'publish', id: 'b3', events: Array.from({ length: 101 }, (_, i) => output(i)) }, 'INVALID_REQUEST'],
      ['no events', { type: 'publish', id: 'b4', events: [] }, 'INVALID_REQUEST'],
      ['bad key', { type: 'publish', id: 'b5', idempotencyKey: 'has space', events: [output(1)] }, 'INVALID_REQUEST'],
    ];
    for (const [what, frame, code] of bad) {
      publisher.send(frame);
      const error = await publisher.nextOf('error', WAIT);
      expect(error.payload.code, what).toBe(code);
      expect(error.id, what).toBe((frame as { id: string }).id);
    }
    const unknownIndex = await (async () => {
      publisher.send(bad[0]![1]);
      return (await publisher.nextOf('error', WAIT)).payload.details;
    })();
    expect(unknownIndex).toMatchObject({ index: 1, field: 'type' });

    // Nested deeper than the ingress guard allows: refused before it is parsed any further.
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { d: deep };
    publisher.send({ type: 'publish', id: 'd1', events: [{ type: 'error', payload: { message: 'm', details: deep } }] });
    expect((await publisher.nextOf('error', WAIT)).payload.code).toBe('INVALID_REQUEST');

    // Nothing was logged: the poll is empty, the watcher got nothing but its pong.
    expect(await pollAfter(from)).toEqual([]);
    watcher.send({ type: 'ping', payload: { timestamp: 'end' } });
    expect(await watcher.next(WAIT)).toMatchObject({ type: 'pong', payload: { timestamp: 'end' } });
    expect(await head()).toBe(from);
  });
});

describe('publish frames over HTTP', () => {
  it('are answered like on a socket: the ack for a service, an error for a player', async () => {
    const ok = await call('/api/orchestrator/messages', {
      token: serviceToken,
      body: { type: 'publish', id: 'h1', events: [output(1)] },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject([{ type: 'publish_ack', id: 'h1', payload: { events: [{ type: 'iteration_output' }] } }]);
    const denied = await call('/api/orchestrator/messages', {
      token: playerToken,
      body: { type: 'publish', id: 'h2', events: [output(1)] },
    });
    expect(denied.body).toMatchObject([{ type: 'error', id: 'h2', payload: { code: 'AUTHORIZATION_FAILED' } }]);
    expectError(await call('/api/orchestrator/events', { token: playerToken, body: output(1) }), 403, 'AUTHORIZATION_FAILED');
  });
});
