import { type BackoffOptions, backoffDelay } from './backoff';
import type { CodecName } from './codec';
import { EventDedup } from './dedup';
import { Emitter, type Handler } from './emitter';
import { ConnectionError, RequestError, RequestTimeoutError } from './errors';
import { afterFailure, afterOpen, type FallbackState, type FallbackThresholds, type TransportKind } from './fallback';
import { OfflineQueue } from './queue';
import { type ConnectionInput, type ConnectionState, isOpen, transition } from './state';
import { openPollingTransport } from './transports/polling';
import { openSseTransport } from './transports/sse';
import { openWebSocketTransport } from './transports/websocket';
import type {
  ClientDialect,
  ClosedInfo,
  DecodedFrame,
  FetchLike,
  TokenSource,
  Transport,
  TransportContext,
  TransportSink,
  WebSocketConstructorLike,
  WebSocketFactory,
} from './types';

export interface ClientOptions {
  /** WebSocket endpoint, absolute (`wss://host/ws/orchestrator`). */
  url: string;
  /** SSE endpoint; without it the client never falls back to SSE. */
  sseUrl?: string;
  /** Long-polling endpoint; without it the client never falls back to polling. */
  pollUrl?: string;
  /** Where frames are POSTed while on SSE or polling. */
  sendUrl?: string;
  dialect: ClientDialect;
  /** A JWT, or a function returning a fresh one (called before every connection attempt and on HTTP 401). */
  token?: TokenSource;
  /** Frame codec on the WebSocket (default 'json'); HTTP transports always speak JSON. */
  codec?: CodecName;
  /**
   * Ask the server for one WebSocket frame per published batch (`?batch=1`) instead of one per event: fewer frames
   * when publishers batch. The client unpacks them either way; events still arrive one by one, in order.
   */
  batch?: boolean;
  /** A WebSocket constructor (browsers and Workers have a global one; Node 20 needs `ws`'s). */
  WebSocket?: WebSocketConstructorLike;
  /** Or any function that opens a socket; wins over `WebSocket`. */
  openWebSocket?: WebSocketFactory;
  /** Sub-protocols to offer (EarthRing's `earthring-v1`, ...). */
  protocols?: string[];
  /** fetch for SSE, polling and sends (default: the global one). */
  fetch?: FetchLike;
  /** Extra query parameters on every connection URL. */
  query?: Record<string, string>;
  /** Extra headers on every HTTP request (e.g. `X-Tenant-ID`). */
  headers?: Record<string, string>;
  /** Transports in order of preference (default: websocket, then sse and polling when their URLs are set). */
  transports?: TransportKind[];
  /** Failed establishments of a transport before trying the next one (default 2 each). */
  fallbackThresholds?: FallbackThresholds;
  /** While on SSE or polling, how often to try the WebSocket again, ms (default 30,000; 0 = never). */
  probeInterval?: number;
  /** Reconnect policy: full-jitter backoff (base 1 s, cap 30 s), at most `maxAttempts` tries in a row (default 10). */
  reconnect?: BackoffOptions & { maxAttempts?: number; enabled?: boolean };
  /** Application ping interval, ms (default 25,000; 0 = no heartbeat). */
  heartbeatInterval?: number;
  /** Silence after which the connection is taken for dead, ms (default 2 × interval + 10 s). */
  heartbeatTimeout?: number;
  /** Default `request` timeout, ms (default 10,000). */
  requestTimeout?: number;
  /**
   * After a switch (a hand-off, a probe back), how long the old connection stays open for answers to requests that
   * left on it, ms (default 10,000, the server's hand-off grace); unanswered ones then fail with CONNECTION_LOST.
   */
  drainTimeout?: number;
  /** Event ids remembered for duplicate detection (default 1,000, the server's ring size). */
  dedupWindow?: number;
  /** Frames kept while offline (default 1,000; past it the oldest is dropped). */
  queueLimit?: number;
  /** Resume point to start from (an event id the app persisted). */
  lastEventId?: string;
  /** Replay is taken as over after this long without a replayed event, ms (default 250). */
  resyncSettle?: number;
  /** ...or at the latest after this long, ms (default 5,000). */
  resyncMax?: number;
  /** Long-polling knobs: events per poll (100), server hold time in seconds (25), pause after an empty answer ms (1,000). */
  poll?: { limit?: number; wait?: number; emptyDelay?: number };
}

/** A domain event as the application receives it. */
export interface ClientEvent<T = unknown> {
  name: string;
  data: T;
  eventId?: string;
  sequence?: number;
  scope?: string;
  /** The frame as received (or the log event, over polling). */
  raw: unknown;
}

/** Seed 004's "Connection Status Component" model, plus the transport in use and the last latency. */
export interface ConnectionStatus {
  state: ConnectionState;
  transport: TransportKind | null;
  lastConnected: string | null;
  reconnectAttempt: number;
  maxAttempts: number;
  /** Seconds until the next attempt, while one is scheduled. */
  nextAttemptIn: number | null;
  /** While resyncing: events replayed so far (the total is not known in advance). */
  resyncProgress: { completed: number; total: number | null; currentScope: string } | null;
  latency: number | null;
  queued: number;
}

export interface ClientEventMap {
  /** Every state change. */
  state: { state: ConnectionState; previous: ConnectionState };
  connecting: { transport: TransportKind };
  connected: { transport: TransportKind; resumed: boolean };
  disconnected: { transport: TransportKind; code?: number; reason?: string; error?: unknown };
  reconnecting: { attempt: number; maxAttempts: number; delay: number; transport: TransportKind };
  resyncing: { transport: TransportKind; lastEventId: string | null };
  /** Seed 004's `resync_complete`: the replay after a reconnect is over. */
  resync_complete: { replayed: number; truncated: boolean };
  offline: { attempts: number; error?: unknown };
  /** Connection, protocol, server error frames without a waiting request, and handler exceptions. */
  error: Error;
  /** Every frame received, as received (seed 001's `message`). */
  message: unknown;
  /** Every new (non-duplicate) domain event. */
  event: ClientEvent;
  /** A pong or a server heartbeat arrived. */
  heartbeat: { latency: number | null; transport: TransportKind | null };
  /** A new round-trip measurement, ms. */
  latency: number;
  /**
   * A state snapshot. `truncated: true`: the server could not replay what was missed, rebuild from this state.
   * `truncated: false`: the current state handed to a poller that had no resume point yet.
   */
  snapshot: { snapshot: unknown; truncated: boolean; raw: unknown };
  /** Frames about the connection itself (welcome `connected`, `heartbeat`, ...). */
  control: { name: string; data: unknown; raw: unknown };
  /** The transport in use changed (fallback, or the probe got the WebSocket back). */
  transport: { from: TransportKind | null; to: TransportKind };
  /** An event dropped because its id was seen already. */
  duplicate: { eventId: string };
}

type EventHandler<T = unknown> = (data: T, event: ClientEvent<T>) => void;

interface PendingRequest {
  method: string;
  frame: unknown;
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Generation of the transport it went out on; null while queued. */
  sentOn: number | null;
}

const DEFAULTS = {
  maxAttempts: 10,
  heartbeatInterval: 25_000,
  requestTimeout: 10_000,
  dedupWindow: 1000,
  queueLimit: 1000,
  probeInterval: 30_000,
  resyncSettle: 250,
  resyncMax: 5000,
  pollLimit: 100,
  pollWait: 25,
  pollEmptyDelay: 1000,
  /** How long a superseded transport stays open for answers to requests that left on it. */
  drainTimeout: 10_000,
};

const OPENERS: Record<TransportKind, (ctx: TransportContext) => Transport> = {
  websocket: openWebSocketTransport,
  sse: openSseTransport,
  polling: openPollingTransport,
};

/**
 * The EdgeRooms client: one engine for every dialect and transport. It keeps the connection up (backoff with
 * full jitter, heartbeat, fallback and probe back), resumes from the last event id so nothing is missed,
 * hands each event to the app once, and queues what is sent while offline.
 */
export class EdgeRoomsClient {
  readonly #options: ClientOptions;
  readonly #dialect: ClientDialect;
  readonly #order: TransportKind[];
  readonly #emitter = new Emitter();
  readonly #dedup: EventDedup;
  readonly #queue: OfflineQueue<unknown>;
  readonly #requests = new Map<string, PendingRequest>();
  readonly #requestIdByFrame = new WeakMap<object, string>();
  /** Outstanding pings: id -> sent at (ms). */
  readonly #pings = new Map<string, number>();
  readonly #idPrefix = Math.random().toString(36).slice(2, 8);
  #nextId = 0;

  #state: ConnectionState = 'offline';
  #transport: Transport | null = null;
  /** Every transport gets its own generation; reports from any but the live one (or the probe) are stale. */
  #generations = 0;
  #generation = 0;
  #probeGeneration: number | null = null;
  /** Superseded transports kept open until the requests that left on them are answered (make before break). */
  readonly #draining = new Map<number, { transport: Transport; timer: ReturnType<typeof setTimeout> }>();
  #fallback: FallbackState;
  #attempt = 0;
  #lastEventId: string | null;
  /** Query parameters a server redirect added (EarthRing's chunk hand-off); cleared by disconnect(). */
  #redirectQuery: Record<string, string> = {};
  /** Between a redirect and the new socket being adopted, frames wait in the queue. */
  #redirecting = false;
  #lastConnected: string | null = null;
  #latency: number | null = null;
  #lastActivity = 0;
  #nextAttemptAt: number | null = null;
  #replayed = 0;
  #replayTruncated = false;
  /** The transport of the last established connection: 'transport' events report changes of it. */
  #lastTransport: TransportKind | null = null;

  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  #resyncMaxTimer: ReturnType<typeof setTimeout> | undefined;
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  #probe: Transport | null = null;

  #connectWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#dialect = options.dialect;
    this.#order = options.transports ?? [
      'websocket',
      ...(options.sseUrl ? (['sse'] as const) : []),
      ...(options.pollUrl ? (['polling'] as const) : []),
    ];
    const first = this.#order[0];
    if (!first) throw new RangeError('At least one transport is needed');
    this.#fallback = afterOpen(first);
    this.#dedup = new EventDedup(options.dedupWindow ?? DEFAULTS.dedupWindow);
    this.#queue = new OfflineQueue(options.queueLimit ?? DEFAULTS.queueLimit);
    this.#lastEventId = options.lastEventId ?? null;
  }

  // ---- public surface -------------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.#state;
  }

  /** The transport in use, or null when none is open. */
  get transport(): TransportKind | null {
    return this.#transport?.kind ?? null;
  }

  /** Last measured round trip, ms. */
  get latency(): number | null {
    return this.#latency;
  }

  /** The id the next connection resumes from. */
  get lastEventId(): string | null {
    return this.#lastEventId;
  }

  get status(): ConnectionStatus {
    const now = Date.now();
    return {
      state: this.#state,
      transport: this.transport,
      lastConnected: this.#lastConnected,
      reconnectAttempt: this.#attempt,
      maxAttempts: this.#maxAttempts,
      nextAttemptIn: this.#nextAttemptAt === null ? null : Math.max(0, Math.ceil((this.#nextAttemptAt - now) / 1000)),
      resyncProgress: this.#state === 'resyncing' ? { completed: this.#replayed, total: null, currentScope: 'all' } : null,
      latency: this.#latency,
      queued: this.#queue.size,
    };
  }

  /** Starts connecting; resolves once connected (after any replay), rejects if every attempt fails or on disconnect(). */
  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    const waiter = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    // Fire-and-forget `connect()` is the common use: failures are also told through 'offline' and 'error', so an
    // ignored promise must not become an unhandled rejection. Awaiting it still sees the rejection.
    waiter.catch(() => {});
    if (this.#state === 'offline') {
      this.#attempt = 0;
      this.#fallback = afterOpen(this.#order[0] as TransportKind);
      this.#move('connect');
      this.#emit('connecting', { transport: this.#fallback.transport });
      void this.#establish();
    }
    return waiter;
  }

  /** Closes the connection for good: no reconnect; waiting requests and queued frames are dropped. */
  disconnect(): void {
    const was = this.#transport?.kind;
    this.#generation = ++this.#generations;
    this.#stopTimers();
    this.#stopProbe();
    this.#transport?.close();
    this.#transport = null;
    for (const generation of [...this.#draining.keys()]) this.#endDrain(generation);
    this.#nextAttemptAt = null;
    const error = new ConnectionError('DISCONNECTED', 'Client disconnected');
    for (const [id, request] of this.#requests) this.#settle(id, request, () => request.reject(error));
    this.#queue.drain();
    this.#pings.clear();
    this.#redirectQuery = {};
    this.#redirecting = false;
    if (this.#state !== 'offline') {
      this.#move('close');
      if (was) this.#emit('disconnected', { transport: was, reason: 'client disconnect' });
    }
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(error);
  }

  /** Sends one frame in the dialect's envelope; queued while no transport is open. */
  send(frame: unknown): void {
    if (this.#transport && isOpen(this.#state) && !this.#redirecting) {
      this.#write(frame);
      return;
    }
    this.#enqueue(frame);
  }

  /** Sends a request and resolves with the answer's data; rejects on an error frame or after `timeout` ms. */
  request<T = unknown>(method: string, params?: unknown, timeout?: number): Promise<T> {
    const id = this.#newId('r');
    const frame = this.#dialect.encodeRequest(id, method, params);
    const ms = timeout ?? this.#options.requestTimeout ?? DEFAULTS.requestTimeout;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const request = this.#requests.get(id);
        if (!request) return;
        this.#queue.remove((queued) => queued === frame);
        this.#settle(id, request, () => reject(new RequestTimeoutError(method, ms)));
      }, ms);
      this.#requests.set(id, { method, frame, resolve: resolve as (data: unknown) => void, reject, timer, sentOn: null });
      if (typeof frame === 'object' && frame !== null) this.#requestIdByFrame.set(frame, id);
      this.send(frame);
    });
  }

  /** Asks for an explicit resync (dialects that have one, seed 004); the answer arrives as events/`snapshot`. */
  resync(scopes?: readonly string[]): void {
    if (!this.#dialect.encodeResync) throw new Error(`The ${this.#dialect.name} dialect has no resync message`);
    this.send(this.#dialect.encodeResync(this.#lastEventId, scopes));
  }

  on<K extends keyof ClientEventMap>(name: K, handler: (payload: ClientEventMap[K]) => void): this;
  on<T = unknown>(name: `event:${string}`, handler: EventHandler<T>): this;
  on(name: string, handler: Handler): this {
    this.#emitter.on(name, handler);
    return this;
  }

  off<K extends keyof ClientEventMap>(name: K, handler: (payload: ClientEventMap[K]) => void): this;
  off<T = unknown>(name: `event:${string}`, handler: EventHandler<T>): this;
  off(name: string, handler: Handler): this {
    this.#emitter.off(name, handler);
    return this;
  }

  // ---- connection lifecycle -------------------------------------------------------------------------------

  get #maxAttempts(): number {
    return this.#options.reconnect?.maxAttempts ?? DEFAULTS.maxAttempts;
  }

  /** A retry without a timer (delay 0) can be overtaken by `disconnect()`: only go if nothing changed. */
  #establishIf(generation: number): void {
    if (generation === this.#generation && this.#state === 'reconnecting') void this.#establish();
  }

  async #establish(): Promise<void> {
    const generation = ++this.#generations;
    this.#generation = generation;
    const kind = this.#fallback.transport;
    this.#nextAttemptAt = null;
    let token: string;
    try {
      token = await this.#token();
    } catch (error) {
      if (generation === this.#generation) this.#onClosed(generation, kind, { established: false, error });
      return;
    }
    if (generation !== this.#generation) return;
    const ctx = this.#context(token, this.#sink(generation, kind));
    this.#transport = OPENERS[kind](ctx);
  }

  #context(token: string, sink: TransportSink, lastEventId = this.#lastEventId): TransportContext {
    const o = this.#options;
    const Ctor = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
    const openWebSocket: WebSocketFactory | undefined =
      o.openWebSocket ?? (Ctor ? (url, protocols) => new Ctor(url, protocols) : undefined);
    return {
      dialect: this.#dialect,
      codec: o.codec ?? 'json',
      batch: o.batch ?? false,
      token,
      refreshToken: () => this.#token(),
      lastEventId,
      urls: { url: o.url, sseUrl: o.sseUrl, pollUrl: o.pollUrl, sendUrl: o.sendUrl },
      query: { ...o.query, ...this.#redirectQuery },
      headers: o.headers ?? {},
      protocols: o.protocols,
      fetch: o.fetch ?? ((input, init) => fetch(input, init)),
      openWebSocket,
      poll: {
        limit: o.poll?.limit ?? DEFAULTS.pollLimit,
        waitSeconds: o.poll?.wait ?? DEFAULTS.pollWait,
        emptyDelayMs: o.poll?.emptyDelay ?? DEFAULTS.pollEmptyDelay,
      },
      sink,
    };
  }

  async #token(): Promise<string> {
    const source = this.#options.token;
    if (source === undefined) return '';
    return typeof source === 'function' ? await source() : source;
  }

  /**
   * The sink of one transport. Open/close reports of a superseded transport are ignored; frames it still
   * delivers (answers to POSTs in flight during a switch) are processed, since dedup makes that safe.
   */
  #sink(generation: number, kind: TransportKind): TransportSink {
    const current = () => generation === this.#generation;
    const probing = () => generation === this.#probeGeneration;
    return {
      open: () => {
        if (probing()) this.#adoptProbe();
        else if (current()) this.#onOpen(kind);
      },
      frame: (frame, eventId) => {
        if (current() || (!probing() && isOpen(this.#state))) this.#onFrame(frame, eventId);
      },
      cursor: (nextEventId, caughtUp) => {
        if (current()) this.#onCursor(nextEventId, caughtUp);
      },
      snapshot: (snapshot, truncated) => {
        if (current()) this.#onSnapshot(snapshot, truncated, snapshot);
      },
      activity: () => {
        if (current()) this.#touch();
      },
      malformed: (error) => {
        if (current()) this.#emitError(error instanceof Error ? error : new Error(String(error)));
      },
      sendFailed: (frame, error) => this.#onSendFailed(frame, error),
      closed: (info) => {
        if (probing()) this.#onProbeFailed();
        else if (current()) this.#onClosed(generation, kind, info);
        else if (this.#draining.has(generation)) this.#endDrain(generation, 'closed');
      },
    };
  }

  #onOpen(kind: TransportKind): void {
    const previous = this.#lastTransport;
    this.#lastTransport = kind;
    this.#fallback = afterOpen(kind);
    this.#attempt = 0;
    this.#nextAttemptAt = null;
    this.#lastConnected = new Date().toISOString();
    this.#touch();
    if (previous !== kind) this.#emit('transport', { from: previous, to: kind });
    const resumed = this.#lastEventId !== null;
    if (resumed) {
      // The server replays what was missed right after open (URL `lastEventId` / `Last-Event-ID` / poll cursor).
      this.#move('resync');
      this.#replayed = 0;
      this.#replayTruncated = false;
      this.#emit('resyncing', { transport: kind, lastEventId: this.#lastEventId });
      // Polling says when it is caught up; the streams do not, so a short quiet period ends the replay.
      if (kind !== 'polling') this.#armSettle();
      this.#resyncMaxTimer = setTimeout(() => this.#finishResync(), this.#options.resyncMax ?? DEFAULTS.resyncMax);
    } else {
      this.#becomeConnected(kind, false);
    }
    this.#flush();
    this.#startHeartbeat();
    this.#scheduleProbe();
  }

  #becomeConnected(kind: TransportKind, resumed: boolean): void {
    this.#move(this.#state === 'resyncing' ? 'synced' : 'open');
    this.#emit('connected', { transport: kind, resumed });
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve();
  }

  #finishResync(): void {
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#resyncMaxTimer);
    if (this.#state !== 'resyncing' || !this.#transport) return;
    this.#emit('resync_complete', { replayed: this.#replayed, truncated: this.#replayTruncated });
    this.#becomeConnected(this.#transport.kind, true);
  }

  #armSettle(): void {
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => this.#finishResync(), this.#options.resyncSettle ?? DEFAULTS.resyncSettle);
  }

  #onClosed(generation: number, kind: TransportKind, info: ClosedInfo): void {
    this.#redirecting = false;
    const wasOpen = isOpen(this.#state) && this.#transport !== null;
    this.#transport?.close();
    this.#transport = null;
    this.#stopTimers();
    this.#stopProbe();
    this.#pings.clear();
    // Frames the transport took but never sent go back first, ahead of anything queued since.
    if (info.unsent && info.unsent.length > 0) this.#queue.unshift(...info.unsent);
    // A request that left on the lost transport may or may not have been acted on: it is not resent blindly.
    for (const [id, request] of this.#requests) {
      if (request.sentOn === generation) {
        this.#settle(id, request, () =>
          request.reject(new ConnectionError('CONNECTION_LOST', `Connection lost before ${request.method} was answered`)),
        );
      }
    }
    if (info.error !== undefined) this.#emitError(toError(info.error, `${kind} transport failed`));
    if (wasOpen) this.#emit('disconnected', { transport: kind, code: info.code, reason: info.reason, error: info.error });
    let switched = false;
    if (!info.established) {
      const next = afterFailure(this.#fallback, this.#order, this.#options.fallbackThresholds);
      switched = next.transport !== this.#fallback.transport;
      this.#fallback = next;
    }
    this.#scheduleReconnect(switched, info.error);
  }

  #scheduleReconnect(immediate: boolean, error?: unknown): void {
    const reconnect = this.#options.reconnect;
    this.#attempt++;
    if (reconnect?.enabled === false || this.#attempt > this.#maxAttempts) {
      const attempts = this.#attempt - 1;
      this.#move('give_up');
      this.#nextAttemptAt = null;
      this.#emit('offline', { attempts, error });
      const failure = new ConnectionError('CONNECTION_LOST', `Gave up after ${attempts} attempts`);
      for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(failure);
      return;
    }
    this.#move('drop');
    // Moving to another transport is not the server being down: try it at once.
    const delay = immediate ? 0 : backoffDelay(this.#attempt - 1, reconnect);
    this.#nextAttemptAt = Date.now() + delay;
    this.#emit('reconnecting', {
      attempt: this.#attempt,
      maxAttempts: this.#maxAttempts,
      delay,
      transport: this.#fallback.transport,
    });
    if (delay === 0) queueMicrotask(() => void this.#establishIf(this.#generation));
    else this.#reconnectTimer = setTimeout(() => void this.#establish(), delay);
  }

  // ---- probing back to the WebSocket ------------------------------------------------------------------------

  #scheduleProbe(): void {
    const interval = this.#options.probeInterval ?? DEFAULTS.probeInterval;
    const best = this.#order[0];
    if (!(interval > 0) || !this.#transport || best === undefined || this.#transport.kind === best) return;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = setTimeout(() => void this.#startProbe(best), interval);
  }

  async #startProbe(kind: TransportKind): Promise<void> {
    if (!this.#transport || !isOpen(this.#state)) return;
    const live = this.#generation;
    let token: string;
    try {
      token = await this.#token();
    } catch {
      this.#onProbeFailed();
      return;
    }
    if (live !== this.#generation) return;
    const generation = ++this.#generations;
    this.#probeGeneration = generation;
    this.#probe = OPENERS[kind](this.#context(token, this.#sink(generation, kind)));
  }

  /** The preferred transport works again: switch to it; what it replays from our last id is deduplicated. */
  #adoptProbe(): void {
    const probe = this.#probe;
    const generation = this.#probeGeneration;
    this.#probe = null;
    this.#probeGeneration = null;
    if (!probe || generation === null || !this.#transport || !isOpen(this.#state)) {
      probe?.close();
      return;
    }
    const old = this.#transport;
    const oldGeneration = this.#generation;
    this.#generation = generation;
    this.#transport = probe;
    this.#drain(old, oldGeneration);
    this.#fallback = afterOpen(probe.kind);
    this.#lastTransport = probe.kind;
    this.#lastConnected = new Date().toISOString();
    this.#touch();
    if (old.kind !== probe.kind) this.#emit('transport', { from: old.kind, to: probe.kind });
    this.#redirecting = false;
    this.#flush();
  }

  #onProbeFailed(): void {
    this.#probe?.close();
    this.#probe = null;
    this.#probeGeneration = null;
    if (this.#redirecting && this.#transport) {
      // The new endpoint refused: drop the old connection too and reconnect there with backoff.
      this.#onClosed(this.#generation, this.#transport.kind, { established: true, reason: 'redirect failed' });
      return;
    }
    this.#scheduleProbe();
  }

  /**
   * A server redirect: the next connections carry `query` and resume from `lastEventId`. Make before break: a new
   * socket is opened while the old one still delivers answers to requests in flight; new frames wait in the queue
   * until it is adopted (the server sends nothing more on the old one after the redirect).
   */
  #redirect(query: Record<string, string>, lastEventId: string | undefined): void {
    this.#redirectQuery = { ...this.#redirectQuery, ...query };
    if (lastEventId !== undefined) this.#lastEventId = lastEventId;
    const transport = this.#transport;
    if (!transport || !isOpen(this.#state)) return;
    this.#redirecting = true;
    this.#stopProbe();
    void this.#startProbe(transport.kind);
  }

  /**
   * A superseded transport stays open while requests that left on it are unanswered (a hand-off's old chunk still
   * answers them), until `drainTimeout`; then those requests fail with CONNECTION_LOST, never silently.
   */
  #drain(transport: Transport, generation: number): void {
    if (!this.#inFlightOn(generation)) {
      transport.close();
      return;
    }
    const ms = this.#options.drainTimeout ?? DEFAULTS.drainTimeout;
    const timer = setTimeout(() => this.#endDrain(generation, 'retired after drainTimeout'), ms);
    this.#draining.set(generation, { transport, timer });
  }

  #inFlightOn(generation: number): boolean {
    for (const request of this.#requests.values()) if (request.sentOn === generation) return true;
    return false;
  }

  /** Closes a draining transport; what is still unanswered on it fails with `why`. */
  #endDrain(generation: number, why?: string): void {
    const draining = this.#draining.get(generation);
    if (!draining) return;
    this.#draining.delete(generation);
    clearTimeout(draining.timer);
    draining.transport.close();
    if (why === undefined) return;
    for (const [id, request] of this.#requests) {
      if (request.sentOn !== generation) continue;
      const error = new ConnectionError('CONNECTION_LOST', `Connection ${why} before ${request.method} was answered`);
      this.#settle(id, request, () => request.reject(error));
    }
  }

  #stopProbe(): void {
    clearTimeout(this.#probeTimer);
    this.#probe?.close();
    this.#probe = null;
    this.#probeGeneration = null;
  }

  // ---- heartbeat ----------------------------------------------------------------------------------------------

  #startHeartbeat(): void {
    const interval = this.#options.heartbeatInterval ?? DEFAULTS.heartbeatInterval;
    if (!(interval > 0)) return;
    const timeout = this.#options.heartbeatTimeout ?? interval * 2 + 10_000;
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = setInterval(() => {
      const transport = this.#transport;
      if (!transport) return;
      if (Date.now() - this.#lastActivity > timeout) {
        this.#onClosed(this.#generation, transport.kind, { established: true, reason: 'heartbeat timeout' });
        return;
      }
      this.ping();
    }, interval);
  }

  /** Sends an application ping now (the heartbeat does this on its own); its answer updates `latency`. */
  ping(): void {
    if (!this.#transport || !isOpen(this.#state)) return;
    if (this.#transport.kind !== 'websocket' && !this.#options.sendUrl) return;
    const id = this.#newId('p');
    const now = Date.now();
    this.#pings.set(id, now);
    // Unanswered pings must not pile up over a long connection.
    if (this.#pings.size > 8) this.#pings.delete(this.#pings.keys().next().value as string);
    this.#write(this.#dialect.encodePing(id, now));
  }

  #onPong(id: string | undefined, timestamp: number | undefined): void {
    let sentAt: number | undefined;
    if (id !== undefined && this.#pings.has(id)) {
      sentAt = this.#pings.get(id);
      this.#pings.delete(id);
    } else if (timestamp !== undefined) {
      for (const [pingId, at] of this.#pings) {
        if (at === timestamp) {
          sentAt = at;
          this.#pings.delete(pingId);
          break;
        }
      }
    }
    if (sentAt === undefined && this.#pings.size > 0) {
      // A pong that echoes nothing answers the oldest ping.
      const [pingId, at] = this.#pings.entries().next().value as [string, number];
      this.#pings.delete(pingId);
      sentAt = at;
    }
    if (sentAt !== undefined) {
      this.#latency = Math.max(0, Date.now() - sentAt);
      this.#emit('latency', this.#latency);
    }
    this.#emit('heartbeat', { latency: this.#latency, transport: this.transport });
  }

  // ---- inbound ----------------------------------------------------------------------------------------------

  #touch(): void {
    this.#lastActivity = Date.now();
  }

  #onFrame(frame: unknown, eventId?: string): void {
    // A batched frame (`?batch=1`): the array of the dialect's own frames, in log order. No dialect's frame is an array.
    if (Array.isArray(frame)) {
      for (const f of frame) this.#onFrame(f);
      return;
    }
    this.#touch();
    this.#emit('message', frame);
    let decoded: DecodedFrame | null;
    try {
      decoded = this.#dialect.decode(frame);
    } catch (error) {
      this.#emitError(toError(error, 'Undecodable frame'));
      return;
    }
    if (!decoded) {
      this.#emitError(new Error(`Frame not in the ${this.#dialect.name} dialect`));
      return;
    }
    // Over SSE the `id:` line is authoritative when the frame itself carries none.
    if (eventId !== undefined) {
      if (decoded.kind === 'event' && decoded.eventId === undefined) decoded = { ...decoded, eventId };
      else if (decoded.kind === 'resync' && decoded.resumeId === undefined) decoded = { ...decoded, resumeId: eventId };
    }
    this.#handle(decoded);
  }

  #handle(decoded: DecodedFrame): void {
    switch (decoded.kind) {
      case 'event':
        this.#deliver(decoded);
        return;
      case 'response': {
        const request = this.#requests.get(decoded.id);
        if (request) {
          this.#settle(decoded.id, request, () => request.resolve(decoded.data));
        } else if (this.#pings.has(decoded.id)) {
          this.#onPong(decoded.id, undefined);
        } else if (decoded.name !== undefined) {
          this.#deliver({ kind: 'event', name: decoded.name, data: decoded.data, raw: decoded.raw });
        }
        return;
      }
      case 'error': {
        const request = decoded.id === undefined ? undefined : this.#requests.get(decoded.id);
        if (request && decoded.id !== undefined) {
          const id = decoded.id;
          this.#settle(id, request, () => request.reject(new RequestError(decoded.error)));
        } else if (decoded.id !== undefined && this.#pings.has(decoded.id)) {
          // The server has no ping method but answered: the round trip is measured all the same.
          this.#onPong(decoded.id, undefined);
        } else {
          this.#emitError(new RequestError(decoded.error));
        }
        return;
      }
      case 'pong':
        this.#onPong(decoded.id, decoded.timestamp);
        return;
      case 'resync':
        if (decoded.truncated) this.#onSnapshot(decoded.snapshot, true, decoded.raw);
        for (const event of decoded.events) this.#handle(event);
        if (decoded.truncated && decoded.events.length === 0 && decoded.resumeId) this.#lastEventId = decoded.resumeId;
        // An explicit resync answer is the end of the replay.
        this.#finishResync();
        return;
      case 'redirect':
        this.#emit('control', { name: decoded.name, data: decoded.data, raw: decoded.raw });
        this.#redirect(decoded.query, decoded.lastEventId);
        return;
      case 'control':
        if (decoded.name === 'heartbeat') this.#emit('heartbeat', { latency: this.#latency, transport: this.transport });
        this.#emit('control', { name: decoded.name, data: decoded.data, raw: decoded.raw });
        return;
    }
  }

  #deliver(decoded: Extract<DecodedFrame, { kind: 'event' }>): void {
    const { eventId } = decoded;
    if (eventId !== undefined) {
      if (!this.#dedup.accept(eventId)) {
        this.#emit('duplicate', { eventId });
        return;
      }
      this.#lastEventId = eventId;
    }
    if (this.#state === 'resyncing') {
      this.#replayed++;
      if (this.#transport?.kind !== 'polling') this.#armSettle();
    }
    const event: ClientEvent = {
      name: decoded.name,
      data: decoded.data,
      eventId,
      sequence: decoded.sequence,
      scope: decoded.scope,
      raw: decoded.raw,
    };
    this.#emit('event', event);
    this.#emitter.emit(`event:${decoded.name}`, [decoded.data, event], (error) => this.#handlerError(error));
  }

  #onCursor(nextEventId: string | null, caughtUp: boolean): void {
    this.#touch();
    if (nextEventId) this.#lastEventId = nextEventId;
    if (caughtUp && this.#state === 'resyncing') this.#finishResync();
  }

  #onSnapshot(snapshot: unknown, truncated: boolean, raw: unknown): void {
    if (truncated) this.#replayTruncated = true;
    this.#emit('snapshot', { snapshot, truncated, raw });
  }

  // ---- outbound ---------------------------------------------------------------------------------------------

  #write(frame: unknown): void {
    const transport = this.#transport;
    if (!transport) {
      this.#enqueue(frame);
      return;
    }
    try {
      const sent = transport.send(frame);
      if (sent instanceof Promise) sent.catch((error: unknown) => this.#onSendFailed(frame, error));
    } catch {
      // The transport is closing under us: keep the frame for the next one.
      this.#queue.unshift(frame);
      return;
    }
    this.#markSent(frame);
  }

  #markSent(frame: unknown): void {
    if (typeof frame !== 'object' || frame === null) return;
    const id = this.#requestIdByFrame.get(frame);
    const request = id === undefined ? undefined : this.#requests.get(id);
    if (request) request.sentOn = this.#generation;
  }

  #enqueue(frame: unknown): void {
    const evicted = this.#queue.push(frame);
    if (evicted === undefined) return;
    const error = new ConnectionError('QUEUE_OVERFLOW', 'Offline queue full: oldest frame dropped');
    const id = typeof evicted === 'object' && evicted !== null ? this.#requestIdByFrame.get(evicted) : undefined;
    const request = id === undefined ? undefined : this.#requests.get(id);
    if (request && id !== undefined) this.#settle(id, request, () => request.reject(error));
    else this.#emitError(error);
  }

  /** Sends what was queued while offline, oldest first. */
  #flush(): void {
    for (const frame of this.#queue.drain()) this.#write(frame);
  }

  #onSendFailed(frame: unknown, error: unknown): void {
    const id = typeof frame === 'object' && frame !== null ? this.#requestIdByFrame.get(frame) : undefined;
    const request = id === undefined ? undefined : this.#requests.get(id);
    const failure = toError(error, 'Send failed');
    if (request && id !== undefined) this.#settle(id, request, () => request.reject(failure));
    else this.#emitError(failure);
  }

  #settle(id: string, request: PendingRequest, act: () => void): void {
    clearTimeout(request.timer);
    this.#requests.delete(id);
    act();
    const on = request.sentOn;
    if (on !== null && this.#draining.has(on) && !this.#inFlightOn(on)) this.#endDrain(on);
  }

  // ---- plumbing ---------------------------------------------------------------------------------------------

  #move(input: ConnectionInput): void {
    const previous = this.#state;
    const next = transition(previous, input);
    if (next === null) return;
    this.#state = next;
    if (next !== previous) this.#emit('state', { state: next, previous });
  }

  #stopTimers(): void {
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#resyncMaxTimer);
  }

  #newId(kind: string): string {
    this.#nextId++;
    return `${kind}${this.#idPrefix}${this.#nextId}`;
  }

  #emit<K extends keyof ClientEventMap>(name: K, payload: ClientEventMap[K]): void {
    this.#emitter.emit(name, [payload], (error) => this.#handlerError(error));
  }

  #emitError(error: Error): void {
    this.#emit('error', error);
  }

  /** A throwing app handler is reported once as `error`; an `error` handler that throws is not re-reported. */
  #handlerError(error: unknown): void {
    this.#emitter.emit('error', [toError(error, 'Event handler threw')]);
  }
}

function toError(error: unknown, fallback: string): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === 'string' ? error : fallback);
}

/** `new EdgeRoomsClient(options)`. */
export function createClient(options: ClientOptions): EdgeRoomsClient {
  return new EdgeRoomsClient(options);
}
