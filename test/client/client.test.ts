import { encode as msgpackEncode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ClientEvent,
  type ClientOptions,
  ConnectionError,
  type ConnectionState,
  createClient,
  type EdgeRoomsClient,
  earthringDialect,
  orchestratorDialect,
  RequestError,
  RequestTimeoutError,
  roomsDialect,
} from '../../src/client';
import { FakeNetwork, flush, json, SseBody, until } from './fake-network';

const WS_URL = 'wss://edge.test/ws/orchestrator';
const evt = (seq: number, type = 'iteration_output') => ({
  type,
  payload: { taskId: 't1', iteration: seq, output: `line ${seq}` },
  timestamp: new Date(0).toISOString(),
  eventId: `eab-${seq}`,
  sequence: seq,
  scope: 'battle',
});

let net: FakeNetwork;
let clients: EdgeRoomsClient[];

beforeEach(() => {
  vi.useFakeTimers();
  net = new FakeNetwork();
  clients = [];
});

afterEach(() => {
  for (const c of clients) c.disconnect();
  vi.useRealTimers();
});

function make(extra: Partial<ClientOptions> = {}): EdgeRoomsClient {
  const client = createClient({
    url: WS_URL,
    dialect: orchestratorDialect,
    token: 'tok',
    openWebSocket: net.openWebSocket,
    fetch: net.fetch,
    heartbeatInterval: 0,
    reconnect: { random: () => 0.5 },
    ...extra,
  });
  // Connection errors are expected in these tests; an unhandled 'error' must not fail them.
  client.on('error', () => {});
  clients.push(client);
  return client;
}

function record(client: EdgeRoomsClient) {
  const states: ConnectionState[] = [];
  const events: ClientEvent[] = [];
  client.on('state', (s) => states.push(s.state));
  client.on('event', (e) => events.push(e));
  return { states, events };
}

async function connectOpen(client: EdgeRoomsClient) {
  const done = client.connect();
  await flush();
  net.lastSocket.open();
  await flush();
  return done;
}

describe('EdgeRoomsClient over WebSocket', () => {
  it('connects with a fresh token from the token function and emits each state change', async () => {
    let n = 0;
    const client = make({ token: async () => `tok-${++n}` });
    const { states } = record(client);
    const connected = vi.fn();
    client.on('connected', connected);
    await connectOpen(client);
    expect(net.lastSocket.params.get('token')).toBe('tok-1');
    expect(net.lastSocket.params.has('lastEventId')).toBe(false);
    expect(client.state).toBe('connected');
    expect(client.transport).toBe('websocket');
    expect(states).toEqual(['connecting', 'connected']);
    expect(connected).toHaveBeenCalledWith({ transport: 'websocket', resumed: false });
  });

  it('delivers events by name and to `event`, with eventId and sequence', async () => {
    const client = make();
    const { events } = record(client);
    const starts: unknown[] = [];
    client.on('event:battle_start', (data, e) => starts.push([data, e.eventId, e.sequence]));
    await connectOpen(client);
    net.lastSocket.push({ type: 'connected', payload: { connectionId: 'c1' }, timestamp: 'x' });
    net.lastSocket.push({ ...evt(1, 'battle_start'), payload: { taskId: 't1', task: {} } });
    await flush();
    expect(events.map((e) => e.name)).toEqual(['battle_start']);
    expect(starts).toEqual([[{ taskId: 't1', task: {} }, 'eab-1', 1]]);
    expect(client.lastEventId).toBe('eab-1');
  });

  it('reconnects with backoff, resumes from the last event id and gets exactly the missed events once, in order', async () => {
    const client = make();
    const { states, events } = record(client);
    const reconnecting = vi.fn();
    const resyncDone = vi.fn();
    client.on('reconnecting', reconnecting);
    client.on('resync_complete', resyncDone);
    await connectOpen(client);
    for (const seq of [1, 2, 3]) net.lastSocket.push(evt(seq));
    await flush();

    net.lastSocket.drop(1006);
    await flush();
    expect(client.state).toBe('reconnecting');
    // attempt 1: ceiling 1 s, random 0.5 -> 500 ms
    expect(reconnecting).toHaveBeenCalledWith({ attempt: 1, maxAttempts: 10, delay: 500, transport: 'websocket' });
    expect(net.sockets).toHaveLength(1);
    await flush(499);
    expect(net.sockets).toHaveLength(1);
    await flush(1);
    expect(net.sockets).toHaveLength(2);
    expect(net.lastSocket.params.get('lastEventId')).toBe('eab-3');

    net.lastSocket.open();
    await flush();
    expect(client.state).toBe('resyncing');
    // The server's replay overlaps what the client already has (eab-3): it must not be handed over twice.
    net.lastSocket.push({ type: 'connected', payload: {}, timestamp: 'x' });
    net.lastSocket.push({
      type: 'resync_response',
      payload: { state: {}, missedEvents: [evt(3), evt(4), evt(5)], truncated: false, lastEventId: 'eab-5' },
      timestamp: 'x',
    });
    net.lastSocket.push(evt(5));
    net.lastSocket.push(evt(6));
    await flush();
    expect(events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(resyncDone).toHaveBeenCalledWith({ replayed: 2, truncated: false });
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'resyncing', 'connected']);
  });

  it('grows the delay with each failed attempt and goes offline after maxAttempts', async () => {
    const client = make({ reconnect: { random: () => 0.5, maxAttempts: 3 } });
    const delays: number[] = [];
    const offline = vi.fn();
    client.on('reconnecting', (r) => delays.push(r.delay));
    client.on('offline', offline);
    const connecting = client.connect();
    const outcome = connecting.then(
      () => 'connected',
      (e: unknown) => e,
    );
    for (let i = 0; i < 4; i++) {
      await flush();
      net.lastSocket.fail();
      await flush(20_000);
    }
    expect(delays).toEqual([500, 1000, 2000]);
    expect(client.state).toBe('offline');
    expect(offline).toHaveBeenCalledWith(expect.objectContaining({ attempts: 3 }));
    expect(await outcome).toBeInstanceOf(ConnectionError);
    expect(net.sockets).toHaveLength(4);
    // offline is not the end: connect() starts over.
    const again = client.connect();
    await flush();
    net.lastSocket.open();
    await again;
    expect(client.state).toBe('connected');
  });

  it('emits a snapshot when the server cannot replay (truncated) and resumes from the log head', async () => {
    const client = make({ lastEventId: 'eold-9' });
    const snapshots: unknown[] = [];
    client.on('snapshot', (s) => snapshots.push(s));
    client.connect();
    await flush();
    expect(net.lastSocket.params.get('lastEventId')).toBe('eold-9');
    net.lastSocket.open();
    await flush();
    expect(client.state).toBe('resyncing');
    net.lastSocket.push({
      type: 'resync_response',
      payload: { state: { battle: null }, missedEvents: [], truncated: true, lastEventId: 'enew-120' },
      timestamp: 'x',
    });
    await flush();
    expect(snapshots).toEqual([expect.objectContaining({ snapshot: { battle: null }, truncated: true })]);
    expect(client.state).toBe('connected');
    expect(client.lastEventId).toBe('enew-120');
  });

  it('ends a replay without an end marker after a quiet period', async () => {
    const client = make({ lastEventId: 'eab-1', resyncSettle: 300 });
    const { events } = record(client);
    client.connect();
    await flush();
    net.lastSocket.open();
    await flush();
    net.lastSocket.push(evt(2));
    await flush(200);
    net.lastSocket.push(evt(3));
    await flush(200);
    expect(client.state).toBe('resyncing');
    expect(client.status.resyncProgress).toEqual({ completed: 2, total: null, currentScope: 'all' });
    await flush(100);
    expect(client.state).toBe('connected');
    expect(events.map((e) => e.eventId)).toEqual(['eab-2', 'eab-3']);
  });

  it('drops duplicate events by eventId, within a bounded window', async () => {
    const client = make({ dedupWindow: 2 });
    const { events } = record(client);
    const dups: string[] = [];
    client.on('duplicate', (d) => dups.push(d.eventId));
    await connectOpen(client);
    for (const seq of [1, 1, 2, 1, 3]) net.lastSocket.push(evt(seq));
    // eab-1 has left the 2-id window by now: memory stays bounded, so it counts as new again.
    net.lastSocket.push(evt(1));
    await flush();
    expect(events.map((e) => e.eventId)).toEqual(['eab-1', 'eab-2', 'eab-3', 'eab-1']);
    expect(dups).toEqual(['eab-1', 'eab-1']);
  });

  it('queues sends while offline and flushes them in order when a connection opens', async () => {
    const client = make();
    client.send({ type: 'resync', n: 1 });
    client.send({ type: 'resync', n: 2 });
    expect(client.status.queued).toBe(2);
    await connectOpen(client);
    client.send({ type: 'resync', n: 3 });
    expect(net.lastSocket.sent).toEqual([
      { type: 'resync', n: 1 },
      { type: 'resync', n: 2 },
      { type: 'resync', n: 3 },
    ]);
    net.lastSocket.drop();
    await flush();
    client.send({ type: 'resync', n: 4 });
    client.send({ type: 'resync', n: 5 });
    expect(client.status.queued).toBe(2);
    await flush(1000);
    net.lastSocket.open();
    await flush();
    expect(net.lastSocket.sent).toEqual([
      { type: 'resync', n: 4 },
      { type: 'resync', n: 5 },
    ]);
    expect(client.status.queued).toBe(0);
  });

  it('drops the oldest queued frame past the queue limit and says so', async () => {
    const client = make({ queueLimit: 2 });
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    for (const n of [1, 2, 3]) client.send({ type: 'x', n });
    expect(errors.map((e) => (e as ConnectionError).code)).toEqual(['QUEUE_OVERFLOW']);
    await connectOpen(client);
    expect(net.lastSocket.sent).toEqual([
      { type: 'x', n: 2 },
      { type: 'x', n: 3 },
    ]);
  });

  it('heartbeat: pings through the dialect, measures latency from the pong, drops a silent connection', async () => {
    const client = make({ heartbeatInterval: 1000, heartbeatTimeout: 2500 });
    const latencies: number[] = [];
    client.on('latency', (ms) => latencies.push(ms));
    await connectOpen(client);
    const socket = net.lastSocket;
    await flush(1000);
    const ping = socket.sent[0] as { type: string; payload: { timestamp: string } };
    expect(ping.type).toBe('ping');
    await flush(42);
    // The seed-004 server echoes the client's timestamp.
    socket.push({ type: 'pong', payload: { timestamp: ping.payload.timestamp }, timestamp: 'x' });
    await flush();
    expect(latencies).toEqual([42]);
    expect(client.latency).toBe(42);
    // From now on the server stays silent: pings go out, nothing comes back.
    await flush(2000);
    expect(client.state).toBe('connected');
    await flush(1000);
    expect(client.state).toBe('reconnecting');
    expect(socket.closedByClient).toBe(true);
  });

  it('speaks MessagePack when asked', async () => {
    const client = make({ codec: 'msgpack' });
    const { events } = record(client);
    await connectOpen(client);
    expect(net.lastSocket.params.get('codec')).toBe('msgpack');
    client.send({ type: 'ping', payload: { timestamp: 1 } });
    expect(net.lastSocket.sent).toEqual([{ type: 'ping', payload: { timestamp: 1 } }]);
    net.lastSocket.pushBinary(msgpackEncode(evt(1)));
    await flush();
    expect(events.map((e) => e.eventId)).toEqual(['eab-1']);
  });

  it('reports a malformed frame and keeps the connection', async () => {
    const client = make();
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    await connectOpen(client);
    net.lastSocket.push('not an object');
    await flush();
    expect(errors).toHaveLength(1);
    expect(client.state).toBe('connected');
  });

  it('disconnect() stops for good and rejects what is waiting', async () => {
    const client = make({ dialect: roomsDialect });
    await connectOpen(client);
    const pending = client.request('room.state');
    client.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' });
    expect(client.state).toBe('offline');
    await flush(60_000);
    expect(net.sockets).toHaveLength(1);
  });
});

describe('request/response', () => {
  it('matches answers to requests by id, whatever their order', async () => {
    const client = make({ dialect: roomsDialect });
    await connectOpen(client);
    const a = client.request('dice.roll', { notation: '2d6' });
    const b = client.request('chat.send', { text: 'hi' });
    const [ra, rb] = net.lastSocket.sent as Array<{ type: string; id: string; method: string; params: unknown }>;
    expect(ra).toMatchObject({ type: 'request', method: 'dice.roll', params: { notation: '2d6' } });
    expect(rb?.id).not.toBe(ra?.id);
    net.lastSocket.push({ type: 'response', id: rb?.id, data: { ok: 'b' }, timestamp: 1 });
    net.lastSocket.push({ type: 'response', id: ra?.id, data: { total: 7 }, timestamp: 1 });
    await expect(a).resolves.toEqual({ total: 7 });
    await expect(b).resolves.toEqual({ ok: 'b' });
  });

  it('rejects with the server error of an error frame carrying its id', async () => {
    const client = make({ dialect: roomsDialect });
    await connectOpen(client);
    const p = client.request('dice.roll', { notation: '1000000d1000000' });
    const sent = net.lastSocket.sent[0] as { id: string };
    net.lastSocket.push({
      type: 'error',
      id: sent.id,
      error: { code: 'INVALID_REQUEST', message: 'Too many dice' },
      timestamp: 1,
    });
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: 'INVALID_REQUEST', message: 'Too many dice' });
  });

  it('times out, and a late answer is ignored', async () => {
    const client = make({ dialect: roomsDialect });
    await connectOpen(client);
    const p = client.request('room.state', undefined, 1000);
    const outcome = p.catch((e: unknown) => e);
    await flush(999);
    net.lastSocket.push({ type: 'event', method: 'presence', data: {}, timestamp: 1 });
    await flush(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(error).toMatchObject({ code: 'REQUEST_TIMEOUT', method: 'room.state' });
    net.lastSocket.push({ type: 'response', id: (net.lastSocket.sent[0] as { id: string }).id, data: {}, timestamp: 1 });
    await flush();
    expect(client.state).toBe('connected');
  });

  it('queues a request made offline; one that times out in the queue is never sent', async () => {
    const client = make({ dialect: roomsDialect });
    const late = client.request('chat.send', { text: 'late' }, 500).catch((e: unknown) => e);
    const kept = client.request('chat.send', { text: 'kept' }, 5000);
    await flush(600);
    expect(await late).toBeInstanceOf(RequestTimeoutError);
    client.connect();
    await flush();
    net.lastSocket.open();
    await flush();
    const sent = net.lastSocket.sent as Array<{ id: string; params: unknown }>;
    expect(sent.map((f) => f.params)).toEqual([{ text: 'kept' }]);
    net.lastSocket.push({ type: 'response', id: sent[0]?.id, data: { delivered: true }, timestamp: 1 });
    await expect(kept).resolves.toEqual({ delivered: true });
  });

  it('rejects a request in flight when its connection is lost (not resent blindly)', async () => {
    const client = make({ dialect: roomsDialect });
    await connectOpen(client);
    const p = client.request('canvas.clear').catch((e: unknown) => e);
    net.lastSocket.drop();
    await flush();
    expect(await p).toMatchObject({ code: 'CONNECTION_LOST' });
    await flush(1000);
    net.lastSocket.open();
    await flush();
    expect(net.lastSocket.sent).toEqual([]);
  });
});

describe('a server redirect (EarthRing hand-off): make before break', () => {
  const handoff = { type: 'chunk_handoff', data: { chunk_id: '0_6', handoff_from: '0_5', handoff_seq: 4 } };

  async function handedOff(extra: Partial<ClientOptions> = {}) {
    const client = make({ url: 'wss://edge.test/ws', dialect: earthringDialect, ...extra });
    await connectOpen(client);
    const old = net.lastSocket;
    // Sent on the old socket after the move's ack but before the hand-off frame arrived (the race CI once lost).
    const pending = client.request('chunk_request', { chunks: ['0_6'] }, 60_000);
    const sent = old.sent[0] as { id: string };
    old.push(handoff);
    await flush();
    const fresh = net.lastSocket;
    expect(fresh).not.toBe(old);
    expect(fresh.params.get('chunk')).toBe('0_6');
    fresh.open();
    await flush();
    return { client, old, fresh, pending, sent };
  }

  it('keeps the old socket open until a request that left on it is answered there, then closes it', async () => {
    const { client, old, fresh, pending, sent } = await handedOff();
    expect(old.closedByClient).toBe(false);
    const next = client.request('player_move', { position: { x: 6010, y: 0 } });
    expect(fresh.sent).toHaveLength(1);
    expect(old.sent).toHaveLength(1);
    old.push({ type: 'chunk_data', id: sent.id, data: { chunks: [{ id: '0_6' }] } });
    await expect(pending).resolves.toEqual({ chunks: [{ id: '0_6' }] });
    await flush();
    expect(old.closedByClient).toBe(true);
    fresh.push({ type: 'player_move_ack', id: (fresh.sent[0] as { id: string }).id, data: { chunk_id: '0_6' } });
    await expect(next).resolves.toEqual({ chunk_id: '0_6' });
    expect(client.state).toBe('connected');
  });

  it('fails such a request with CONNECTION_LOST when the old socket closes or drainTimeout passes unanswered', async () => {
    const closed = await handedOff();
    const lost = closed.pending.catch((e: unknown) => e);
    closed.old.drop(1000, 'Moved to chunk 0_6');
    await flush();
    expect(await lost).toMatchObject({ code: 'CONNECTION_LOST' });
    expect(closed.client.state).toBe('connected');

    const timedOut = await handedOff({ drainTimeout: 2000 });
    const outcome = timedOut.pending.catch((e: unknown) => e);
    await flush(1999);
    expect(timedOut.old.closedByClient).toBe(false);
    await flush(1);
    expect(await outcome).toMatchObject({ code: 'CONNECTION_LOST' });
    expect(timedOut.old.closedByClient).toBe(true);
    expect(timedOut.client.state).toBe('connected');
  });
});

describe('fallback WebSocket -> SSE -> polling, and back', () => {
  const urls = {
    sseUrl: 'https://edge.test/sse/orchestrator',
    pollUrl: 'https://edge.test/api/orchestrator/events',
    sendUrl: 'https://edge.test/api/orchestrator/send',
  };

  it('falls back in order when upgrades fail, and probes its way back to the WebSocket', async () => {
    const client = make({
      ...urls,
      probeInterval: 10_000,
      reconnect: { random: () => 0 },
      fallbackThresholds: { websocket: 2, sse: 1 },
    });
    const { events } = record(client);
    const trail: string[] = [];
    client.on('transport', (t) => trail.push(`${t.from}->${t.to}`));
    let polls = 0;
    net.http = (req) => {
      if (req.url.pathname === '/sse/orchestrator') return json({ error: 'UPGRADE_FAILED', message: 'no' }, 503);
      if (req.url.pathname === '/api/orchestrator/events' && polls++ === 0) {
        return json({ events: [evt(1)], hasMore: false, nextEventId: 'eab-1', snapshot: { battle: null } });
      }
      return undefined;
    };
    const connected = client.connect();
    await flush();
    net.lastSocket.fail();
    await flush();
    net.lastSocket.fail();
    await until(() => client.state === 'connected');
    await connected;
    expect(net.sockets).toHaveLength(2);
    expect(net.requestsTo('/sse/orchestrator')).toHaveLength(1);
    expect(client.transport).toBe('polling');
    expect(client.state).toBe('connected');
    expect(events.map((e) => e.eventId)).toEqual(['eab-1']);
    const poll = net.requestsTo('/api/orchestrator/events')[0];
    expect(poll?.headers.get('authorization')).toBe('Bearer tok');
    expect(poll?.url.searchParams.get('wait')).toBe('0');
    // the second poll waits on the server, from where the first left off
    const second = net.requestsTo('/api/orchestrator/events')[1];
    expect(second?.url.searchParams.get('lastEventId')).toBe('eab-1');
    expect(second?.url.searchParams.get('wait')).toBe('25');

    // The probe: after probeInterval the client tries the WebSocket again, resuming from where polling was.
    await flush(10_000);
    expect(net.sockets).toHaveLength(3);
    const probe = net.lastSocket;
    expect(probe.params.get('lastEventId')).toBe('eab-1');
    probe.open();
    await flush();
    expect(client.transport).toBe('websocket');
    expect(client.state).toBe('connected');
    expect(trail).toEqual(['null->polling', 'polling->websocket']);
    // the long poll was aborted and no new one started
    const pollCount = net.requestsTo('/api/orchestrator/events').length;
    probe.push(evt(1));
    probe.push(evt(2));
    await flush(5000);
    expect(net.requestsTo('/api/orchestrator/events')).toHaveLength(pollCount);
    expect(events.map((e) => e.eventId)).toEqual(['eab-1', 'eab-2']);
  });

  it('a failed probe leaves the fallback transport alone and tries again later', async () => {
    const client = make({ ...urls, transports: ['websocket', 'sse'], probeInterval: 5000, fallbackThresholds: { websocket: 1 } });
    const sse = new SseBody();
    net.http = (req) => (req.url.pathname === '/sse/orchestrator' ? sse.response() : undefined);
    client.connect();
    await flush();
    net.lastSocket.fail();
    await flush();
    expect(client.transport).toBe('sse');
    await flush(5000);
    net.lastSocket.fail();
    await flush();
    expect(client.transport).toBe('sse');
    expect(client.state).toBe('connected');
    await flush(5000);
    expect(net.sockets).toHaveLength(3);
  });

  it('SSE: bearer auth, events with ids, sends as POSTs, and resumes with Last-Event-ID after the stream ends', async () => {
    const client = make({ ...urls, dialect: roomsDialect, transports: ['sse'], resyncSettle: 200 });
    const { states, events } = record(client);
    const controls: string[] = [];
    client.on('control', (c) => controls.push(c.name));
    const streams: SseBody[] = [];
    net.http = (req) => {
      if (req.url.pathname === '/sse/orchestrator') {
        const body = new SseBody();
        streams.push(body);
        return body.response();
      }
      if (req.url.pathname === '/api/orchestrator/send') {
        const frame = JSON.parse(req.body ?? '{}') as { id: string };
        return json([{ type: 'response', id: frame.id, data: { echoed: true }, timestamp: 1 }]);
      }
      return undefined;
    };
    await client.connect();
    const first = net.requestsTo('/sse/orchestrator')[0];
    expect(first?.headers.get('authorization')).toBe('Bearer tok');
    expect(first?.headers.get('accept')).toBe('text/event-stream');
    expect(first?.headers.has('last-event-id')).toBe(false);
    streams[0]?.event({ type: 'event', method: 'connected', data: {} }, undefined, 'connected');
    streams[0]?.write(': keepalive\n\n');
    streams[0]?.event({ type: 'event', method: 'chat_message', data: { text: 'a' }, timestamp: 1 }, 'eab-1', 'chat_message');
    await flush();
    // The welcome is a control frame, not a room event.
    expect(events.map((e) => [e.name, e.eventId])).toEqual([['chat_message', 'eab-1']]);
    expect(controls).toEqual(['connected']);

    await expect(client.request('chat.send', { text: 'hi' })).resolves.toEqual({ echoed: true });
    const post = net.requestsTo('/api/orchestrator/send')[0];
    expect(post?.method).toBe('POST');
    expect(post?.headers.get('authorization')).toBe('Bearer tok');
    expect(JSON.parse(post?.body ?? '{}')).toMatchObject({ type: 'request', method: 'chat.send', params: { text: 'hi' } });

    streams[0]?.end();
    await flush();
    expect(client.state).toBe('reconnecting');
    await flush(500);
    const second = net.requestsTo('/sse/orchestrator')[1];
    expect(second?.headers.get('last-event-id')).toBe('eab-1');
    expect(client.state).toBe('resyncing');
    streams[1]?.event({ type: 'event', method: 'chat_message', data: { text: 'b' } }, 'eab-2');
    await flush(200);
    expect(client.state).toBe('connected');
    expect(events.map((e) => e.eventId).filter(Boolean)).toEqual(['eab-1', 'eab-2']);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'resyncing', 'connected']);
  });

  it('polling: pages through hasMore during a resync and reports a truncated snapshot', async () => {
    const client = make({ ...urls, transports: ['polling'], lastEventId: 'eab-1' });
    const { states, events } = record(client);
    const snapshots: unknown[] = [];
    client.on('snapshot', (s) => snapshots.push(s));
    const answers = [
      { events: [evt(2), evt(3)], hasMore: true, nextEventId: 'eab-3' },
      { events: [evt(3), evt(4)], hasMore: false, nextEventId: 'eab-4' },
    ];
    net.http = (req) =>
      req.url.pathname === '/api/orchestrator/events' ? (answers.length ? json(answers.shift()) : undefined) : undefined;
    await client.connect();
    expect(net.requestsTo('/api/orchestrator/events').map((r) => r.url.searchParams.get('lastEventId'))).toEqual([
      'eab-1',
      'eab-3',
      'eab-4',
    ]);
    expect(events.map((e) => e.sequence)).toEqual([2, 3, 4]);
    expect(states).toEqual(['connecting', 'resyncing', 'connected']);
    expect(snapshots).toEqual([]);
    // The first poll asks for no hold, so an idle room does not keep the client "connecting" for the wait.
    const waits = net.requestsTo('/api/orchestrator/events').map((r) => r.url.searchParams.get('wait'));
    expect(waits[0]).toBe('0');
    expect(Number(waits[1])).toBeGreaterThan(0);

    client.disconnect();
    const truncated = make({ ...urls, transports: ['polling'], lastEventId: 'eold-1' });
    truncated.on('snapshot', (s) => snapshots.push(s));
    net.http = (req) =>
      req.url.pathname === '/api/orchestrator/events' && req.url.searchParams.get('lastEventId') === 'eold-1'
        ? json({ events: [], hasMore: false, nextEventId: 'eab-4', truncated: true, snapshot: { battle: null } })
        : undefined;
    await truncated.connect();
    expect(snapshots).toEqual([expect.objectContaining({ snapshot: { battle: null }, truncated: true })]);
    expect(truncated.lastEventId).toBe('eab-4');
  });

  it('asks the token source again when an HTTP call is answered 401', async () => {
    let n = 0;
    const client = make({ ...urls, transports: ['polling'], token: () => `tok-${++n}` });
    net.http = (req) => {
      if (req.headers.get('authorization') === 'Bearer tok-1')
        return json({ error: 'AUTHENTICATION_REQUIRED', message: 'expired' }, 401);
      if (req.url.pathname === '/api/orchestrator/events' && req.url.searchParams.get('wait')) {
        return net.requestsTo('/api/orchestrator/events').length === 2
          ? json({ events: [], hasMore: false, nextEventId: 'eab-0' })
          : undefined;
      }
      return undefined;
    };
    await client.connect();
    await flush(1000);
    expect(net.requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-2']);
  });
});
