import { env, SELF } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ClientEvent,
  createClient,
  type EdgeRoomsClient,
  orchestratorDialect,
  type SocketEventLike,
  type WebSocketLike,
} from '../../src/client';
import { call, nextIp, registerUser, uniqueName } from '../support/api';

/**
 * The client against the real Worker: real routes, real Room actor, real event log. WebSockets come from
 * `SELF.fetch` upgrades (workerd has no client `WebSocket` constructor for them), fetch is `SELF.fetch`.
 * The only thing simulated is the network between them: a switch that cuts a socket or a stream, or blocks
 * upgrades/streams the way a proxy would, so the client has to fall back and come back.
 */
const BASE = 'https://edge.test';

let playerToken: string;
let serviceToken: string;

beforeAll(async () => {
  playerToken = (await registerUser()).access_token;
  const login = await call('/api/auth/login', { body: { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD } });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  const minted = await call('/api/admin/service-tokens', {
    token: login.body.access_token,
    body: { name: uniqueName('client').toLowerCase().slice(0, 60) },
  });
  expect(minted.status, JSON.stringify(minted.body)).toBe(201);
  serviceToken = minted.body.token;
});

/** A workerd socket behind a cuttable wire: `cut()` is a network loss (the client sees close 1006). */
class Wire implements WebSocketLike {
  #cut = false;
  readonly #listeners: Array<[string, (event: SocketEventLike) => void]> = [];

  constructor(readonly ws: WebSocket) {}

  get readyState(): number {
    return this.#cut ? 3 : this.ws.readyState;
  }

  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: SocketEventLike) => void): void {
    this.#listeners.push([type, listener]);
    this.ws.addEventListener(type, (event) => {
      if (!this.#cut) listener(event as unknown as SocketEventLike);
    });
  }

  send(data: string | ArrayBuffer | Uint8Array): void {
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  cut(): void {
    this.#cut = true;
    for (const [type, listener] of this.#listeners) if (type === 'close') listener({ code: 1006, reason: 'network cut' });
    this.ws.close(1000, 'cut');
  }
}

/** The network between client and Worker, with switches. */
class Network {
  blockWebSocket = false;
  blockSse = false;
  readonly wires: Wire[] = [];
  readonly #sseCuts: Array<() => void> = [];
  /** While set, the client's token source waits: the gap in which events are published "meanwhile". */
  gate: Promise<void> | null = null;
  /** Requests and streams still open between client and Worker: a test ends only when they are done. */
  readonly #inflight = new Set<Promise<unknown>>();

  #track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#inflight.add(settled);
    void settled.then(() => this.#inflight.delete(settled));
    return work;
  }

  /**
   * Ends the network after a test: every socket closed, every request and stream settled (the client aborted
   * them on disconnect). Without this a long poll or an SSE stream could still be running in the Worker when
   * the test file's environment closes ("Closing rpc while ... was pending").
   */
  async settle(): Promise<void> {
    for (const wire of this.wires) if (wire.ws.readyState <= 1) wire.ws.close(1000, 'test over');
    this.cutSse();
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  readonly openWebSocket = async (url: string): Promise<WebSocketLike> => {
    if (this.blockWebSocket) throw new Error('upgrade blocked');
    const res = await this.#track(
      SELF.fetch(url.replace(/^ws/, 'http'), { headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() } }),
    );
    if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade refused: ${res.status}`);
    res.webSocket.accept();
    const wire = new Wire(res.webSocket);
    this.wires.push(wire);
    return wire;
  };

  readonly fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const headers = { ...(init?.headers as Record<string, string>), 'CF-Connecting-IP': nextIp() };
    const isSse = new URL(input).pathname === '/sse/orchestrator';
    if (isSse && this.blockSse) return new Response('streaming blocked', { status: 502 });
    const res = await this.#track(SELF.fetch(input, { ...init, headers }));
    if (!isSse || !res.body) return res;
    // Pass the stream through a wire that can be cut; it counts as in flight until it ends, is cancelled or cut.
    const reader = res.body.getReader();
    let ended!: () => void;
    this.#track(new Promise<void>((r) => (ended = r)));
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      pull: async (c) => {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) {
          c.close();
          ended();
        } else c.enqueue(value);
      },
      cancel: async () => {
        await reader.cancel().catch(() => {});
        ended();
      },
    });
    this.#sseCuts.push(() => {
      try {
        controller.error(new Error('network cut'));
      } catch {
        // already closed
      }
      void reader
        .cancel()
        .catch(() => {})
        .finally(ended);
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };

  cutSse(): void {
    for (const cut of this.#sseCuts.splice(0)) cut();
  }

  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((r) => {
      release = r;
    });
    return () => {
      this.gate = null;
      release();
    };
  }
}

let client: EdgeRoomsClient | undefined;
let network: Network | undefined;
afterEach(async () => {
  client?.disconnect();
  await network?.settle();
  client = undefined;
  network = undefined;
});

async function publish(taskId: string, step: number): Promise<string> {
  const r = await call('/api/orchestrator/events', {
    token: serviceToken,
    body: { type: 'progress_update', payload: { taskId, progress: { step } } },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.eventId as string;
}

describe('client end to end against the Worker', () => {
  it('loses nothing across a drop and WebSocket -> SSE -> polling -> WebSocket, and gets nothing twice', async () => {
    const net = new Network();
    network = net;
    const taskId = uniqueName('task');
    client = createClient({
      url: `${BASE.replace('https', 'wss')}/ws/orchestrator`,
      sseUrl: `${BASE}/sse/orchestrator`,
      pollUrl: `${BASE}/api/orchestrator/events`,
      sendUrl: `${BASE}/api/orchestrator/messages`,
      dialect: orchestratorDialect,
      token: async () => {
        await net.gate;
        return playerToken;
      },
      openWebSocket: net.openWebSocket,
      fetch: net.fetch,
      reconnect: { base: 20, cap: 100 },
      fallbackThresholds: { websocket: 1, sse: 1 },
      probeInterval: 300,
      heartbeatInterval: 0,
      resyncSettle: 150,
      poll: { wait: 1, emptyDelay: 50 },
    });
    const c = client;
    const mine: ClientEvent[] = [];
    c.on('event', (e) => {
      if ((e.data as { taskId?: string }).taskId === taskId) mine.push(e);
    });
    const trail: string[] = [];
    c.on('transport', (t) => trail.push(`${t.from}->${t.to}`));
    const states: string[] = [];
    c.on('state', (s) => states.push(s.state));
    const ids: string[] = [];
    const seen = () => mine.map((e) => e.eventId);
    const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 8000, interval: 20 });

    // 1. WebSocket, live.
    await c.connect();
    expect(c.transport).toBe('websocket');
    ids.push(await publish(taskId, 1));
    await waitFor(() => expect(seen()).toEqual(ids));

    // 2. The socket drops and upgrades start failing; an event is published while the client is away.
    let release = net.hold();
    net.blockWebSocket = true;
    net.wires.at(-1)?.cut();
    await waitFor(() => expect(c.state).toBe('reconnecting'));
    ids.push(await publish(taskId, 2));
    release();
    await waitFor(() => expect(c.transport).toBe('sse'));
    await waitFor(() => expect(seen()).toEqual(ids));
    ids.push(await publish(taskId, 3));
    await waitFor(() => expect(seen()).toEqual(ids));

    // 3. The stream is cut and streaming gets blocked too: long polling picks up from the same log.
    release = net.hold();
    net.blockSse = true;
    net.cutSse();
    await waitFor(() => expect(c.state).toBe('reconnecting'));
    ids.push(await publish(taskId, 4));
    release();
    await waitFor(() => expect(c.transport).toBe('polling'));
    await waitFor(() => expect(seen()).toEqual(ids));
    ids.push(await publish(taskId, 5));
    await waitFor(() => expect(seen()).toEqual(ids));
    // Sends go out as HTTP POSTs: the server's pong comes back in the POST answer.
    c.ping();
    await waitFor(() => expect(c.latency).not.toBeNull());

    // 4. Upgrades work again: the probe takes the client back to the WebSocket.
    net.blockWebSocket = false;
    await waitFor(() => expect(c.transport).toBe('websocket'));
    ids.push(await publish(taskId, 6));
    await waitFor(() => expect(seen()).toEqual(ids));

    expect(new Set(seen()).size).toBe(6);
    expect(mine.map((e) => (e.data as { progress: { step: number } }).progress.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mine.map((e) => e.sequence)).toEqual([...(mine.map((e) => e.sequence) as number[])].sort((a, b) => a - b));
    expect(trail).toEqual(['null->websocket', 'websocket->sse', 'sse->polling', 'polling->websocket']);
    expect(states).toContain('resyncing');
    expect(c.state).toBe('connected');
  });

  it('resyncs a WebSocket reconnect from the last event id through the resync_response', async () => {
    const net = new Network();
    network = net;
    const taskId = uniqueName('task');
    client = createClient({
      url: `${BASE.replace('https', 'wss')}/ws/orchestrator`,
      dialect: orchestratorDialect,
      token: async () => {
        await net.gate;
        return playerToken;
      },
      openWebSocket: net.openWebSocket,
      reconnect: { base: 20, cap: 100 },
      heartbeatInterval: 0,
    });
    const c = client;
    const mine: ClientEvent[] = [];
    c.on('event', (e) => {
      if ((e.data as { taskId?: string }).taskId === taskId) mine.push(e);
    });
    const done = vi.fn();
    c.on('resync_complete', done);
    await c.connect();
    const ids = [await publish(taskId, 1)];
    await vi.waitFor(() => expect(mine.map((e) => e.eventId)).toEqual(ids), { timeout: 5000, interval: 20 });

    const release = net.hold();
    net.wires.at(-1)?.cut();
    ids.push(await publish(taskId, 2), await publish(taskId, 3));
    release();
    await vi.waitFor(() => expect(done).toHaveBeenCalled(), { timeout: 5000, interval: 20 });
    expect(net.wires).toHaveLength(2);
    expect(mine.map((e) => e.eventId)).toEqual(ids);
    expect(c.state).toBe('connected');
    // The replay came as one resync_response, not as a snapshot.
    expect(done.mock.calls[0]?.[0]).toMatchObject({ truncated: false });
  });

  it('opts in to batched frames with batch: true and unpacks them into events in order, across a reconnect', async () => {
    const net = new Network();
    network = net;
    const taskId = uniqueName('task');
    const urls: string[] = [];
    const raw: string[] = [];
    client = createClient({
      url: `${BASE.replace('https', 'wss')}/ws/orchestrator`,
      dialect: orchestratorDialect,
      token: async () => {
        await net.gate;
        return playerToken;
      },
      openWebSocket: async (url) => {
        urls.push(url);
        const wire = (await net.openWebSocket(url)) as Wire;
        wire.ws.addEventListener('message', (e: MessageEvent) => {
          if (typeof e.data === 'string') raw.push(e.data);
        });
        return wire;
      },
      batch: true,
      reconnect: { base: 20, cap: 100 },
      heartbeatInterval: 0,
    });
    const c = client;
    const mine: ClientEvent[] = [];
    c.on('event', (e) => {
      if ((e.data as { taskId?: string }).taskId === taskId) mine.push(e);
    });
    await c.connect();
    const step = (n: number) => ({ type: 'progress_update', payload: { taskId, progress: { step: n } } });
    const first = await call('/api/orchestrator/events', { token: serviceToken, body: [step(1), step(2), step(3)] });
    expect(first.status).toBe(201);
    const ids: string[] = first.body.events.map((e: { eventId: string }) => e.eventId);
    await vi.waitFor(() => expect(mine.map((e) => e.eventId)).toEqual(ids), { timeout: 8000, interval: 20 });
    expect(mine.map((e) => (e.data as { progress: { step: number } }).progress.step)).toEqual([1, 2, 3]);
    // They came as one frame: the array of the three event frames.
    const batch = raw.map((r) => JSON.parse(r)).find((f) => Array.isArray(f) && f.some((e) => e.eventId === ids[0]));
    expect(batch.map((e: { eventId: string }) => e.eventId)).toEqual(ids);

    // A reconnect asks for batches again and resumes where it stood.
    const release = net.hold();
    net.wires.at(-1)?.cut();
    const missed = await call('/api/orchestrator/events', { token: serviceToken, body: [step(4), step(5)] });
    ids.push(...missed.body.events.map((e: { eventId: string }) => e.eventId));
    release();
    await vi.waitFor(() => expect(mine.map((e) => e.eventId)).toEqual(ids), { timeout: 8000, interval: 20 });
    const later = await call('/api/orchestrator/events', { token: serviceToken, body: [step(6), step(7)] });
    ids.push(...later.body.events.map((e: { eventId: string }) => e.eventId));
    await vi.waitFor(() => expect(mine.map((e) => e.eventId)).toEqual(ids), { timeout: 8000, interval: 20 });
    expect(urls).toHaveLength(2);
    for (const url of urls) expect(new URL(url).searchParams.get('batch')).toBe('1');
  });
});
