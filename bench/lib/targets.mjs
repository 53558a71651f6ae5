// The three servers under test behind one client interface, so every scenario drives them identically:
//   connect(room, {resume, player, ip}) -> Client      publisher(room) -> { publish(events), close() }
// Client: ping(ts) -> handlers.pong(ts); events -> handlers.event(sentAt); player_moved -> handlers.moved(text);
// move(data); ref() (where it stands in the room's log); drop() (abrupt loss); close(). EdgeRooms' EarthRing socket
// is `EdgeTarget.connectGame(player)` (a registered player in a chunk), the baselines' is `connect(room, {player})`.
import { join } from 'node:path';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { eachSentAtOfText, sentAtOfPayload, sentAtOfText } from './payload.mjs';
import { groupCpuSeconds, spawnGroup, stopGroup } from './processes.mjs';
import { freePort, sleep, withTimeout } from './util.mjs';

const CONNECT_TIMEOUT_MS = 20_000;
const noop = () => {};
const emptyHandlers = () => ({ event: noop, pong: noop, autoPong: noop, moved: noop, error: noop, answer: noop });
/** Events per EdgeRooms `publish` frame (as per `POST /api/orchestrator/events`). */
const PUBLISH_MAX = 100;

/** A raw `ws` client for EdgeRooms and the `ws` baseline: both speak the orchestrator envelope in text frames. */
class WsClient {
  constructor(url, { headers, protocols, handlers, track = false } = {}) {
    this.handlers = { ...emptyHandlers(), ...handlers };
    this.track = track;
    this.welcome = null;
    this.lastSequence = null;
    this.lastEventId = null;
    this.closed = false;
    this.ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false, handshakeTimeout: CONNECT_TIMEOUT_MS });
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => reject(new Error(`upgrade refused: ${res.statusCode} ${body.slice(0, 200)}`)));
      });
      this.ws.once('error', reject);
      this.ws.once('close', (code) => reject(new Error(`closed before welcome: ${code}`)));
      this.resolveReady = resolve;
    });
    this.ws.on('error', noop);
    this.ws.on('close', () => {
      this.closed = true;
    });
    this.ws.on('message', (data, isBinary) => this.onMessage(isBinary ? data : data.toString()));
  }

  onMessage(text) {
    if (typeof text !== 'string') return;
    if (text.charCodeAt(0) === 91) {
      // `[`: EdgeRooms' batched frame (`?batch=1`), the array of one publish's event frames.
      if (this.track) this.trackRef(text.slice(text.lastIndexOf('{"type":')));
      eachSentAtOfText(text, (t) => this.handlers.event(t));
      return;
    }
    const t = sentAtOfText(text);
    if (t !== null && !text.startsWith('{"type":"resync_response"')) {
      if (this.track) this.trackRef(text);
      this.handlers.event(t);
      return;
    }
    if (text === 'pong') {
      this.handlers.autoPong();
      return;
    }
    if (text.startsWith('{"type":"player_moved"')) {
      this.handlers.moved(text);
      return;
    }
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'connected' || (this.welcome === null && frame.type === 'connection_established')) {
      this.welcome = frame;
      this.lastEventId = frame.payload?.lastEventId ?? null;
      this.lastSequence = frame.payload?.sequence ?? null;
      this.resolveReady?.(this);
    } else if (frame.type === 'pong') {
      this.handlers.pong(frame.payload?.timestamp);
    } else if (frame.type === 'resync_response') {
      for (const e of frame.payload?.missedEvents ?? []) this.handlers.event(sentAtOfPayload(e.payload));
    } else if (frame.type === 'publish_ack') {
      this.handlers.answer(frame);
    } else if (frame.type === 'error') {
      this.handlers.error(text);
      if (frame.id !== undefined) this.handlers.answer(frame);
    }
  }

  /** Where this client stands in the log (resync scenario only: the fan-out path stays parse-free). */
  trackRef(text) {
    const id = /"eventId":"([^"]+)"/.exec(text);
    const seq = /"sequence":(\d+)/.exec(text);
    if (id) this.lastEventId = id[1];
    if (seq) this.lastSequence = Number(seq[1]);
  }

  ping(timestamp) {
    this.ws.send(JSON.stringify({ type: 'ping', payload: { timestamp } }));
  }
  /** EdgeRooms answers the bare text `ping` in the runtime without waking the actor. */
  autoPing() {
    this.ws.send('ping');
  }
  move(data) {
    this.ws.send(JSON.stringify({ type: 'player_move', data }));
  }
  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }
  drop() {
    this.ws.terminate();
  }
  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** A Socket.IO client (its own engine per socket, WebSocket transport only, no reconnection). */
class SioClient {
  constructor(url, query, handlers) {
    this.handlers = { ...emptyHandlers(), ...handlers };
    this.closed = false;
    this.socket = ioClient(url, {
      transports: ['websocket'],
      query,
      forceNew: true,
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
      perMessageDeflate: false,
    });
    this.socket.on('event', (frame) => this.handlers.event(sentAtOfPayload(frame?.payload)));
    this.socket.on('pong', (frame) => this.handlers.pong(frame?.payload?.timestamp));
    this.socket.on('player_moved', (frame) => this.handlers.moved(frame));
    this.socket.on('disconnect', () => {
      this.closed = true;
    });
    this.ready = this.connected();
  }

  connected() {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.closed = false;
        resolve(this);
      });
      this.socket.once('connect_error', reject);
    });
  }

  ping(timestamp) {
    this.socket.emit('rtt', { timestamp });
  }
  move(data) {
    this.socket.emit('player_move', data);
  }
  /** Lost transport: the server keeps the session for connection state recovery. */
  drop() {
    this.socket.io.engine.close();
  }
  close() {
    this.socket.disconnect();
  }
}

export class EdgeTarget {
  constructor(edge) {
    this.name = 'edgerooms';
    this.label = edge.label;
    this.edge = edge;
    this.next = 0;
  }

  pids() {
    return this.edge.runtimeProcesses();
  }

  cpuSeconds() {
    return this.edge.cpuSeconds();
  }

  /** A room is a tenant's orchestrator stream (`/ws/orchestrator`): one Room actor per tenant. */
  async connect(room, { resume, handlers, track, batch } = {}) {
    const token = await this.edge.userToken(room);
    const params = new URLSearchParams({ token });
    if (resume?.lastEventId) params.set('lastEventId', resume.lastEventId);
    if (batch) params.set('batch', '1');
    const client = new WsClient(`${this.edge.wsBase}/ws/orchestrator?${params}`, {
      headers: { 'CF-Connecting-IP': this.edge.addresses.next() },
      handlers,
      track,
    });
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'EdgeRooms connect');
    return client;
  }

  /** EarthRing's game socket `/ws` (`earthring-v1`, JSON text): it lives in the chunk of the player's stored position. */
  async connectGame(player, { handlers } = {}) {
    const params = new URLSearchParams({ token: player.token });
    const client = new WsClient(`${this.edge.wsBase}/ws?${params}`, {
      headers: { 'CF-Connecting-IP': this.edge.addresses.next() },
      protocols: ['earthring-v1'],
      handlers,
    });
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'EdgeRooms /ws connect');
    return client;
  }

  ref(client) {
    return { lastEventId: client.lastEventId };
  }

  /** A real client's heartbeat: the runtime answers it, and the idle sweep (120 s) counts it. */
  keepalive(client) {
    if (!client.closed) client.autoPing();
  }

  /** Subscribers may opt in to one frame per published batch (`?batch=1`). */
  get batches() {
    return true;
  }

  /**
   * Publishing over the socket, as the baselines do: `publish` frames of at most 100 events on one socket per
   * service account (each account has its own frame budget), rotating; each answered by its `publish_ack`.
   * The publishers subscribe to a scope the bench never publishes (`?topics=config`), so they receive no events.
   */
  async socketPublisher(room) {
    if (room !== 'default') throw new Error('EdgeRooms publishers publish to the default tenant (the admin’s)');
    const waiting = new Map();
    const answer = (frame) => {
      const settle = waiting.get(frame.id);
      if (!settle) return;
      waiting.delete(frame.id);
      settle(frame.type === 'publish_ack' ? { ok: true, status: 0 } : { ok: false, status: frame.payload?.code ?? 'error' });
    };
    const sockets = await Promise.all(
      this.edge.serviceTokens.map(async (token) => {
        const params = new URLSearchParams({ token, topics: 'config' });
        const client = new WsClient(`${this.edge.wsBase}/ws/orchestrator?${params}`, {
          headers: { 'CF-Connecting-IP': this.edge.addresses.next() },
          handlers: { answer },
        });
        await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'EdgeRooms publisher connect');
        return client;
      }),
    );
    let next = 0;
    let ids = 0;
    const sendOne = (events) =>
      new Promise((resolve) => {
        const id = ++ids;
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve({ ok: false, status: 'timeout' });
        }, CONNECT_TIMEOUT_MS);
        waiting.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        sockets[next++ % sockets.length].send({ type: 'publish', id, events });
      });
    return {
      publish: async (events) => {
        const chunks = [];
        for (let i = 0; i < events.length; i += PUBLISH_MAX) chunks.push(events.slice(i, i + PUBLISH_MAX));
        const answers = await Promise.all(chunks.map(sendOne));
        return answers.find((a) => !a.ok) ?? { ok: true, status: 0 };
      },
      close: () => {
        for (const s of sockets) s.close();
      },
    };
  }

  /** Publishing through `POST /api/orchestrator/events`, rotating over the service accounts. */
  async publisher(room) {
    if (room !== 'default') throw new Error('EdgeRooms publishers publish to the default tenant (the admin’s)');
    const edge = this.edge;
    return {
      publish: async (events) => {
        const token = edge.serviceTokens[this.next++ % edge.serviceTokens.length];
        const res = await edge.request('POST', '/api/orchestrator/events', { token, body: events });
        return { ok: res.status === 201, status: res.status, body: res.status === 201 ? null : res.text.slice(0, 200) };
      },
      close: noop,
    };
  }
}

/** The two Node baselines, each in its own process (so the harness never shares their event loop). */
class NodeBaseline {
  constructor({ root, log, env, script }) {
    this.root = root;
    this.log = log;
    this.env = env;
    this.script = script;
  }

  async start() {
    this.port = await freePort();
    this.child = spawnGroup(process.execPath, [join(this.root, 'bench', 'servers', this.script), '--port', String(this.port)], {
      cwd: this.root,
      env: this.env,
      log: this.log,
      ipc: true,
    });
    await withTimeout(
      new Promise((resolve, reject) => {
        this.child.once('message', resolve);
        this.child.once('exit', (code) => reject(new Error(`${this.script} exited with ${code}`)));
      }),
      15_000,
      `${this.script} start`,
    );
  }

  async stop() {
    await stopGroup(this.child);
  }

  pids() {
    return this.child ? [{ pid: this.child.pid, role: 'server' }] : [];
  }

  cpuSeconds() {
    return this.child ? groupCpuSeconds(this.child.pid) : 0;
  }
}

export class WsTarget extends NodeBaseline {
  constructor(options) {
    super({ ...options, script: 'ws-server.mjs' });
    this.name = 'ws';
    this.label = 'ws (bare Node)';
  }

  async connect(room, { resume, player, handlers, track } = {}) {
    const params = new URLSearchParams();
    if (resume?.lastSequence !== undefined && resume.lastSequence !== null) params.set('lastSequence', resume.lastSequence);
    if (player !== undefined) params.set('player', player);
    const client = new WsClient(`ws://127.0.0.1:${this.port}/rooms/${encodeURIComponent(room)}?${params}`, { handlers, track });
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'ws connect');
    return client;
  }

  ref(client) {
    return { lastSequence: client.lastSequence };
  }

  keepalive() {}

  async publisher(room) {
    const client = new WsClient(`ws://127.0.0.1:${this.port}/rooms/${encodeURIComponent(room)}?role=publisher`);
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'ws publisher connect');
    return {
      publish: async (events) => {
        client.send({ type: 'publish', events });
        return { ok: true, status: 0 };
      },
      close: () => client.close(),
    };
  }
}

export class SocketIoTarget extends NodeBaseline {
  constructor(options) {
    super({ ...options, script: 'socketio-server.mjs' });
    this.name = 'socketio';
    this.label = 'Socket.IO 4';
  }

  async connect(room, { resume, player, handlers } = {}) {
    if (resume?.client) {
      // Connection state recovery: the same socket reconnects with its session id and last offset.
      const client = resume.client;
      if (handlers) client.handlers = { ...emptyHandlers(), ...handlers };
      const ready = client.connected();
      client.socket.connect();
      await withTimeout(ready, CONNECT_TIMEOUT_MS, 'Socket.IO reconnect');
      return client;
    }
    const query = { room, ...(player !== undefined ? { player: String(player) } : {}) };
    const client = new SioClient(`http://127.0.0.1:${this.port}`, query, handlers);
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'Socket.IO connect');
    return client;
  }

  ref(client) {
    return { client };
  }

  keepalive() {}

  async publisher(room) {
    const client = new SioClient(`http://127.0.0.1:${this.port}`, { room, role: 'publisher' });
    await withTimeout(client.ready, CONNECT_TIMEOUT_MS, 'Socket.IO publisher connect');
    return {
      publish: async (events) => {
        client.socket.emit('publish', events);
        return { ok: true, status: 0 };
      },
      close: () => client.close(),
    };
  }
}

/** Closes many clients without flooding the servers with simultaneous closes. */
export async function closeAll(clients, batch = 500) {
  for (let i = 0; i < clients.length; i += batch) {
    for (const c of clients.slice(i, i + batch)) c?.close();
    await sleep(20);
  }
}
