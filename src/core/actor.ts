import { DurableObject } from 'cloudflare:workers';
import { verifyAccessToken } from '../auth/tokens';
import { revokedAmong } from '../db/revocations';
import type { Env } from '../env';
import { ApiError, isApiError } from '../errors';
import { Budgets } from './budgets';
import { decodeFrame, encodeFrame, exceedsBytes, parseCodec } from './codec';
import { type ConnectContext, HttpConnectionStates, resolveState, type StateUpdate } from './connection';
import {
  type ActorIdentity,
  type BroadcastTarget,
  type Connection,
  type ConnectionLimits,
  DEFAULT_LIMITS,
  type Dialect,
  type DialectApi,
  type FrameError,
} from './dialect';
import { type EventFilter, type EventInput, EventLog } from './event-log';
import { readForwarded } from './forward';
import { IdempotencyStore, idempotencyScope } from './idempotency';
import type { RateRule } from './limiter';
import { type FrameCounters, frameBytes, frameCounters, Meter } from './metrics';
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
  type Codec,
  EVENT_RING_SIZE,
  type EventRef,
  type LoggedEvent,
  type PollResponse,
  REPLAY_LIMIT,
  type ResyncResult,
} from './protocol';
import { Scheduler } from './scheduler';
import { formatSse, parseTypes, SSE_RETRY_MS, SseHub, type SseStream, sseResumeId } from './sse';
import { WriteBehind } from './write-behind';

/**
 * What each WebSocket carries through hibernation: under 1 KiB without `state` (identity, topics, limiter), and
 * `state` is bounded by `CONNECTION_STATE_MAX_BYTES`, so it stays well under the runtime's 16 KiB limit.
 */
export interface Attachment {
  v: 1;
  id: string;
  identity: ActorIdentity;
  dialect: string;
  codec: Codec;
  topics: string[];
  connectedAt: number;
  lastSeen: number;
  /** Consecutive refused frames. */
  strikes: number;
  /** `?batch=1`: the logged events of one publish arrive as one frame, an array of the dialect's event frames. */
  batch?: true;
  /** The connection state of the dialect or actor (`Connection.state`). */
  state?: unknown;
}

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

const MAX_TOPICS = 32;
const MAX_TOPIC_LENGTH = 64;
/** The text a client may send for a liveness check answered by the runtime without waking the actor. */
export const AUTO_PING = 'ping';
export const AUTO_PONG = 'pong';

const TIMER_IDLE = 'core:idle';
/** Ends connections whose token expired or whose session was revoked. */
const TIMER_SESSION = 'core:session';
/** How often an actor with open sessions asks D1 whether any was revoked: the most a logout takes to bite. */
const SESSION_CHECK_MS = 5_000;
/** The in-band re-authentication frame every dialect accepts on an open socket: `{"type":"auth","token":"<jwt>"}`. */
const AUTH_FRAME_TYPE = 'auth';
/** Longest a connection's per-frame bookkeeping (lastSeen, limiter state) stays only in memory. */
const ATTACHMENT_PERSIST_MS = 5_000;
const TIMER_FLUSH = 'core:flush';

const randomId = (prefix: string): string => `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`;

/**
 * The realtime actor core: hibernatable WebSockets of Worker-authenticated identities, per-connection limits,
 * an event log with gapless resync, SSE and long polling over the same log, presence, one multiplexed alarm,
 * and write-behind to D1. Subclasses name their dialects and own their state.
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
  /** Sockets this instance closed itself; the runtime may still list them until the close completes. */
  private readonly closing = new Set<string>();
  /**
   * Attachments as this instance knows them. The serialized copy is the truth across hibernation; this cache
   * spares the hot paths (every frame in, every event out to every socket) a structured-clone read each time.
   */
  private readonly attachments = new WeakMap<WebSocket, Attachment>();
  /** When each socket's attachment was last written, to persist per-frame bookkeeping lazily. */
  private readonly persistedAt = new WeakMap<WebSocket, number>();
  /**
   * Bytes sent to each socket since it last spoke (a frame, or a `ping` the runtime answered), and since when.
   * workerd buffers what a peer does not read without bound and exposes no `bufferedAmount` on the server side,
   * so this count is the only measure of a backlog the actor has.
   */
  private readonly unread = new WeakMap<WebSocket, { bytes: number; since: number }>();
  /**
   * Per dialect, what every frame in or out needs: its limits with the actor's overrides, its message budget rule
   * and its frame counters. Built once (and again after `configure`), not per frame.
   */
  private readonly perDialect = new Map<string, DialectRuntime>();
  /**
   * The sockets this instance accepted or found open, with their attachments: a fan-out walks this instead of
   * asking the runtime for every socket (and each one's attachment) on every publish. Null until first needed after
   * a wake-up, then built once from `getWebSockets()`; sockets leave it when they close.
   */
  private live: Map<WebSocket, { ws: WebSocket; att: Attachment }> | null = null;
  /** Each socket's `Connection`, built once per attachment rather than per frame and per event. */
  private readonly connections = new WeakMap<WebSocket, { att: Attachment; conn: Connection }>();

  /** The wire formats this actor speaks, by name; a connection picks one at connect time. */
  protected abstract readonly dialects: Record<string, Dialect>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.log = new EventLog(this.sql);
    this.timers = new Scheduler(this.sql, ctx.storage);
    this.outbox = new WriteBehind(this.sql);
    this.presence = new PresenceStore(this.sql);
    this.budgets = new Budgets(this.sql);
    this.idempotency = new IdempotencyStore(this.sql);
    this.httpStates = new HttpConnectionStates(this.sql);
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
    const params = normalizePoll(input);
    const conn = this.httpConnection(identity, dialectName, () => {});
    let answer = this.pollOnce(dialect, conn, params);
    // Only an empty page waits: a snapshot answer (first poll, or a reference that cannot be honoured) is
    // what the client needs before anything else, and holding it could only replace it with a later page.
    if (answer.events.length === 0 && answer.snapshot === undefined && params.wait > 0 && answer.nextEventId !== null) {
      const deadline = Date.now() + params.wait * 1000;
      while (answer.events.length === 0 && Date.now() < deadline) {
        await this.waiters.wait(deadline - Date.now());
        answer = this.pollOnce(dialect, conn, {
          ...params,
          lastEventId: answer.nextEventId ?? undefined,
          lastSequence: undefined,
        });
      }
    }
    return answer;
  }

  private pollOnce(dialect: Dialect, conn: Connection, params: PollParams): PollResponse {
    const filter: EventFilter = { types: params.types };
    const at = this.log.locate({ lastEventId: params.lastEventId, lastSequence: params.lastSequence });
    if (at.kind !== 'ok') {
      // No reference: the current state and where to continue from. A bad reference: the same, flagged.
      return {
        events: [],
        hasMore: false,
        nextEventId: this.log.latestEventId,
        snapshot: this.snapshotFor(dialect.name),
        ...(at.kind === 'none' ? {} : { truncated: true }),
      };
    }
    const read = this.log.read(at.after, params.limit + 1, filter);
    const hasMore = read.length > params.limit;
    const page = read.slice(0, params.limit);
    // Past a filtered-out stretch the cursor still moves to the newest event looked at.
    const last = page[page.length - 1];
    const nextEventId = last ? last.eventId : hasMore ? null : this.log.latestEventId;
    const events = page.map((e) => dialect.renderEvent(e, conn)).filter((f) => f !== null);
    return { events, hasMore, nextEventId: nextEventId ?? this.log.latestEventId };
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
    // A retried frame (same `Idempotency-Key`) answers what the first one did and is not handled again.
    const idemKey = idempotencyKey ? idempotencyScope(identity.userId, `frame|${dialectName}|${idempotencyKey}`) : null;
    const prior = idemKey ? this.idempotency.recall<{ tooLarge: boolean; frames: unknown[] }>(idemKey) : undefined;
    if (prior) return prior;
    const dialect = this.dialectOf(dialectName);
    const limits = this.limitsFor(dialectName);
    if (exceedsBytes(body, limits.maxMessageBytes)) return { tooLarge: true, frames: [] };
    const frames: unknown[] = [];
    const conn = this.httpConnection(identity, dialectName, (f) => frames.push(f));
    const decision = this.spendMessage(identity.userId, dialectName, Date.now());
    if (!decision.allowed) {
      conn.send(dialect.renderError(rateLimitError(decision.retryAfterMs, limits.messagesPerMinute)));
      return { tooLarge: false, frames };
    }
    await this.dispatch(dialect, conn, body);
    if (idemKey) this.idempotency.remember(idemKey, { tooLarge: false, frames });
    return { tooLarge: false, frames };
  }

  /**
   * One frame against the sender's budget in this actor: per user and dialect, shared by all their sockets and
   * HTTP-sent frames, so neither a reconnect nor a switch of transport hands out a fresh one.
   */
  private spendMessage(userId: string, dialectName: string, now: number) {
    return this.budgets.spend(`msg|${dialectName}|${userId}`, this.runtimeOf(dialectName).messageRule, now);
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
      return this.openSse(request, forwarded.identity, dialect);
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
    this.saveAttachment(server, att, now);
    this.live?.set(server, { ws: server, att });
    const conn = this.socketConnection(server, att);
    try {
      this.runConnectHooks(dialect, conn, { request, url });
    } catch (err) {
      // Refused: the socket never reaches the client, and nothing joined.
      this.closing.add(att.id);
      this.live?.delete(server);
      safeClose(server, CLOSE.POLICY_VIOLATION, 'Connection refused');
      throw err;
    }

    // Welcome and replay are sent in this same synchronous turn as the accept: no event can fall between them.
    conn.send(dialect.connected(this, conn));
    const ref = connectRef(url);
    if (ref) conn.send(dialect.resyncFrame(this, conn, this.resync(conn, ref)));
    this.joined(att, now);
    void this.timers.scheduleNoLaterThan(TIMER_IDLE, now + this.limitsFor(dialect.name).idleTimeoutMs);
    this.watchSession(identity, now);
    return new Response(null, { status: 101, webSocket: client });
  }

  private openSse(request: Request, identity: ActorIdentity, dialect: Dialect): Response {
    const url = new URL(request.url);
    const types = parseTypes(url.searchParams.get('types'));
    const stream = this.sse.prepare({ id: randomId('sse'), identity, dialect: dialect.name, types });
    const conn = this.sseConnection(stream);
    try {
      this.runConnectHooks(dialect, conn, { request, url });
    } catch (err) {
      this.sse.discard(stream.id);
      throw err;
    }
    const parts = [formatSse({ retry: SSE_RETRY_MS, event: 'connected', data: dialect.connected(this, conn) })];
    const resumeId = sseResumeId(request);
    const lastSequence = url.searchParams.get('lastSequence');
    const ref: EventRef | null = resumeId
      ? { lastEventId: resumeId }
      : lastSequence !== null
        ? { lastSequence: Number(lastSequence) }
        : null;
    if (ref) {
      // A stream can carry the whole ring, so the replay limit is the ring, not the one-frame limit.
      const result = this.log.resync(ref, () => this.snapshotFor(dialect.name), this.settings.ringSize, { types });
      if (result.truncated) {
        const frame = dialect.resyncFrame(this, conn, result);
        parts.push(formatSse({ id: this.log.latestEventId, event: dialect.frameName(frame), data: frame }));
      } else {
        for (const e of result.events) {
          const frame = dialect.renderEvent(e, conn);
          if (frame !== null) parts.push(formatSse({ id: e.eventId, event: e.type, data: frame }));
        }
      }
    }
    this.watchSession(identity, Date.now());
    return this.sse.open(stream, parts.join(''));
  }

  private runConnectHooks(dialect: Dialect, conn: Connection, ctx: ConnectContext): void {
    this.onConnect(conn, ctx);
    dialect.onConnect?.(this, conn, ctx);
  }

  // ---- hibernation handlers --------------------------------------------------------------------------------

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = this.attachmentOf(ws);
    if (!att) {
      safeClose(ws, CLOSE.INTERNAL_ERROR, 'Unknown connection');
      return;
    }
    const dialect = this.dialects[att.dialect];
    if (!dialect) {
      safeClose(ws, CLOSE.INTERNAL_ERROR, 'Unknown dialect');
      return;
    }
    this.unread.delete(ws);
    const rt = this.runtimeOf(att.dialect);
    const limits = rt.limits;
    rt.framesIn.messages.value += 1;
    rt.framesIn.bytes.value += frameBytes(message);
    this.meter.dirty = true;
    if (exceedsBytes(message, limits.maxMessageBytes)) {
      this.closeSocket(ws, att, CLOSE.MESSAGE_TOO_BIG, `Message larger than ${limits.maxMessageBytes} bytes`);
      return;
    }
    const now = Date.now();
    // A frame never extends a session: past `exp` the connection ends, whatever it sends.
    if (att.identity.exp !== undefined && att.identity.exp * 1000 <= now) {
      this.closeSocket(ws, att, CLOSE.TOKEN_EXPIRED, 'Access token expired');
      return;
    }
    if (typeof message === 'string' && message.includes(`"${AUTH_FRAME_TYPE}"`) && (await this.reauthenticate(ws, att, message)))
      return;
    const decision = this.spendMessage(att.identity.userId, att.dialect, now);
    att.lastSeen = now;
    // A binary frame means the client speaks MessagePack: answer it the same way from now on.
    const switched = typeof message !== 'string' && att.codec !== 'msgpack';
    if (switched) att.codec = 'msgpack';
    if (!decision.allowed) {
      this.meter.inc('edgerooms_rate_limited_total', { limit: 'ws_messages' });
      att.strikes += 1;
      this.saveAttachment(ws, att, now);
      if (att.strikes >= limits.rateLimitStrikes) {
        this.closeSocket(ws, att, CLOSE.POLICY_VIOLATION, 'Rate limit exceeded');
        return;
      }
      this.socketConnection(ws, att).send(dialect.renderError(rateLimitError(decision.retryAfterMs, limits.messagesPerMinute)));
      return;
    }
    const struck = att.strikes !== 0;
    att.strikes = 0;
    // lastSeen and the limiter state change on every frame; writing them at most every few seconds keeps the
    // idle sweep and the limit right across hibernation (which needs seconds of silence) at a fraction of the cost.
    if (switched || struck || now - (this.persistedAt.get(ws) ?? 0) >= ATTACHMENT_PERSIST_MS) this.saveAttachment(ws, att, now);
    await this.dispatch(dialect, this.socketConnection(ws, att), message);
  }

  override async webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): Promise<void> {
    // Completes the closing handshake where the runtime does not reply to a close by itself.
    safeClose(ws, code >= 1000 && code < 1004 ? code : CLOSE.NORMAL, 'Closed');
    this.live?.delete(ws);
    const att = this.attachmentOf(ws);
    if (!att) return;
    if (this.closing.delete(att.id)) return; // cleaned up when the server closed it
    this.left(ws, att, code);
  }

  override async webSocketError(ws: WebSocket, _error: unknown): Promise<void> {
    const att = this.attachmentOf(ws);
    if (att) this.closeSocket(ws, att, CLOSE.INTERNAL_ERROR, 'Connection error');
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const due = this.timers.takeDue(now);
    // Core jobs run on every alarm: each is a no-op when there is nothing to do.
    this.sweepIdle(now);
    await this.sweepSessions(now);
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
      const single: Array<{ ws: WebSocket; att: Attachment }> = [];
      const batched: Array<{ ws: WebSocket; att: Attachment }> = [];
      for (const s of this.openSockets()) (s.att.batch ? batched : single).push(s);
      for (const event of events) this.deliver(event, single, options.exclude);
      if (batched.length) this.deliverBatch(events, batched, options.exclude);
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
    let sent = 0;
    for (const { ws, att } of this.matchingSockets(target)) {
      const frame = build(this.socketConnection(ws, att));
      if (frame === null || frame === undefined) continue;
      const data = encodeFrame(att.codec, frame);
      if (!this.sendTo(ws, att, data)) continue;
      sent += 1;
    }
    for (const stream of this.matchingStreams(target)) {
      const dialect = this.dialects[stream.dialect];
      if (!dialect) continue;
      const frame = build(this.sseConnection(stream));
      if (frame === null || frame === undefined) continue;
      const event = dialect.frameName(frame);
      if (stream.types.size && !stream.types.has(event)) continue;
      if (stream.write(formatSse({ event, data: frame }))) sent += 1;
    }
    return sent;
  }

  getConnections(target: BroadcastTarget = {}): Connection[] {
    return [
      ...this.matchingSockets(target).map(({ ws, att }) => this.socketConnection(ws, att)),
      ...this.matchingStreams(target).map((stream) => this.sseConnection(stream)),
    ];
  }

  getConnection(id: string): Connection | null {
    const stream = this.sse.get(id);
    if (stream) return this.sseConnection(stream);
    const found = this.openSockets().find(({ att }) => att.id === id);
    return found ? this.socketConnection(found.ws, found.att) : null;
  }

  /** Open sockets matching a target; a user or dialect is asked of the runtime by tag. */
  private matchingSockets(target: BroadcastTarget): Array<{ ws: WebSocket; att: Attachment }> {
    const tag =
      target.userId !== undefined
        ? `u:${target.userId}`.slice(0, 256)
        : target.dialect !== undefined
          ? `d:${target.dialect}`
          : undefined;
    return this.openSockets(tag).filter(
      ({ att }) =>
        att.id !== target.exclude &&
        (target.dialect === undefined || att.dialect === target.dialect) &&
        (target.userId === undefined || att.identity.userId === target.userId) &&
        (target.topic === undefined || att.topics.includes(target.topic)),
    );
  }

  /** Open SSE streams matching a target (a stream has no topics: a topic target never reaches one). */
  private matchingStreams(target: BroadcastTarget): SseStream[] {
    if (target.topic !== undefined) return [];
    return [...this.sse.all()].filter(
      (s) =>
        s.id !== target.exclude &&
        (target.dialect === undefined || s.dialect === target.dialect) &&
        (target.userId === undefined || s.identity.userId === target.userId),
    );
  }

  /** The open sockets of one user as Connections, for a subclass acting on them outside a frame (e.g. an RPC). */
  protected connectionsOf(userId: string): Connection[] {
    return this.matchingSockets({ userId }).map(({ ws, att }) => this.socketConnection(ws, att));
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
    const limits = { ...DEFAULT_LIMITS, ...this.dialects[dialect]?.limits };
    for (const key of Object.keys(limits) as Array<keyof ConnectionLimits>) {
      const override = this.settings[key];
      if (typeof override === 'number') limits[key] = override;
    }
    rt = {
      limits: Object.freeze(limits),
      messageRule: { limit: limits.messagesPerMinute, windowMs: 60_000 },
      framesIn: frameCounters(this.meter, dialect, 'in'),
      framesOut: frameCounters(this.meter, dialect, 'out'),
    };
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

  /** Decodes, validates and hands one frame to the dialect; bad frames get an error frame, never a crash. */
  private async dispatch(dialect: Dialect, conn: Connection, message: string | ArrayBuffer): Promise<void> {
    const decoded = decodeFrame(message);
    if (!decoded.ok) {
      conn.send(dialect.renderError({ code: 'INVALID_REQUEST', message: decoded.reason }));
      return;
    }
    try {
      await dialect.handle(this, conn, decoded.value);
    } catch (err) {
      if (isApiError(err)) {
        conn.send(dialect.renderError({ code: err.code, message: err.message, details: err.details }, decoded.value));
      } else {
        console.error(`[${dialect.name}] frame failed`, err);
        conn.send(dialect.renderError({ code: 'SERVER_ERROR', message: 'Internal error handling the message' }, decoded.value));
      }
    }
  }

  /** Sends a logged event to every transport: WebSockets, SSE streams (poll waiters are woken by the caller). */
  private deliver(event: LoggedEvent, sockets: Array<{ ws: WebSocket; att: Attachment }>, exclude?: string): void {
    // One encoding per dialect and codec when the frame does not depend on the connection.
    const shared = new SharedEncodings();
    for (const { ws, att } of sockets) {
      if (att.id === exclude) continue;
      if (att.topics.length && !att.topics.includes(event.scope)) continue;
      const dialect = this.dialects[att.dialect];
      if (!dialect) continue;
      const perConnection = att.topics.length > 0 || dialect.renderPerConnection === true;
      let encoded = perConnection ? undefined : shared.get(att.dialect, att.codec);
      if (encoded === undefined) {
        const frame = dialect.renderEvent(event, this.socketConnection(ws, att));
        encoded = frame === null ? null : encodeOnce(encodeFrame(att.codec, frame));
        if (!perConnection) shared.set(att.dialect, att.codec, encoded);
      }
      if (encoded !== null) this.sendTo(ws, att, encoded.data, encoded.bytes);
    }
    for (const stream of this.sse.all()) {
      if (stream.types.size && !stream.types.has(event.type)) continue;
      const dialect = this.dialects[stream.dialect];
      if (!dialect) continue;
      const frame = dialect.renderEvent(event, this.sseConnection(stream));
      if (frame !== null) stream.write(formatSse({ id: event.eventId, event: event.type, data: frame }));
    }
  }

  /**
   * Sends a published batch to sockets that opted in (`?batch=1`): one frame per socket, the JSON (or MessagePack)
   * array of the dialect's event frames in log order. Rendered and encoded once per dialect and codec, like `deliver`.
   */
  private deliverBatch(events: LoggedEvent[], sockets: Array<{ ws: WebSocket; att: Attachment }>, exclude?: string): void {
    const shared = new SharedEncodings();
    for (const { ws, att } of sockets) {
      if (att.id === exclude) continue;
      const dialect = this.dialects[att.dialect];
      if (!dialect) continue;
      const perConnection = att.topics.length > 0 || dialect.renderPerConnection === true;
      let encoded = perConnection ? undefined : shared.get(att.dialect, att.codec);
      if (encoded === undefined) {
        const conn = this.socketConnection(ws, att);
        const frames: unknown[] = [];
        for (const event of events) {
          if (att.topics.length && !att.topics.includes(event.scope)) continue;
          const frame = dialect.renderEvent(event, conn);
          if (frame !== null) frames.push(frame);
        }
        encoded = frames.length ? encodeOnce(encodeFrame(att.codec, frames)) : null;
        if (!perConnection) shared.set(att.dialect, att.codec, encoded);
      }
      if (encoded !== null) this.sendTo(ws, att, encoded.data, encoded.bytes);
    }
  }

  private socketConnection(ws: WebSocket, att: Attachment): Connection {
    const cached = this.connections.get(ws);
    if (cached?.att === att) return cached.conn;
    // Identity (re-authentication), codec (a first binary frame) and topics change in place on the attachment.
    const conn: Connection = {
      id: att.id,
      get identity() {
        return att.identity;
      },
      dialect: att.dialect,
      transport: 'websocket',
      get codec() {
        return att.codec;
      },
      get topics() {
        return att.topics;
      },
      connectedAt: att.connectedAt,
      get state() {
        return att.state ?? null;
      },
      setState: (update: StateUpdate<unknown>) => {
        att.state = resolveState(att.state ?? null, update);
        this.saveAttachment(ws, att, Date.now());
        return att.state;
      },
      send: (frame) => {
        this.sendTo(ws, att, encodeFrame(att.codec, frame));
      },
      close: (code = CLOSE.NORMAL, reason = 'Closed') => {
        this.closeSocket(ws, att, code, reason);
      },
    };
    this.connections.set(ws, { att, conn });
    return conn;
  }

  private sseConnection(stream: SseStream): Connection {
    const dialect = this.dialects[stream.dialect];
    return {
      id: stream.id,
      identity: stream.identity,
      dialect: stream.dialect,
      transport: 'sse',
      codec: 'json',
      topics: [],
      connectedAt: stream.connectedAt,
      get state() {
        return stream.state ?? null;
      },
      setState: (update: StateUpdate<unknown>) => {
        stream.state = resolveState(stream.state ?? null, update);
        return stream.state;
      },
      send: (frame) => {
        if (dialect) stream.write(formatSse({ event: dialect.frameName(frame), data: frame }));
      },
      close: () => stream.end(),
    };
  }

  /** One HTTP-sent frame (or poll) of an identity: its connection id and state are stable across requests. */
  private httpConnection(identity: ActorIdentity, dialect: string, sink: (frame: unknown) => void): Connection {
    const id = `http_${identity.userId}`;
    const states = this.httpStates;
    let cached: { state: unknown } | null = null;
    return {
      id,
      identity,
      dialect,
      transport: 'http',
      codec: 'json',
      topics: [],
      connectedAt: Date.now(),
      get state() {
        cached ??= { state: states.get(id, dialect) };
        return cached.state;
      },
      setState(update: StateUpdate<unknown>) {
        const next = resolveState(this.state, update);
        states.set(id, dialect, next);
        cached = { state: next };
        return next;
      },
      send: sink,
      close: () => {},
    };
  }

  private attachmentOf(ws: WebSocket): Attachment | null {
    const cached = this.attachments.get(ws);
    if (cached) return cached;
    const att = readAttachment(ws);
    if (att) this.attachments.set(ws, att);
    return att;
  }

  private saveAttachment(ws: WebSocket, att: Attachment, now: number): void {
    ws.serializeAttachment(att);
    this.attachments.set(ws, att);
    this.persistedAt.set(ws, now);
  }

  /**
   * Open sockets with their attachments, skipping those this instance is closing. All of them come from `live`;
   * those of one user or dialect (a tag) are asked of the runtime, which indexes them.
   */
  private openSockets(tag?: string): Array<{ ws: WebSocket; att: Attachment }> {
    const out: Array<{ ws: WebSocket; att: Attachment }> = [];
    if (tag === undefined) {
      for (const entry of this.liveSockets()) {
        if (entry.ws.readyState === 1) {
          if (!this.closing.has(entry.att.id)) out.push(entry);
        } else if (entry.ws.readyState === 3) this.live?.delete(entry.ws); // CLOSED without a close event here
      }
      return out;
    }
    for (const ws of this.ctx.getWebSockets(tag)) {
      if (ws.readyState !== 1) continue; // OPEN
      const att = this.attachmentOf(ws);
      if (!att || this.closing.has(att.id)) continue;
      out.push({ ws, att });
    }
    return out;
  }

  private liveSockets(): Iterable<{ ws: WebSocket; att: Attachment }> {
    if (this.live === null) {
      this.live = new Map();
      for (const ws of this.ctx.getWebSockets()) {
        const att = this.attachmentOf(ws);
        if (att) this.live.set(ws, { ws, att });
      }
    }
    return this.live.values();
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
  /**
   * Sends one encoded frame to a socket unless its peer is more than `maxUnreadBytes` behind: then the frame is
   * dropped and the socket closed with 4008 (after the current send loop, so no broadcast re-enters itself).
   * A `ping` the runtime answered since the count started counts as the peer speaking.
   */
  private sendTo(ws: WebSocket, att: Attachment, data: string | Uint8Array, bytes?: number): boolean {
    if (this.closing.has(att.id)) return false;
    const size = typeof data === 'string' ? data.length : data.byteLength;
    let unread = this.unread.get(ws);
    if (!unread) {
      unread = { bytes: 0, since: Date.now() };
      this.unread.set(ws, unread);
    }
    const rt = this.runtimeOf(att.dialect);
    const limit = rt.limits.maxUnreadBytes;
    if (unread.bytes + size > limit) {
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      if (pinged >= unread.since) {
        unread.bytes = 0;
        unread.since = Date.now();
      } else {
        this.meter.inc('edgerooms_slow_consumers_total', { dialect: att.dialect });
        this.closing.add(att.id);
        queueMicrotask(() => {
          this.closing.delete(att.id);
          this.closeSocket(ws, att, CLOSE.SLOW_CONSUMER, `Slow consumer: over ${limit} bytes unread`);
        });
        return false;
      }
    }
    if (!sendEncoded(ws, data)) return false;
    unread.bytes += size;
    rt.framesOut.messages.value += 1;
    rt.framesOut.bytes.value += bytes ?? frameBytes(data);
    this.meter.dirty = true;
    return true;
  }

  private closeSocket(ws: WebSocket, att: Attachment, code: number, reason: string): void {
    if (this.closing.has(att.id)) return;
    this.closing.add(att.id);
    this.live?.delete(ws);
    safeClose(ws, code, reason);
    this.left(ws, att, code);
  }

  /** Schedules the session sweep for a connection whose token can expire or be revoked. */
  private watchSession(identity: ActorIdentity, now: number): void {
    if (identity.exp === undefined && identity.jti === undefined) return;
    const check = this.settings.sessionCheckMs ?? SESSION_CHECK_MS;
    const at = Math.min(identity.exp !== undefined ? identity.exp * 1000 : Number.POSITIVE_INFINITY, now + check);
    void this.timers.scheduleNoLaterThan(TIMER_SESSION, at);
  }

  /**
   * Ends every socket and SSE stream whose token has expired (close 4001) or whose token or session was revoked
   * (close 4003): logout, refresh-token reuse, role change. Revocations are read from D1 in one query per sweep,
   * every `SESSION_CHECK_MS` while sessions are open, so a logout reaches open connections within that time.
   */
  private async sweepSessions(now: number): Promise<void> {
    const sockets = this.openSockets().filter(({ att }) => att.identity.exp !== undefined || att.identity.jti !== undefined);
    const streams = [...this.sse.all()].filter((st) => st.identity.exp !== undefined || st.identity.jti !== undefined);
    if (sockets.length === 0 && streams.length === 0) return;
    const expired = (identity: ActorIdentity) => identity.exp !== undefined && identity.exp * 1000 <= now;
    const sessions = new Map<string, { jti: string; sessionId?: string }>();
    for (const identity of [...sockets.map((x) => x.att.identity), ...streams.map((x) => x.identity)]) {
      if (identity.jti && !expired(identity)) sessions.set(identity.jti, { jti: identity.jti, sessionId: identity.sessionId });
    }
    let revoked = new Set<string>();
    try {
      revoked = await revokedAmong(this.env.DB, [...sessions.values()]);
    } catch (err) {
      console.error('session revocation check failed; retrying at the next sweep', err);
    }
    let next = now + (this.settings.sessionCheckMs ?? SESSION_CHECK_MS);
    for (const { ws, att } of sockets) {
      if (expired(att.identity)) this.closeSocket(ws, att, CLOSE.TOKEN_EXPIRED, 'Access token expired');
      else if (att.identity.jti && revoked.has(att.identity.jti))
        this.closeSocket(ws, att, CLOSE.SESSION_REVOKED, 'Session revoked');
      else if (att.identity.exp !== undefined) next = Math.min(next, att.identity.exp * 1000);
    }
    for (const stream of streams) {
      const reason = expired(stream.identity)
        ? 'token_expired'
        : stream.identity.jti && revoked.has(stream.identity.jti)
          ? 'session_revoked'
          : null;
      if (reason) {
        stream.write(formatSse({ event: 'session_ended', data: { reason } }));
        stream.end();
      } else if (stream.identity.exp !== undefined) next = Math.min(next, stream.identity.exp * 1000);
    }
    await this.timers.schedule(TIMER_SESSION, next);
  }

  /**
   * In-band re-authentication: `{"type":"auth","token":"<new access token>"}` on an open socket, in any dialect,
   * replaces the connection's token (same user and tenant) before it expires. Answers `{"type":"auth_ok","exp"}`
   * or the dialect's error frame. False when the frame is not an auth frame (it goes to the dialect).
   */
  private async reauthenticate(ws: WebSocket, att: Attachment, message: string): Promise<boolean> {
    let frame: unknown;
    try {
      frame = JSON.parse(message);
    } catch {
      return false;
    }
    if (typeof frame !== 'object' || frame === null || (frame as { type?: unknown }).type !== AUTH_FRAME_TYPE) return false;
    const conn = this.socketConnection(ws, att);
    const dialect = this.dialects[att.dialect];
    const token = (frame as { token?: unknown }).token;
    try {
      if (typeof token !== 'string') throw new ApiError('INVALID_REQUEST', 'auth needs {"token": "<access token>"}');
      const fresh = await verifyAccessToken(this.env, token);
      if (fresh.userId !== att.identity.userId || fresh.tenantId !== att.identity.tenantId) {
        throw new ApiError('AUTHORIZATION_FAILED', 'The new token is for another user or tenant');
      }
      att.identity = {
        ...att.identity,
        role: fresh.role,
        exp: fresh.exp,
        jti: fresh.jti,
        ...(fresh.sessionId ? { sessionId: fresh.sessionId } : {}),
      };
      this.saveAttachment(ws, att, Date.now());
      this.watchSession(att.identity, Date.now());
      conn.send({ type: 'auth_ok', exp: fresh.exp });
    } catch (err) {
      const e = isApiError(err) ? err : new ApiError('SERVER_ERROR', 'Re-authentication failed');
      conn.send(dialect ? dialect.renderError({ code: e.code, message: e.message, details: e.details }) : { type: 'error' });
    }
    return true;
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
    if (next !== null) void this.timers.schedule(TIMER_IDLE, next);
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
      this.saveAttachment(ws, att, Date.now());
    }
  }
}

/** What the actor keeps per dialect for the frame paths (see `perDialect`). */
interface DialectRuntime {
  limits: Readonly<ConnectionLimits>;
  messageRule: RateRule;
  framesIn: FrameCounters;
  framesOut: FrameCounters;
}

/** One frame encoded for many sockets, with its size on the wire counted once. */
interface Encoded {
  data: string | Uint8Array;
  bytes: number;
}

const encodeOnce = (data: string | Uint8Array): Encoded => ({ data, bytes: frameBytes(data) });

/**
 * The encodings of one event (or batch) shared by every socket of a dialect and codec, for one pass of a
 * fan-out: looked up by the attachment's own strings, no key built per socket.
 */
class SharedEncodings {
  private readonly byDialect = new Map<string, Map<Codec, Encoded | null>>();

  get(dialect: string, codec: Codec): Encoded | null | undefined {
    return this.byDialect.get(dialect)?.get(codec);
  }

  set(dialect: string, codec: Codec, encoded: Encoded | null): void {
    let byCodec = this.byDialect.get(dialect);
    if (!byCodec) {
      byCodec = new Map();
      this.byDialect.set(dialect, byCodec);
    }
    byCodec.set(codec, encoded);
  }
}

function readAttachment(ws: WebSocket): Attachment | null {
  const att = ws.deserializeAttachment() as Attachment | null;
  return att && att.v === 1 ? att : null;
}

function sendEncoded(ws: WebSocket, data: string | Uint8Array): boolean {
  try {
    ws.send(data);
    return true;
  } catch {
    return false;
  }
}

function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed by the other side.
  }
}

function rateLimitError(retryAfterMs: number, perMinute: number): FrameError {
  return {
    code: 'RATE_LIMIT_EXCEEDED',
    message: `More than ${perMinute} messages per minute`,
    details: { retryAfterMs, limit: perMinute },
  };
}

/** `?topics=a,b`: bounded so the attachment stays small. */
export function parseTopics(value: string | null): string[] {
  if (!value) return [];
  return [...new Set(value.split(',').map((t) => t.trim()))]
    .filter((t) => t.length > 0 && t.length <= MAX_TOPIC_LENGTH)
    .slice(0, MAX_TOPICS);
}

/** `?batch=1` (or `true`) opts a socket in to one frame per published batch; absent, `0` or `false` keeps one per event. */
export function parseBatch(value: string | null): boolean {
  if (value === null || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new ApiError('INVALID_REQUEST', 'batch must be 1 or 0', { details: { field: 'batch', supported: ['1', '0'] } });
}

/** `?lastEventId=` or `?lastSequence=` on a connect URL. */
export function connectRef(url: URL): EventRef | null {
  const lastEventId = url.searchParams.get('lastEventId');
  if (lastEventId) return { lastEventId };
  const lastSequence = url.searchParams.get('lastSequence');
  if (lastSequence !== null && lastSequence !== '')
    return { lastSequence: /^\d{1,15}$/.test(lastSequence) ? Number(lastSequence) : -1 };
  return null;
}
