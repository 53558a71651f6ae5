import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import type { Sample } from '../core/metrics';
import { type CraftingSessionRow, upsertCraftingSession } from '../db/crafting';
import {
  createSessionDialect,
  createUdpDialect,
  SESSION_DIALECT,
  type SessionControl,
  sessionFrame,
  UDP_DIALECT,
  type UdpAnswer,
  type UdpConnectAnswer,
  type UdpConnectRequest,
  udpParameters,
  udpProgressState,
} from '../dialects/crafting';
import {
  type CraftingCommand,
  type CraftingEvent,
  type CraftingSession,
  createSession,
  isFinished,
  type Materials,
  materialNotice,
  nextDeadline,
  progressOf,
  queueNews,
  reduce,
} from '../domain/crafting';
import type { Env } from '../env';
import { ApiError, type Reply, toReply } from '../errors';
import { connectionBytes, sessionGauges } from './crafting-metrics';
import { type MaterialsCopy, MeterStore, type SessionMeta, SessionStore } from './crafting-store';
import { type Channel, SyncLink, UDP_TICK_MS } from './crafting-sync';
import { craftingQueueActor } from './keys';
import { METRICS_REPORT_MS, MetricsReporter, TIMER_METRICS } from './metrics';

export type { UdpAnswer, UdpConnectAnswer, UdpConnectRequest };
export { UDP_DIALECT };

const OUTBOX_SESSION = 'crafting_session';
const TIMER_STAGE = 'crafting:stage';
const TIMER_PROGRESS = 'crafting:progress';
const TIMER_UDP = 'crafting:udp';
/** JSON watchers get a `progress` message this often while the session runs. */
export const PROGRESS_INTERVAL_MS = 1_000;
/** Seed 002's WebSocket limits: watchers of one session, and sockets of one player on one session. */
export const MAX_WATCHERS = 200;
export const MAX_SOCKETS_PER_PLAYER = 5;

/**
 * One crafting session (`<tenantId>:<sessionId>`, seed 002): its progress through the recipe's stages (advanced by
 * this actor's alarm, never by a client's clock), its watchers (`/ws/crafting/{session_id}`: JSON, optionally
 * LZ4, or binary sync packets) and its UDP-style sync (`/udp/sessions/{session_id}/...`). The player's queue
 * (CraftingQueue) starts it, and hears from it when it changes state or finishes.
 */
export class Crafting extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect>;
  private readonly store: SessionStore;
  private readonly link: SyncLink;
  private readonly reporter: MetricsReporter;
  private loaded: { session: CraftingSession; meta: SessionMeta } | null | undefined;
  private materialsCopy: MaterialsCopy | null;
  /** Set while `fetch` accepts a binary watcher: its connection id, to send it keyframes after the accept. */
  private acceptingUdp: string | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SessionStore(this.sql);
    this.link = new SyncLink(this.sql, {
      meter: this.meter,
      budgets: this.budgets,
      config: (key) => this.config(key),
      state: () => {
        const c = this.current;
        if (!c) return null;
        return {
          progress: udpProgressState(progressOf(c.session, this.clock())),
          materials: this.materialsCopy?.materials ?? {},
        };
      },
      sockets: () => this.udpSockets(),
      applyMaterials: (peer, changes) => this.applyMaterials(peer.userId, peer.role, changes),
      delivered: (path, since) => this.delivered(path, since),
    });
    this.reporter = new MetricsReporter(new MeterStore(this.sql), this.meter, `crafting:${ctx.id.name ?? ctx.id.toString()}`);
    this.materialsCopy = this.store.materials();
    this.outbox.register(OUTBOX_SESSION, (db, row) => upsertCraftingSession(db, row as CraftingSessionRow));
    const sessionDialect = createSessionDialect({
      sessionId: () => this.sessionId,
      state: () => this.progress(),
      control: async (conn, command) => this.runControl(conn.identity, command),
    });
    this.dialects = {
      [SESSION_DIALECT]: sessionDialect,
      [UDP_DIALECT]: createUdpDialect(
        sessionDialect,
        () => this.sessionId,
        (conn) => {
          this.acceptingUdp = conn.id;
          return udpParameters(this.link.keyframeEvery(), this.link.keyframeMs(), UDP_TICK_MS);
        },
      ),
    };
  }

  // ---- identity and state ------------------------------------------------------------------------------------

  private get sessionId(): string {
    return (this.ctx.id.name ?? '').split(':').slice(1).join(':');
  }

  private get tenantId(): string {
    return (this.ctx.id.name ?? '').split(':')[0] ?? '';
  }

  /** Server time, plus `clockOffsetMs` from `configure()` (operators correct skew with it; tests move time). */
  private clock(): number {
    return Date.now() + (this.config('clockOffsetMs') ?? 0);
  }

  private get current(): { session: CraftingSession; meta: SessionMeta } | null {
    if (this.loaded === undefined) this.loaded = this.store.load();
    return this.loaded;
  }

  private require(identity: { tenantId: string }): CraftingSession {
    if (identity.tenantId !== this.tenantId) throw new ApiError('NOT_FOUND', 'No such crafting session');
    const c = this.current;
    if (!c) throw new ApiError('NOT_FOUND', 'No such crafting session', { details: { issue: 'unknown_session' } });
    return c.session;
  }

  private progress(): unknown {
    const c = this.current;
    return c ? progressOf(c.session, this.clock()) : null;
  }

  // ---- RPC from the queue ------------------------------------------------------------------------------------

  /** Creates the session (idempotent: a repeated call changes nothing). */
  async create(
    tenantId: string,
    order: { sessionId: string; playerId: string; recipeId: string; quantity: number },
    materials: MaterialsCopy,
  ): Promise<void> {
    if (tenantId !== this.tenantId || order.sessionId !== this.sessionId) throw new Error('Session key mismatch');
    if (this.current) return;
    this.materialsCopy = materials;
    this.store.saveMaterials(materials);
    const session = createSession({ ...order, id: order.sessionId }, this.clock());
    this.commit(session, [], { type: 'session_created', data: { recipeId: order.recipeId, quantity: order.quantity } });
  }

  /** The queue took the inputs: the session runs. */
  async start(_consumed: Materials, materials: MaterialsCopy): Promise<void> {
    const c = this.current;
    if (c?.session.status !== 'queued') return;
    this.setMaterials(materials);
    await this.apply({ type: 'start' });
  }

  /** The queue cannot start this session yet: material availability notice with what is missing. */
  async waitingFor(missing: Materials, materials: MaterialsCopy): Promise<void> {
    if (!this.current || isFinished(this.current.session.status)) return;
    await this.notifyMaterials(materials, 'waiting', missing);
  }

  /** The player's materials changed: material availability notice. */
  async materialsChanged(materials: MaterialsCopy, missing: Materials): Promise<void> {
    if (!this.current || isFinished(this.current.session.status)) return;
    if (this.materialsCopy && materials.version < this.materialsCopy.version) return;
    await this.notifyMaterials(materials, Object.keys(missing).length ? 'waiting' : 'available', missing);
  }

  /** Takes the materials copy and tells every watcher (JSON and binary) whether the session's inputs are there. */
  private async notifyMaterials(materials: MaterialsCopy, status: 'waiting' | 'available', missing: Materials): Promise<void> {
    const since = Date.now();
    if (this.materialsCopy && materials.version < this.materialsCopy.version) return;
    // The binary watchers' packet goes out before this turn writes anything: a write would hold the send until it
    // commits (the output gate). The copy is the queue's, already saved there; the event log is written next.
    this.materialsCopy = materials;
    this.link.push(undefined, since);
    const data = materialNotice(status, missing, this.materialsCopy, this.current?.session.status);
    this.publish([{ scope: this.sessionId, type: 'material_notification', data }]);
    this.delivered('ws_event', since);
    this.store.saveMaterials(materials);
    await this.reportSoon();
  }

  // ---- RPC from the Worker -----------------------------------------------------------------------------------

  /** Health probe: the actor answers and its storage reads. */
  async ping(): Promise<string> {
    this.sql.exec('SELECT 1').toArray();
    return 'pong';
  }

  async view(identity: ActorIdentity): Promise<Reply<ReturnType<typeof progressOf>>> {
    return toReply(() => progressOf(this.require(identity), this.clock()));
  }

  async control(identity: ActorIdentity, command: SessionControl): Promise<Reply<ReturnType<typeof progressOf>>> {
    return toReply(() => this.runControl(identity, command));
  }

  /** Who may open another socket here (seed 002's per-session and per-player connection limits). */
  async admitWatcher(identity: ActorIdentity): Promise<Reply<true>> {
    return toReply(() => {
      this.require(identity);
      const watchers = this.config('craftingMaxWatchers') ?? MAX_WATCHERS;
      if (this.clientCount() >= watchers) {
        this.meter.inc('edgerooms_rate_limited_total', { limit: 'session_watchers' });
        throw new ApiError('RATE_LIMIT_EXCEEDED', 'This session has as many watchers as it accepts', {
          details: { issue: 'too_many_watchers', limit: watchers },
        });
      }
      const mine = this.ctx.getWebSockets(`u:${identity.userId}`).filter((ws) => ws.readyState === 1).length;
      if (mine >= MAX_SOCKETS_PER_PLAYER) {
        this.meter.inc('edgerooms_rate_limited_total', { limit: 'player_sockets' });
        throw new ApiError('RATE_LIMIT_EXCEEDED', `At most ${MAX_SOCKETS_PER_PLAYER} sockets per player on one session`, {
          details: { issue: 'too_many_connections', limit: MAX_SOCKETS_PER_PLAYER },
        });
      }
      return true as const;
    });
  }

  // ---- UDP-style sync ----------------------------------------------------------------------------------------

  /** `POST /udp/sessions/{id}/connect`: a peer, its first token and the negotiated parameters. */
  async udpConnect(identity: ActorIdentity, request: UdpConnectRequest): Promise<Reply<UdpConnectAnswer>> {
    return toReply(() => {
      this.require(identity);
      return this.link.connect(this.sessionId, identity, request);
    });
  }

  /** One packet of `channel` over HTTP: checked, then answered with the downstream packet for the peer's base. */
  async udpPacket(channel: Channel, bytes: Uint8Array): Promise<UdpAnswer> {
    const answer = await this.link.packet(channel, bytes);
    await this.reportSoon();
    return answer;
  }

  /** A materials delta from a service or admin peer goes to the player's queue, which owns the materials. */
  private async applyMaterials(userId: string, role: string, changes: Materials): Promise<UdpAnswer | null> {
    const session = this.current?.session as CraftingSession;
    const identity: ActorIdentity = { userId, tenantId: this.tenantId, role: role as ActorIdentity['role'], username: userId };
    // RPC result types cannot express `unknown` (ErrorBody's details): this is the method's declared type.
    const result = (await craftingQueueActor(this.env, this.tenantId, session.playerId).adjust(
      identity,
      changes,
      'udp',
    )) as unknown as Reply<unknown>;
    return result.ok ? null : { kind: 'error', error: result.error };
  }

  private udpSockets(): WebSocket[] {
    return this.ctx.getWebSockets(`d:${UDP_DIALECT}`).filter((ws) => ws.readyState === 1);
  }

  /** Delivery latency: from the input's arrival in this actor to its frames handed to the sockets. */
  private delivered(path: string, since: number): void {
    this.meter.observe('edgerooms_crafting_delivery_latency_ms', { path }, Date.now() - since);
  }

  private async reportSoon(): Promise<void> {
    if (!this.meter.dirty) return;
    await this.timers.scheduleNoLaterThan(TIMER_METRICS, Date.now() + (this.config('metricsReportMs') ?? METRICS_REPORT_MS));
  }

  /** This actor's gauges now (`sessionGauges`): sizes in bytes of their JSON. */
  private gauges(): Sample[] {
    return sessionGauges({
      status: this.current?.session.status,
      stateBytes: JSON.stringify(this.current ?? null).length + JSON.stringify(this.materialsCopy ?? null).length,
      sessionSockets: this.clientCount(SESSION_DIALECT),
      udpSockets: this.clientCount(UDP_DIALECT),
      peers: this.link.sync.peerCount(Date.now()),
      syncBytes: this.link.sync.memoryBytes(),
      connectionBytes: connectionBytes(this.ctx.getWebSockets()),
      storageBytes: this.ctx.storage.sql.databaseSize,
    });
  }

  override async fetch(request: Request): Promise<Response> {
    this.acceptingUdp = null;
    const res = await super.fetch(request);
    const id = this.acceptingUdp;
    this.acceptingUdp = null;
    if (id !== null && res.status === 101) this.link.welcome(id);
    if (res.status === 101) {
      this.meter.dirty = true;
      await this.scheduleTicks();
    }
    return res;
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    await super.webSocketClose(ws, code, reason, wasClean);
    this.meter.dirty = true; // the connections gauge changed
    await this.reportSoon();
  }

  /** Binary frames of a binary watcher are sync packets; everything else is the core's. */
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = ws.deserializeAttachment() as { dialect?: string } | null;
    if (typeof message === 'string' || att?.dialect !== UDP_DIALECT) {
      await super.webSocketMessage(ws, message);
      await this.reportSoon();
      return;
    }
    await this.link.frame(ws, this.sessionId, new Uint8Array(message));
    await this.reportSoon();
  }

  // ---- session transitions -----------------------------------------------------------------------------------

  private runControl(identity: ActorIdentity, command: SessionControl): Promise<ReturnType<typeof progressOf>> {
    const session = this.require(identity);
    if (session.playerId !== identity.userId && identity.role !== 'admin') {
      throw new ApiError('AUTHORIZATION_FAILED', 'Only the session owner or an admin may control it', {
        details: { issue: 'not_owner' },
      });
    }
    return this.apply({ type: command }, Date.now()).then(() =>
      progressOf((this.current as { session: CraftingSession }).session, this.clock()),
    );
  }

  /** Runs the reducer, commits, and tells the queue what it needs to know. */
  private async apply(command: CraftingCommand, since?: number): Promise<void> {
    const c = this.current;
    if (!c) return;
    const before = c.session;
    const r = reduce(before, command, this.clock());
    if (r.session === before) return;
    this.commit(r.session, r.events);
    if (since !== undefined) this.delivered('ws_event', since);
    await this.scheduleTicks();
    await this.tellQueue(before, r.session);
  }

  /** Saves the session and its D1 row, then logs and delivers the events, in one turn. */
  private commit(
    session: CraftingSession,
    events: CraftingEvent[],
    created?: { type: string; data: Record<string, unknown> },
  ): void {
    const meta: SessionMeta = { tenantId: this.tenantId, version: (this.current?.meta.version ?? 0) + 1 };
    this.store.save(session, meta);
    this.loaded = { session, meta };
    this.outbox.enqueue(OUTBOX_SESSION, { tenantId: this.tenantId, version: meta.version, session } satisfies CraftingSessionRow);
    const progress = progressOf(session, this.clock());
    const all = created ? [created, ...events] : events;
    this.publish(all.map((e) => ({ scope: this.sessionId, type: e.type, data: { ...e.data, progress } })));
    this.link.push();
  }

  private async tellQueue(before: CraftingSession, after: CraftingSession): Promise<void> {
    const news = queueNews(before, after, this.clock());
    if (!news) return;
    const queue = craftingQueueActor(this.env, this.tenantId, after.playerId);
    try {
      if (news.kind === 'finished') await queue.sessionFinished(after.id, news.status, news.gained);
      else await queue.sessionReport(after.id, news.status, news.remainingMs);
    } catch (err) {
      console.error(`crafting: queue report for ${after.id} failed`, err);
    }
  }

  private setMaterials(copy: MaterialsCopy): void {
    if (this.materialsCopy && copy.version < this.materialsCopy.version) return;
    this.materialsCopy = copy;
    this.store.saveMaterials(copy);
  }

  // ---- time --------------------------------------------------------------------------------------------------

  protected override snapshotFor(): unknown {
    return this.progress();
  }

  /** Every alarm first brings the session up to the clock (idempotent), then runs the core's timers. */
  override async alarm(): Promise<void> {
    await this.apply({ type: 'tick' });
    await super.alarm();
  }

  protected override async onTimer(name: string): Promise<void> {
    const c = this.current;
    if (!c) return;
    if (name === TIMER_PROGRESS && c.session.status === 'running') {
      const frame = sessionFrame('progress', this.sessionId, progressOf(c.session, this.clock()));
      this.broadcast(() => frame, { dialect: SESSION_DIALECT });
    }
    if (name === TIMER_UDP) this.link.push();
    if (name === TIMER_METRICS) await this.reporter.report(this.env.DB, this.gauges(), Date.now());
    await this.scheduleTicks();
  }

  /**
   * The stage timer, and the progress ticks while the session runs and someone watches. Runs on every tick (20 Hz
   * with binary watchers), so it touches storage only for timers whose time actually changes.
   */
  private async scheduleTicks(): Promise<void> {
    const c = this.current;
    if (!c) return;
    const offset = this.config('clockOffsetMs') ?? 0;
    const deadline = nextDeadline(c.session);
    const running = c.session.status === 'running';
    const now = Date.now();
    await this.setTimer(TIMER_STAGE, deadline === null ? null : deadline - offset);
    const progress = running && this.clientCount(SESSION_DIALECT) > 0;
    const udp = running && this.udpSockets().length > 0;
    await this.setTimer(TIMER_PROGRESS, progress ? (this.timers.at(TIMER_PROGRESS) ?? now + PROGRESS_INTERVAL_MS) : null);
    await this.setTimer(TIMER_UDP, udp ? (this.timers.at(TIMER_UDP) ?? now + (this.config('udpTickMs') ?? UDP_TICK_MS)) : null);
    await this.reportSoon();
  }

  private async setTimer(name: string, at: number | null): Promise<void> {
    const current = this.timers.at(name);
    if (at === null) {
      if (current !== null) await this.cancel(name);
    } else if (current !== Math.floor(at)) {
      await this.schedule(name, at);
    }
  }
}
