import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { ApiError, isApiError } from '../errors';
import { type Attachment, connectRef, MAX_TOPICS, type OpenSocket, parseBatch, parseTopics, randomId } from './attachment';
import { Budgets } from './budgets';
import { parseCodec } from './codec';
import { type ConnectContext, HttpConnectionStates } from './connection';
import { httpConnection, SocketConnections, sseConnection } from './connections';
import type { ActorIdentity, BroadcastTarget, Connection, ConnectionLimits, Dialect, DialectApi } from './dialect';
import { buildRuntime, type DialectRuntime } from './dialect-runtime';
import { type EventFilter, type EventInput, EventLog } from './event-log';
import { broadcast, deliver, deliverBatch, type FanOutHost, matchingSockets, matchingStreams } from './fan-out';
import { readForwarded } from './forward';
import { dispatchFrame, rateLimitError, receiveFrame } from './frames-in';
import { type HttpHost, httpFrame, longPoll, openSse } from './http-transports';
import { IdempotencyStore } from './idempotency';
import type { RateDecision } from './limiter';
import { Meter } from './metrics';
import { normalizePoll, type PollParams, PollWaiters } from './polling';
import {
  PRESENCE_METADATA_MAX_BYTES,
  type PresencePage,
  type PresenceStatus,
  PresenceStore,
  presenceTransition,
} from './presence';
import {
  CLOSE,
  EVENT_RING_SIZE,
  type EventRef,
  type LoggedEvent,
  type PollResponse,
  REPLAY_LIMIT,
  type ResyncResult,
} from './protocol';
import { Scheduler } from './scheduler';
import { SESSION_CHECK_MS, type SessionHost, sweepSessions, TIMER_SESSION, watchSession } from './sessions';
import { SocketRegistry, safeClose } from './sockets';
import { SseHub, type SseStream } from './sse';
import { WriteBehind } from './write-behind';

export { type Attachment, connectRef, parseBatch, parseTopics } from './attachment';

/** Actor-wide settings, stored in SQLite; tests and operators set them through `configure()`. */
export interface ActorConfig {
  ringSize: number;
  replayLimit: number;
  /** Delay between a write and its flush to D1. */
  flushDelayMs: number;
  /** Overrides of every dialect's limits, and dialect-specific values (keepalive intervals, ...). */
  [key: string]: number | undefined;
}

const DEFAULT_CONFIG: ActorConfig = { ringSize: EVENT_RING_SIZE, replayLimit: REPLAY_LIMIT, flushDelayMs: 1_000 };

/** The text a client may send for a liveness check answered by the runtime without waking the actor. */
export const AUTO_PING = 'ping';
export const AUTO_PONG = 'pong';

const TIMER_IDLE = 'core:idle';
const TIMER_FLUSH = 'core:flush';

/**
 * The realtime actor core: hibernatable WebSockets of Worker-authenticated identities, per-connection limits,
 * an event log with gapless resync, SSE and long polling over the same log, presence, one multiplexed alarm,
 * and write-behind to D1. Subclasses name their dialects and own their state. This class orchestrates; the
 * socket registry and send path (`sockets.ts`), the fan-out (`fan-out.ts`), the connection objects
 * (`connections.ts`), the HTTP transports (`http-transports.ts`) and session upkeep (`sessions.ts`) do the work.
 */
export abstract class RealtimeActor extends DurableObject<Env> implements DialectApi {
  protected readonly sql: SqlStorage;
  protected readonly log: EventLog;
  protected readonly timers: Scheduler;
  protected readonly outbox: WriteBehind;
  protected readonly presence: PresenceStore;
  protected readonly sse = new SseHub();
  protected readonly waiters = new PollWaiters();
  /** Message budgets per user and dialect: every socket of a user and its HTTP-sent frames share one. */
  protected readonly budgets: Budgets;
  /** First answers to `Idempotency-Key` requests (24 h). */
  protected readonly idempotency: IdempotencyStore;
  /** Frames and bytes in and out per endpoint, rate-limit refusals: reported by actors that export metrics. */
  protected readonly meter = new Meter();
  private readonly httpStates: HttpConnectionStates;
  private settings: ActorConfig;
  /** When the session sweep last ran (in memory: after eviction the first alarm sweeps). */
  private lastSessionSweep = 0;
  /** Per dialect, what every frame in or out needs (see `DialectRuntime`). */
  private readonly perDialect = new Map<string, DialectRuntime>();
  /** The open sockets, their attachments and the send path. */
  private readonly registry: SocketRegistry;
  private readonly socketConns: SocketConnections;

  /** The wire formats this actor speaks, by name; a connection picks one at connect time. */
  protected abstract readonly dialects: Record<string, Dialect>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.log = new EventLog(this.sql);
    this.timers = new Scheduler(this.sql, ctx.storage);
    this.outbox = new WriteBehind(this.sql);
    this.presence = new PresenceStore(this.sql);
    this.budgets = new Budgets(ctx.storage, 'budget|', '_core_budgets');
    this.idempotency = new IdempotencyStore(this.sql);
    this.httpStates = new HttpConnectionStates(this.sql);
    this.registry = new SocketRegistry(
      ctx,
      this.meter,
      (d) => this.runtimeOf(d),
      (ws, att, limit) => this.closeSocket(ws, att, CLOSE.SLOW_CONSUMER, `Slow consumer: over ${limit} bytes unread`),
    );
    this.socketConns = new SocketConnections({
      save: (ws, att, now) => this.registry.save(ws, att, now),
      sendTo: (ws, att, data) => this.registry.sendTo(ws, att, data),
      close: (ws, att, code, reason) => this.closeSocket(ws, att, code, reason),
    });
    const stored = this.sql.exec<{ value: string }>("SELECT value FROM _core_meta WHERE key = 'config'").toArray()[0];
    this.settings = { ...DEFAULT_CONFIG, ...(stored ? (JSON.parse(stored.value) as Partial<ActorConfig>) : {}) };
    this.log.setRingSize(this.settings.ringSize);
    // Answered by the runtime while the actor sleeps; the idle sweep reads its timestamp.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(AUTO_PING, AUTO_PONG));
  }

  // ---- hooks for subclasses -------------------------------------------------------------------------------

  /** The actor's state for `dialect`, limited to `scopes` when given (resync snapshots, SSE/poll truncation). */
  protected abstract snapshotFor(dialect: string, scopes?: string[]): unknown;

  /** Applies a just-logged event to the actor's state. Runs inside the append's transaction. */
  protected applyEvent(_event: LoggedEvent): void {}

  /**
   * Applies one published batch, in log order, inside the append's transaction. By default one `applyEvent` per
   * event; an actor whose state is costly to copy or save overrides it to do that once per batch.
   */
  protected applyEvents(events: readonly LoggedEvent[]): void {
    for (const event of events) this.applyEvent(event);
  }

  /**
   * A WebSocket or SSE stream was accepted, with the request it came with (query, whitelisted headers). Runs
   * before the dialect's own `onConnect` and its `connected` frame, in the accept's turn: set the connection's
   * initial state here. Throwing refuses the connection (the Worker answers with the error, no 101).
   */
  protected onConnect(_conn: Connection, _ctx: ConnectContext): void {}

  /**
   * Runs before a WebSocket or SSE stream is accepted and before a long poll is answered, outside the accept's
   * synchronous turn: load here what `connected`, `snapshotFor` and the first frames need (the Race reads its race
   * from D1 on first use). Throwing refuses the request.
   */
  protected beforeConnect(): void | Promise<void> {}

  /** A dialect timer came due. */
  protected onTimer(_name: string, _now: number): void | Promise<void> {}

  // ---- RPC: administration ---------------------------------------------------------------------------------

  /** Changes actor-wide settings (ring size, limits, intervals); the Worker never exposes this to clients. */
  configure(patch: Partial<ActorConfig>): ActorConfig {
    this.settings = { ...this.settings, ...patch };
    this.perDialect.clear();
    this.sql.exec(
      "INSERT INTO _core_meta (key, value) VALUES ('config', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(this.settings),
    );
    this.log.setRingSize(this.settings.ringSize);
    return this.settings;
  }

  /** Connection count and list for admins, with the paginated presence list. */
  clients(options: { limit?: number; cursor?: string } = {}): {
    count: number;
    connections: Array<{
      connectionId: string;
      userId: string;
      username: string;
      role: string;
      dialect: string;
      connectedAt: string;
      lastSeen: string;
    }>;
    sse: number;
    presence: PresencePage;
  } {
    const connections = this.openSockets().map(({ att }) => ({
      connectionId: att.id,
      userId: att.identity.userId,
      username: att.identity.username,
      role: att.identity.role,
      dialect: att.dialect,
      connectedAt: new Date(att.connectedAt).toISOString(),
      lastSeen: new Date(att.lastSeen).toISOString(),
    }));
    return {
      count: connections.length,
      connections,
      sse: this.sse.size,
      presence: this.presenceList(options.limit, options.cursor),
    };
  }

  // ---- RPC: polling and HTTP-sent frames ------------------------------------------------------------------

  /** Long polling over the log: events after the reference as the dialect's frames, waiting up to `wait` s. */
  async poll(identity: ActorIdentity, dialectName: string, input: Partial<PollParams>): Promise<PollResponse> {
    this.assertTenant(identity);
    const dialect = this.dialectOf(dialectName);
    await this.beforeConnect();
    return longPoll(this.httpHost(), identity, dialect, normalizePoll(input));
  }

  /**
   * One client frame sent over HTTP (SSE and polling clients), handled exactly like a WebSocket frame of that
   * identity; the answer is every frame the server sent back to that sender.
   */
  async sendFrame(
    identity: ActorIdentity,
    dialectName: string,
    body: string,
    idempotencyKey?: string,
  ): Promise<{ tooLarge: boolean; frames: unknown[] }> {
    this.assertTenant(identity);
    return httpFrame(this.httpHost(), identity, this.dialectOf(dialectName), body, idempotencyKey);
  }

  /**
   * One frame against the sender's budget in this actor: per user and dialect, shared by all their sockets and
   * HTTP-sent frames, so neither a reconnect nor a switch of transport hands out a fresh one.
   */
  private spendMessage(userId: string, dialectName: string, now: number): RateDecision {
    return this.budgets.spend(messageKey(dialectName, userId), this.runtimeOf(dialectName).messageRule, now);
  }

  // ---- fetch: WebSocket upgrades and SSE streams, forwarded by the Worker ----------------------------------

  override async fetch(request: Request): Promise<Response> {
    const forwarded = readForwarded(request);
    if (!forwarded) return new Response('Forbidden', { status: 403 });
    this.assertTenant(forwarded.identity);
    const dialect = this.dialects[forwarded.dialect];
    if (!dialect) return new Response('Unknown dialect', { status: 400 });
    try {
      await this.beforeConnect();
      if (request.headers.get('upgrade')?.toLowerCase() === 'websocket')
        return this.acceptSocket(request, forwarded.identity, dialect);
      return openSse(this.httpHost(), request, forwarded.identity, dialect);
    } catch (err) {
      // A connect hook refused the connection: its error in the one REST body, which the Worker passes on.
      if (isApiError(err)) return Response.json(err.toBody(), { status: err.status, headers: err.headers });
      throw err;
    }
  }

  private acceptSocket(request: Request, identity: ActorIdentity, dialect: Dialect): Response {
    const url = new URL(request.url);
    const batch = parseBatch(url.searchParams.get('batch'));
    const now = Date.now();
    const att: Attachment = {
      v: 1,
      id: randomId('conn'),
      identity,
      dialect: dialect.name,
      codec: parseCodec(url.searchParams.get('codec')),
      topics: parseTopics(url.searchParams.get('topics')),
      connectedAt: now,
      lastSeen: now,
      strikes: 0,
      ...(batch ? { batch } : {}),
    };
    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    // Tags let broadcasts to a user or a dialect ask the runtime for exactly those sockets.
    this.ctx.acceptWebSocket(server, [`u:${identity.userId}`.slice(0, 256), `d:${dialect.name}`]);
    this.registry.save(server, att, now);
    this.registry.accepted(server, att);
    const conn = this.socketConnection(server, att);
    try {
      this.runConnectHooks(dialect, conn, { request, url });
    } catch (err) {
      // Refused: the socket never reaches the client, and nothing joined.
      this.registry.closing.add(att.id);
      this.registry.forget(server);
      safeClose(server, CLOSE.POLICY_VIOLATION, 'Connection refused');
      throw err;
    }

    // Welcome and replay are sent in this same synchronous turn as the accept: no event can fall between them.
    conn.send(dialect.connected(this, conn));
    const ref = connectRef(url);
    if (ref) conn.send(dialect.resyncFrame(this, conn, this.resync(conn, ref)));
    this.joined(att, now);
    // The user's first frame then finds its budget written and committed: its answer does not wait for a commit.
    this.budgets.prepare(messageKey(dialect.name, identity.userId), this.runtimeOf(dialect.name).messageRule, now);
    void this.timers.scheduleNoLaterThan(TIMER_IDLE, now + this.limitsFor(dialect.name).idleTimeoutMs);
    this.watchSession(identity, now);
    return new Response(null, { status: 101, webSocket: client });
  }

  private runConnectHooks(dialect: Dialect, conn: Connection, ctx: ConnectContext): void {
    this.onConnect(conn, ctx);
    dialect.onConnect?.(this, conn, ctx);
  }

  // ---- hibernation handlers --------------------------------------------------------------------------------

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await receiveFrame(
      {
        api: this,
        meter: this.meter,
        session: this.sessionHost(),
        runtimeOf: (d) => this.runtimeOf(d),
        spendMessage: (userId, d, now) => this.spendMessage(userId, d, now),
      },
      ws,
      message,
    );
  }

  override async webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): Promise<void> {
    // Completes the closing handshake where the runtime does not reply to a close by itself.
    safeClose(ws, code >= 1000 && code < 1004 ? code : CLOSE.NORMAL, 'Closed');
    this.registry.forget(ws);
    const att = this.registry.attachmentOf(ws);
    if (!att) return;
    if (this.registry.closing.delete(att.id)) return; // cleaned up when the server closed it
    this.left(ws, att, code);
  }

  override async webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    const att = this.registry.attachmentOf(ws);
    if (att) this.closeSocket(ws, att, CLOSE.INTERNAL_ERROR, 'Connection error');
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const due = this.timers.takeDue(now);
    // Core jobs run on every alarm, each a no-op when there is nothing to do. The session sweep reads D1, so it
    // runs when its timer is due or a check interval has passed since the last one: an actor whose own timers tick
    // at 20 Hz would otherwise query D1 (and rewrite the timer) on every tick.
    this.sweepIdle(now);
    const check = this.settings.sessionCheckMs ?? SESSION_CHECK_MS;
    if (due.includes(TIMER_SESSION) || now - this.lastSessionSweep >= check) {
      this.lastSessionSweep = now;
      await sweepSessions(this.sessionHost(), now);
    }
    await this.flushOutbox(now);
    for (const name of due) {
      if (name.startsWith('core:')) continue;
      try {
        await this.onTimer(name, now);
      } catch (err) {
        console.error(`timer ${name} failed`, err);
      }
    }
    await this.timers.sync(true);
  }

  // ---- DialectApi ------------------------------------------------------------------------------------------

  now(): number {
    return Date.now();
  }

  publish(inputs: EventInput[], options: { exclude?: string; deliver?: boolean } = {}): LoggedEvent[] {
    if (inputs.length === 0) return [];
    const now = Date.now();
    const events = this.ctx.storage.transactionSync(() => {
      const appended = inputs.map((input) => this.log.append(input, now));
      this.applyEvents(appended);
      return appended;
    });
    if (this.outbox.pending() > 0) void this.timers.scheduleNoLaterThan(TIMER_FLUSH, now + this.settings.flushDelayMs);
    // A burst goes out in one pass over one socket list, in log order: one frame per event, or one frame for the
    // whole burst on the sockets that opted in to batches. `deliver: false` leaves the live fan-out to the caller
    // (the Chunk's movement tick); polls and resync read the log either way.
    if (options.deliver !== false) {
      const single: OpenSocket[] = [];
      const batched: OpenSocket[] = [];
      for (const s of this.openSockets()) (s.att.batch ? batched : single).push(s);
      const host = this.fanOutHost();
      for (const event of events) deliver(host, event, single, options.exclude);
      if (batched.length) deliverBatch(host, events, batched, options.exclude);
    }
    this.waiters.wake();
    return events;
  }

  resync(
    conn: Pick<Connection, 'dialect' | 'topics'>,
    ref: EventRef,
    options: { scopes?: string[]; filter?: EventFilter } = {},
  ): ResyncResult {
    const filter = options.filter ?? (conn.topics.length ? { scopes: [...conn.topics] } : {});
    return this.log.resync(ref, () => this.snapshotFor(conn.dialect, options.scopes), this.settings.replayLimit, filter);
  }

  snapshot(dialect: string, scopes?: string[]): unknown {
    return this.snapshotFor(dialect, scopes);
  }

  broadcast(build: (conn: Connection) => unknown | null, target: BroadcastTarget = {}): number {
    return broadcast({ ...this.fanOutHost(), sockets: this.registry }, build, target);
  }

  getConnections(target: BroadcastTarget = {}): Connection[] {
    return [
      ...matchingSockets(this.registry, target).map(({ ws, att }) => this.socketConnection(ws, att)),
      ...matchingStreams(this.sse, target).map((stream) => this.sseConnection(stream)),
    ];
  }

  getConnection(id: string): Connection | null {
    const stream = this.sse.get(id);
    if (stream) return this.sseConnection(stream);
    const found = this.openSockets().find(({ att }) => att.id === id);
    return found ? this.socketConnection(found.ws, found.att) : null;
  }

  /** The open sockets of one user as Connections, for a subclass acting on them outside a frame (e.g. an RPC). */
  protected connectionsOf(userId: string): Connection[] {
    return matchingSockets(this.registry, { userId }).map(({ ws, att }) => this.socketConnection(ws, att));
  }

  clientCount(dialect?: string): number {
    return this.openSockets(dialect === undefined ? undefined : `d:${dialect}`).length;
  }

  latestEventId(): string {
    return this.log.latestEventId;
  }

  latestSequence(): number {
    return this.log.latestSequence;
  }

  epoch(): string {
    return this.log.epoch;
  }

  presenceList(limit = 50, cursor?: string): PresencePage {
    const live = new Map<string, number>();
    for (const { att } of this.openSockets()) live.set(att.identity.userId, (live.get(att.identity.userId) ?? 0) + 1);
    return this.presence.list(live, limit, cursor);
  }

  setPresence(conn: Connection, patch: { status?: PresenceStatus; metadata?: Record<string, unknown> }): void {
    if (patch.metadata && JSON.stringify(patch.metadata).length > PRESENCE_METADATA_MAX_BYTES) {
      throw new ApiError('INVALID_REQUEST', `Presence metadata is larger than ${PRESENCE_METADATA_MAX_BYTES} bytes`);
    }
    const entry = this.presence.update(conn.identity.userId, patch, Date.now());
    const dialect = this.dialects[conn.dialect];
    if (entry && dialect?.onPresence) dialect.onPresence(this, { kind: 'update', entry });
  }

  subscribe(conn: Connection, topics: string[]): void {
    this.updateTopics(conn, (current) => [...new Set([...current, ...parseTopics(topics.join(','))])].slice(0, MAX_TOPICS));
  }

  unsubscribe(conn: Connection, topics: string[]): void {
    this.updateTopics(conn, (current) => current.filter((t) => !topics.includes(t)));
  }

  schedule(name: string, at: number): Promise<void> {
    return this.timers.schedule(name, at);
  }

  cancel(name: string): Promise<void> {
    return this.timers.cancel(name);
  }

  config(key: string): number | undefined {
    return this.settings[key];
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** Limits of a dialect with the actor's overrides applied. */
  protected limitsFor(dialect: string): Readonly<ConnectionLimits> {
    return this.runtimeOf(dialect).limits;
  }

  private runtimeOf(dialect: string): DialectRuntime {
    let rt = this.perDialect.get(dialect);
    if (rt) return rt;
    rt = buildRuntime(dialect, this.dialects[dialect], this.settings, this.meter);
    this.perDialect.set(dialect, rt);
    return rt;
  }

  private dialectOf(name: string): Dialect {
    const dialect = this.dialects[name];
    if (!dialect) throw new Error(`Unknown dialect ${name}`);
    return dialect;
  }

  /** The tenant is the first part of the actor's name (`<tenantId>:...`): no identity of another tenant gets in. */
  private assertTenant(identity: ActorIdentity): void {
    const name = this.ctx.id.name;
    if (name !== undefined && !name.startsWith(`${identity.tenantId}:`)) {
      throw new Error('Tenant mismatch');
    }
  }

  private socketConnection(ws: WebSocket, att: Attachment): Connection {
    return this.socketConns.of(ws, att);
  }

  private sseConnection(stream: SseStream): Connection {
    return sseConnection(stream, this.dialects[stream.dialect]);
  }

  private fanOutHost(): FanOutHost {
    return {
      dialects: this.dialects,
      sse: this.sse,
      socketConnection: (ws, att) => this.socketConnection(ws, att),
      sseConnection: (stream) => this.sseConnection(stream),
      sendTo: (ws, att, data, bytes) => this.registry.sendTo(ws, att, data, bytes),
    };
  }

  private httpHost(): HttpHost {
    return {
      api: this,
      log: this.log,
      waiters: this.waiters,
      sse: this.sse,
      idempotency: this.idempotency,
      ringSize: this.settings.ringSize,
      snapshotFor: (dialect) => this.snapshotFor(dialect),
      httpConnection: (identity, dialect, sink) => httpConnection(this.httpStates, identity, dialect, sink),
      sseConnection: (stream) => this.sseConnection(stream),
      maxMessageBytes: (dialect) => this.limitsFor(dialect).maxMessageBytes,
      spendMessage: (userId, dialect, now) => this.spendMessage(userId, dialect, now),
      rateLimitError: (decision, dialect) => rateLimitError(decision.retryAfterMs, this.limitsFor(dialect).messagesPerMinute),
      dispatch: (dialect, conn, message) => dispatchFrame(this, dialect, conn, message),
      runConnectHooks: (dialect, conn, ctx) => this.runConnectHooks(dialect, conn, ctx),
      watchSession: (identity, now) => this.watchSession(identity, now),
    };
  }

  private sessionHost(): SessionHost {
    return {
      env: this.env,
      sockets: this.registry,
      sse: this.sse,
      timers: this.timers,
      dialects: this.dialects,
      sessionCheckMs: this.settings.sessionCheckMs,
      socketConnection: (ws, att) => this.socketConnection(ws, att),
      closeSocket: (ws, att, code, reason) => this.closeSocket(ws, att, code, reason),
    };
  }

  private watchSession(identity: ActorIdentity, now: number): void {
    watchSession(this.sessionHost(), identity, now);
  }

  private openSockets(tag?: string): OpenSocket[] {
    return this.registry.open(tag);
  }

  private otherConnectionsOf(userId: string, exceptId: string): number {
    return this.openSockets(`u:${userId}`).filter(({ att }) => att.id !== exceptId).length;
  }

  private joined(att: Attachment, now: number): void {
    if (presenceTransition('connect', this.otherConnectionsOf(att.identity.userId, att.id)) !== 'join') return;
    const entry = this.presence.join(att.identity.userId, att.identity.username, now);
    this.dialects[att.dialect]?.onPresence?.(this, { kind: 'join', entry });
  }

  private left(ws: WebSocket, att: Attachment, code: number): void {
    const dialect = this.dialects[att.dialect];
    dialect?.onClose?.(this, this.socketConnection(ws, att), code);
    if (presenceTransition('disconnect', this.otherConnectionsOf(att.identity.userId, att.id)) === 'leave') {
      const entry = this.presence.leave(att.identity.userId, Date.now());
      if (entry) dialect?.onPresence?.(this, { kind: 'leave', entry });
    }
  }

  /** Closes a socket from the server side and runs the same cleanup as a client close, once. */
  private closeSocket(ws: WebSocket, att: Attachment, code: number, reason: string): void {
    if (this.registry.closing.has(att.id)) return;
    this.registry.closing.add(att.id);
    this.registry.forget(ws);
    safeClose(ws, code, reason);
    this.left(ws, att, code);
  }

  private sweepIdle(now: number): void {
    let next: number | null = null;
    for (const { ws, att } of this.openSockets()) {
      const idle = this.limitsFor(att.dialect).idleTimeoutMs;
      const auto = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const deadline = Math.max(att.lastSeen, auto) + idle;
      if (deadline <= now) this.closeSocket(ws, att, CLOSE.NORMAL, 'Idle timeout');
      else next = next === null ? deadline : Math.min(next, deadline);
    }
    // An earlier timer still set fires, sweeps and moves it: no write on every alarm of a busy actor.
    if (next !== null) void this.timers.scheduleNoLaterThan(TIMER_IDLE, next);
  }

  private async flushOutbox(now: number): Promise<void> {
    if (this.outbox.pending() === 0) return;
    try {
      const { remaining } = await this.outbox.flush(this.env.DB);
      if (remaining > 0) await this.timers.schedule(TIMER_FLUSH, now);
    } catch (err) {
      console.error('write-behind flush failed; retrying', err);
      await this.timers.schedule(TIMER_FLUSH, now + Math.max(5_000, this.settings.flushDelayMs));
    }
  }

  private updateTopics(conn: Connection, change: (current: string[]) => string[]): void {
    for (const { ws, att } of this.openSockets()) {
      if (att.id !== conn.id) continue;
      att.topics = change(att.topics);
      this.registry.save(ws, att, Date.now());
    }
  }
}

/** A user's message budget in one dialect: every socket of the user and its HTTP-sent frames share it. */
const messageKey = (dialectName: string, userId: string): string => `msg|${dialectName}|${userId}`;
