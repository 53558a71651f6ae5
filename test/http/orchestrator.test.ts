import { env, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, expectError, nextIp, registerUser, type Session, uniqueName } from '../support/api';
import { SseReader, TestSocket } from '../support/sockets';

const ADMIN = { username: env.ADMIN_USERNAME ?? '', password: env.ADMIN_PASSWORD ?? '' };

let playerSession: Session;
let adminToken: string;
let serviceToken: string;

beforeAll(async () => {
  playerSession = await registerUser();
  const login = await call('/api/auth/login', { body: ADMIN });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  adminToken = login.body.access_token;
  const minted = await call('/api/admin/service-tokens', {
    token: adminToken,
    body: { name: uniqueName('orch').toLowerCase().slice(0, 60) },
  });
  expect(minted.status, JSON.stringify(minted.body)).toBe(201);
  serviceToken = minted.body.token;
});

async function upgrade(query: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://edge.test/ws/orchestrator${query}`, {
    headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp(), ...headers },
  });
}

async function connect(token: string, query = ''): Promise<TestSocket> {
  const res = await upgrade(`?token=${token}${query}`);
  expect(res.status).toBe(101);
  res.webSocket!.accept();
  return new TestSocket(res.webSocket!);
}

const publish = (token: string, body: unknown) => call('/api/orchestrator/events', { token, body });

describe('GET /ws/orchestrator', () => {
  it('refuses a missing or bad token with 401 before any upgrade, and a plain GET with 426', async () => {
    const none = await upgrade('');
    expect(none.status).toBe(401);
    expect(none.webSocket).toBeNull();
    expect((await none.json<{ error: string }>()).error).toBe('AUTHENTICATION_REQUIRED');
    const bad = await upgrade('?token=abc.def.ghi');
    expect(bad.status).toBe(401);
    const plain = await call('/ws/orchestrator', { method: 'GET', token: playerSession.access_token });
    expectError(plain, 426, 'INVALID_REQUEST');
  });

  it('connects with ?token= or a Bearer header, says connected, and streams published events', async () => {
    const a = await connect(playerSession.access_token);
    const connected = await a.nextOf('connected');
    expect(connected.payload).toMatchObject({
      clientsConnected: expect.any(Number),
      connectionId: expect.stringMatching(/^conn_/),
    });
    const res = await upgrade('', { Authorization: `Bearer ${playerSession.access_token}` });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const b = new TestSocket(res.webSocket!);
    await b.nextOf('connected');

    const r = await publish(serviceToken, { type: 'battle_start', payload: { taskId: 'H1', task: { name: 'demo' } } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.eventId).toMatch(/^e[0-9a-z]+-\d+$/);
    const event = await a.nextOf('battle_start');
    expect(event).toMatchObject({
      eventId: r.body.eventId,
      sequence: r.body.sequence,
      scope: 'battle',
      payload: { taskId: 'H1' },
    });
    expect((await b.nextOf('battle_start')).eventId).toBe(r.body.eventId);
    a.ws.close(1000);
    b.ws.close(1000);
  });
});

describe('POST /api/orchestrator/events', () => {
  it('publishes a batch in order for a service token and answers every eventId and sequence', async () => {
    const r = await publish(serviceToken, [
      { type: 'planning_output', payload: { output: 'a' } },
      { type: 'planning_question', payload: { question: 'why?' } },
    ]);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.events).toHaveLength(2);
    expect(r.body.events[1].sequence).toBe(r.body.events[0].sequence + 1);
    expect(r.body.events[0]).toMatchObject({ type: 'planning_output', scope: 'planning' });
    const admin = await publish(adminToken, { type: 'repo_changed', payload: { workingDir: '/w' } });
    expect(admin.status).toBe(201);
  });

  it('refuses a player with 403 and bad payloads or types with 400, publishing nothing', async () => {
    expectError(
      await publish(playerSession.access_token, { type: 'planning_output', payload: { output: 'x' } }),
      403,
      'AUTHORIZATION_FAILED',
    );
    const before = await call('/api/orchestrator/events?limit=1', { method: 'GET', token: playerSession.access_token });
    const badPayload = await publish(serviceToken, [
      { type: 'planning_output', payload: { output: 'fine' } },
      { type: 'iteration_start', payload: { taskId: 'T', iteration: 'one' } },
    ]);
    expectError(badPayload, 400, 'INVALID_REQUEST');
    expect(badPayload.body.details).toMatchObject({ index: 1, type: 'iteration_start', field: 'iteration' });
    expectError(await publish(serviceToken, { type: 'teleport', payload: {} }), 400, 'INVALID_REQUEST');
    expectError(await publish(serviceToken, { type: 'connected', payload: {} }), 400, 'INVALID_REQUEST');
    expectError(
      await publish(serviceToken, { type: 'battle_cancel', payload: { taskId: 'T', extra: 1 } }),
      400,
      'INVALID_REQUEST',
    );
    const after = await call(`/api/orchestrator/events?lastEventId=${before.body.nextEventId}`, {
      method: 'GET',
      token: playerSession.access_token,
    });
    expect(after.body.events).toEqual([]); // the valid first item of the refused batch was not published either
  });
});

describe('SSE, polling, HTTP send and clients', () => {
  it('serves the same log over SSE and polling with the events in the WebSocket frame shape', async () => {
    const start = await call('/api/orchestrator/events', { method: 'GET', token: playerSession.access_token });
    expect(start.status).toBe(200);
    expect(start.body.snapshot).toBeDefined();
    const from = start.body.nextEventId as string;

    const res = await SELF.fetch(`https://edge.test/sse/orchestrator?token=${playerSession.access_token}`, {
      headers: { 'Last-Event-ID': from, 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const sse = new SseReader(res);
    expect((await sse.next()).event).toBe('connected');

    const pub = await publish(serviceToken, { type: 'progress_update', payload: { taskId: 'H1', progress: { done: 1 } } });
    const m = await sse.next();
    expect(m).toMatchObject({ id: pub.body.eventId, event: 'progress_update' });
    expect(JSON.parse(m.data)).toMatchObject({
      type: 'progress_update',
      eventId: pub.body.eventId,
      payload: { progress: { done: 1 } },
    });
    await sse.cancel();

    const polled = await call(`/api/orchestrator/events?lastEventId=${from}&limit=100`, {
      method: 'GET',
      token: playerSession.access_token,
    });
    expect(polled.status).toBe(200);
    expect(polled.body.events.map((e: { eventId: string }) => e.eventId)).toContain(pub.body.eventId);
    expect(polled.body.nextEventId).toBe(polled.body.events[polled.body.events.length - 1].eventId);

    expectError(
      await call('/api/orchestrator/events?limit=500', { method: 'GET', token: playerSession.access_token }),
      400,
      'INVALID_REQUEST',
    );
    expect((await SELF.fetch('https://edge.test/sse/orchestrator')).status).toBe(401);
  });

  it('answers an HTTP-sent frame with the frames sent back, errors as error frames', async () => {
    const ping = await call('/api/orchestrator/messages', {
      token: playerSession.access_token,
      body: { type: 'ping', payload: { timestamp: 'p1' } },
    });
    expect(ping.status).toBe(200);
    expect(ping.body).toMatchObject([{ type: 'pong', payload: { timestamp: 'p1' } }]);
    const resync = await call('/api/orchestrator/messages', {
      token: playerSession.access_token,
      body: { type: 'resync', lastEventId: 'unknown-id', requestedScopes: ['all'] },
    });
    expect(resync.body[0]).toMatchObject({ type: 'resync_response', payload: { truncated: true, missedEvents: [] } });
    const unknown = await call('/api/orchestrator/messages', { token: playerSession.access_token, body: { type: 'dance' } });
    expect(unknown.body).toMatchObject([{ type: 'error', payload: { code: 'INVALID_REQUEST' } }]);
    const big = await call('/api/orchestrator/messages', {
      token: playerSession.access_token,
      body: { type: 'ping', payload: { timestamp: 'x'.repeat(70_000) } },
    });
    expectError(big, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('shows the client count to admins only', async () => {
    const s = await connect(playerSession.access_token);
    await s.nextOf('connected');
    const r = await call('/api/orchestrator/clients', { method: 'GET', token: adminToken });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.count).toBeGreaterThanOrEqual(1);
    expect(r.body.connections.some((c: { userId: string }) => c.userId === String(playerSession.user_id))).toBe(true);
    expectError(
      await call('/api/orchestrator/clients', { method: 'GET', token: playerSession.access_token }),
      403,
      'AUTHORIZATION_FAILED',
    );
    s.ws.close(1000);
  });
});
