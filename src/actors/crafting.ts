import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import { countFrame, type Sample } from '../core/metrics';
import { CLOSE } from '../core/protocol';
import { type CraftingSessionRow, upsertCraftingSession } from '../db/crafting';
import { createSessionDialect, SESSION_DIALECT, type SessionControl, sessionFrame } from '../dialects/crafting';
import {
  decodeMaterialsDelta,
  decodePacket,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  HEADER_BYTES,
  KIND_MATERIALS,
  MAX_PACKET_BYTES,
  MIN_PACKET_BYTES,
  PacketError,
  TOKEN_BYTES,
  toFixed16,
  tokenFromHex,
  tokenToHex,
  UDP_VERSION,
  type UdpProgressState,
} from '../dialects/crafting-udp';
import {
  type CraftingCommand,
  type CraftingEvent,
  type CraftingSession,
  createSession,
  isFinished,
  type Materials,
  nextDeadline,
  progressOf,
  reduce,
} from '../domain/crafting';
import type { Env } from '../env';
import { ApiError, type ErrorBody, type Reply, toReply } from '../errors';
import { METRICS_REPORT_MS, MetricsReporter, TIMER_METRICS } from './crafting-metrics';
import { type MaterialsCopy, type SessionMeta, SessionStore } from './crafting-store';
import {
  type Channel,
  CraftingSync,
  DEFAULT_KEYFRAME_EVERY,
  DEFAULT_KEYFRAME_MS,
  downstreamPacket,
  type Peer,
  randomToken,
  TOKEN_TTL_MS,
} from './crafting-sync';
import { craftingQueueActor } from './keys';

/** The binary WebSocket variant of the sync: UDP packets as binary frames (`Sec-WebSocket-Protocol: crafting-udp.v1`). */
export const UDP_DIALECT = 'crafting-udp';

const OUTBOX_SESSION = 'crafting_session';
const TIMER_STAGE = 'crafting:stage';
const TIMER_PROGRESS = 'crafting:progress';
const TIMER_UDP = 'crafting:udp';
/** JSON watchers get a `progress` message this often while the session runs. */
export const PROGRESS_INTERVAL_MS = 1_000;
/** Binary watchers get a packet per channel at this rate while the session runs (the seed's 20 Hz). */
export const UDP_TICK_MS = 50;
/** Seed 002's UDP packet limit: packets per peer per minute (60/s: three times the 20 Hz the sync needs). */
export const UDP_PACKETS_PER_MINUTE = 3_600;
/** Seed 002's WebSocket limits: watchers of one session, and sockets of one player on one session. */
export const MAX_WATCHERS = 200;
export const MAX_SOCKETS_PER_PLAYER = 5;

/** What `connect` negotiates. */
export interface UdpConnectRequest {
  version?: number;
  maxPacketSize?: number;
  keyframeInterval?: number;
  keyframeIntervalMs?: number;
}

export interface UdpConnectAnswer {
  sessionId: string;
  peerId: string;
  sessionToken: string;
  tokenExpiresAt: string;
  tokenTtlMs: number;
  version: number;
  maxPacketSize: number;
  keyframeInterval: number;
  keyframeIntervalMs: number;
  headerBytes: number;
  tickHz: number;
}

/** What a UDP packet over HTTP gets back: the downstream packet, or why it was dropped. */
export type UdpAnswer =
  | { kind: 'packet'; bytes: Uint8Array }
  | { kind: 'dropped'; reason: 'stale' | 'duplicate' }
  | { kind: 'error'; error: ErrorBody };

const udpError = (
  code: 'INVALID_REQUEST' | 'AUTHENTICATION_REQUIRED' | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMIT_EXCEEDED' | 'AUTHORIZATION_FAILED',
  message: string,
  issue: string,
  extra: Record<string, unknown> = {},
): UdpAnswer => ({
  kind: 'error',
  error: new ApiError(code, message, { details: { issue, ...extra } }).toBody(),
});

/**
 * One crafting session (`<tenantId>:<sessionId>`, seed 002): its progress through the recipe's stages (advanced by
 * this actor's alarm, never by a client's clock), its watchers (`/ws/crafting/{session_id}`: JSON, optionally
 * LZ4, or binary sync packets) and its UDP-style sync (`/udp/sessions/{session_id}/...`). The player's queue
 * (CraftingQueue) starts it, and hears from it when it changes state or finishes.
 */
export class Crafting extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect>;
  private readonly store: SessionStore;
  private readonly sync: CraftingSync;
  private readonly reporter: MetricsReporter;
  private loaded: { session: CraftingSession; meta: SessionMeta } | null | undefined;
  private materialsCopy: MaterialsCopy | null;
  /** Set while `fetch` accepts a binary watcher: its connection id, to send it keyframes after the accept. */
  private acceptingUdp: string | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SessionStore(this.sql);
    this.sync = new CraftingSync(this.sql);
    this.reporter = new MetricsReporter(this.sql, this.meter, `crafting:${ctx.id.name ?? ctx.id.toString()}`);
    this.materialsCopy = this.store.materials();
    this.outbox.register(OUTBOX_SESSION, (db, row) => upsertCraftingSession(db, row as CraftingSessionRow));
    const sessionDialect = createSessionDialect({
      sessionId: () => this.sessionId,
      state: () => this.progress(),
      control: async (conn, command) => this.runControl(conn.identity, command),
    });
    this.dialects = {
      [SESSION_DIALECT]: sessionDialect,
      [UDP_DIALECT]: {
        ...sessionDialect,
        name: UDP_DIALECT,
        limits: { ...sessionDialect.limits, maxMessageBytes: MAX_PACKET_BYTES },
        connected: (_api, conn) => {
          this.acceptingUdp = conn.id;
          return sessionFrame('udp_connected', this.sessionId, this.udpParameters());
        },
        // Binary watchers get packets, not JSON events.
        renderEvent: () => null,
      },
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
    const since = Date.now();
    this.setMaterials(materials);
    this.publish([{ scope: this.sessionId, type: 'material_notification', data: this.materialNotice('waiting', missing) }]);
    this.pushUdp(undefined, since);
    this.delivered('ws_event', since);
    await this.reportSoon();
  }

  /** The player's materials changed: material availability notice. */
  async materialsChanged(materials: MaterialsCopy, missing: Materials): Promise<void> {
    if (!this.current || isFinished(this.current.session.status)) return;
    if (this.materialsCopy && materials.version < this.materialsCopy.version) return;
    const since = Date.now();
    this.setMaterials(materials);
    const status = Object.keys(missing).length ? 'waiting' : 'available';
    this.publish([{ scope: this.sessionId, type: 'material_notification', data: this.materialNotice(status, missing) }]);
    this.pushUdp(undefined, since);
    this.delivered('ws_event', since);
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
      if (this.clientCount() >= (this.config('craftingMaxWatchers') ?? MAX_WATCHERS)) {
        this.meter.inc('edgerooms_rate_limited_total', { limit: 'session_watchers' });
        throw new ApiError('RATE_LIMIT_EXCEEDED', 'This session has as many watchers as it accepts', {
          details: { issue: 'too_many_watchers', limit: MAX_WATCHERS },
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
      const version = request.version ?? UDP_VERSION;
      if (version !== UDP_VERSION) {
        throw new ApiError('INVALID_REQUEST', `Unsupported sync version ${version}`, {
          details: { field: 'version', issue: 'unsupported_version', supported: [UDP_VERSION] },
        });
      }
      const now = Date.now();
      const ttl = this.tokenTtl();
      const peer: Peer = {
        peerId: `peer_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`,
        userId: identity.userId,
        role: identity.role,
        token: randomToken(),
        prevToken: null,
        prevExpiresAt: 0,
        expiresAt: now + ttl,
        lastSeq: 0,
        maxPacket: request.maxPacketSize ?? 1200,
        keyframeEvery: request.keyframeInterval ?? DEFAULT_KEYFRAME_EVERY,
        keyframeMs: request.keyframeIntervalMs ?? DEFAULT_KEYFRAME_MS,
        deltas: { progress: 0, materials: 0 },
        lastKeyAt: { progress: 0, materials: 0 },
      };
      this.sync.addPeer(peer);
      return {
        sessionId: this.sessionId,
        peerId: peer.peerId,
        sessionToken: peer.token,
        tokenExpiresAt: new Date(peer.expiresAt).toISOString(),
        tokenTtlMs: ttl,
        version,
        maxPacketSize: peer.maxPacket,
        keyframeInterval: peer.keyframeEvery,
        keyframeIntervalMs: peer.keyframeMs,
        headerBytes: HEADER_BYTES,
        tickHz: Math.round(1000 / UDP_TICK_MS),
      };
    });
  }

  /** One packet of `channel` over HTTP: checked, then answered with the downstream packet for the peer's base. */
  async udpPacket(channel: Channel, bytes: Uint8Array): Promise<UdpAnswer> {
    const since = Date.now();
    const answer = await this.handlePacket(channel, bytes);
    const result = answer.kind === 'packet' ? 'accepted' : answer.kind === 'dropped' ? answer.reason : 'rejected';
    this.meter.inc('edgerooms_crafting_udp_packets_total', { channel, result });
    this.meter.inc('edgerooms_crafting_udp_bytes_total', { channel, direction: 'in' }, bytes.byteLength);
    if (answer.kind === 'error' && answer.error.error === 'RATE_LIMIT_EXCEEDED') {
      this.meter.inc('edgerooms_rate_limited_total', { limit: 'udp_packets' });
    }
    if (answer.kind === 'packet') {
      this.meter.inc('edgerooms_crafting_udp_bytes_total', { channel, direction: 'out' }, answer.bytes.byteLength);
      this.countPacket(channel, answer.bytes[3] as number);
      this.delivered('udp_answer', since);
    }
    await this.reportSoon();
    return answer;
  }

  private async handlePacket(channel: Channel, bytes: Uint8Array): Promise<UdpAnswer> {
    if (bytes.byteLength > MAX_PACKET_BYTES)
      return udpError('PAYLOAD_TOO_LARGE', `Packets are at most ${MAX_PACKET_BYTES} bytes`, 'oversize');
    let packet: ReturnType<typeof decodePacket>;
    try {
      packet = decodePacket(bytes);
    } catch (err) {
      if (err instanceof PacketError) return udpError('INVALID_REQUEST', err.message, err.issue);
      throw err;
    }
    const h = packet.header;
    const now = Date.now();
    const found = this.current ? this.sync.peerByToken(tokenToHex(h.token), now) : null;
    if (!found) return udpError('AUTHENTICATION_REQUIRED', 'Unknown or expired session token: connect again', 'bad_token');
    let peer = found;
    if (bytes.byteLength > peer.maxPacket) {
      return udpError('PAYLOAD_TOO_LARGE', `This peer negotiated packets of at most ${peer.maxPacket} bytes`, 'oversize', {
        maxPacketSize: peer.maxPacket,
      });
    }
    if ((h.kind === KIND_MATERIALS) !== (channel === 'materials')) {
      return udpError('INVALID_REQUEST', `A ${channel} endpoint takes ${channel} packets`, 'wrong_kind');
    }
    // Per user in this session (a sliding window): a reconnect as a new peer does not hand out a fresh budget.
    const limit = this.budgets.spend(`udp|${peer.userId}`, { limit: UDP_PACKETS_PER_MINUTE, windowMs: 60_000 }, now);
    if (!limit.allowed) {
      return udpError('RATE_LIMIT_EXCEEDED', `More than ${UDP_PACKETS_PER_MINUTE} packets a minute`, 'rate_limited', {
        retryAfterMs: limit.retryAfterMs,
      });
    }
    // Datagram semantics: no retransmission; a packet older than or equal to the newest seen is dropped.
    if (h.seq <= peer.lastSeq) {
      this.sync.savePeer(peer);
      return { kind: 'dropped', reason: h.seq === peer.lastSeq ? 'duplicate' : 'stale' };
    }
    peer.lastSeq = h.seq;
    if (packet.body.byteLength > 0) {
      const applied = await this.upstreamBody(channel, peer, h.flags, packet.body);
      if (applied) {
        this.sync.savePeer(peer);
        return applied;
      }
    }
    peer = this.sync.rotate(peer, now, this.tokenTtl());
    this.pushUdp(undefined, now);
    const answer = this.sync.answer(channel, h.baseSeq, peer, now);
    this.sync.savePeer(peer);
    if (!answer) return udpError('INVALID_REQUEST', 'Nothing to sync yet', 'no_state');
    return { kind: 'packet', bytes: downstreamPacket(channel, answer, tokenFromHex(peer.token) as Uint8Array, now) };
  }

  /**
   * An upstream body: only a `materials` delta from a service or admin peer (the crafting service pushing material
   * changes); anything else must come without a body. Returns an error answer, or null once applied.
   */
  private async upstreamBody(channel: Channel, peer: Peer, flags: number, body: Uint8Array): Promise<UdpAnswer | null> {
    if (channel !== 'materials' || !(flags & FLAG_DELTA) || flags & FLAG_KEYFRAME) {
      return udpError('INVALID_REQUEST', 'Only materials deltas carry a body upstream', 'unexpected_body');
    }
    if (peer.role !== 'service' && peer.role !== 'admin') {
      return udpError('AUTHORIZATION_FAILED', 'Only service or admin peers change materials', 'not_allowed');
    }
    let changes: Materials;
    try {
      changes = decodeMaterialsDelta(body);
    } catch (err) {
      if (err instanceof PacketError) return udpError('INVALID_REQUEST', err.message, err.issue);
      throw err;
    }
    const session = this.current?.session as CraftingSession;
    const identity: ActorIdentity = {
      userId: peer.userId,
      tenantId: this.tenantId,
      role: peer.role as ActorIdentity['role'],
      username: peer.userId,
    };
    // RPC result types cannot express `unknown` (ErrorBody's details): this is the method's declared type.
    const result = (await craftingQueueActor(this.env, this.tenantId, session.playerId).adjust(
      identity,
      changes,
      'udp',
    )) as unknown as Reply<unknown>;
    return result.ok ? null : { kind: 'error', error: result.error };
  }

  private tokenTtl(): number {
    return this.config('udpTokenTtlMs') ?? TOKEN_TTL_MS;
  }

  private udpParameters(): Record<string, unknown> {
    return {
      version: UDP_VERSION,
      headerBytes: HEADER_BYTES,
      tokenBytes: TOKEN_BYTES,
      keyframeInterval: this.config('udpKeyframeEvery') ?? DEFAULT_KEYFRAME_EVERY,
      keyframeIntervalMs: this.config('udpKeyframeMs') ?? DEFAULT_KEYFRAME_MS,
      tickHz: Math.round(1000 / UDP_TICK_MS),
      packetSize: { min: MIN_PACKET_BYTES, max: MAX_PACKET_BYTES },
    };
  }

  /** Brings both downstream channels to the state now; true per channel that changed. */
  private refreshStreams(): Record<Channel, boolean> {
    const c = this.current;
    const out = { progress: false, materials: false };
    if (!c) return out;
    const p = progressOf(c.session, this.clock());
    const state: UdpProgressState = {
      status: p.status,
      stageIndex: p.stageIndex,
      stageCount: p.stageCount,
      progress: toFixed16(p.progress),
      stageProgress: toFixed16(p.stageProgress),
      elapsedMs: Math.round(p.elapsedMs),
      remainingMs: Math.round(p.remainingMs),
      quality: p.quality,
    };
    out.progress = this.sync.update('progress', state);
    out.materials = this.sync.update('materials', this.materialsCopy?.materials ?? {});
    return out;
  }

  private udpSockets(): WebSocket[] {
    return this.ctx.getWebSockets(`d:${UDP_DIALECT}`).filter((ws) => ws.readyState === 1);
  }

  /**
   * Brings the channels to the state now and sends what changed to every binary watcher (but `exclude`), each
   * packet encoded once for all of them. Every path that moves a channel goes through here, so a watcher never
   * misses a seq it would need as a base.
   */
  private pushUdp(exclude?: string, since?: number): void {
    const changed = this.refreshStreams();
    if (!changed.progress && !changed.materials) return;
    const sockets = this.udpSockets().filter(
      (ws) => exclude === undefined || (ws.deserializeAttachment() as { id?: string } | null)?.id !== exclude,
    );
    const now = Date.now();
    const zero = new Uint8Array(TOKEN_BYTES);
    for (const channel of ['progress', 'materials'] as const) {
      if (!changed[channel]) continue;
      const d = this.sync.broadcast(
        channel,
        now,
        this.config('udpKeyframeEvery') ?? DEFAULT_KEYFRAME_EVERY,
        this.config('udpKeyframeMs') ?? DEFAULT_KEYFRAME_MS,
      );
      if (!d || sockets.length === 0) continue;
      const bytes = downstreamPacket(channel, d, zero, now);
      this.countPacket(channel, d.flags);
      for (const ws of sockets) {
        try {
          ws.send(bytes);
          countFrame(this.meter, UDP_DIALECT, 'out', bytes);
        } catch {
          // closing: its close handler cleans up
        }
      }
      if (since !== undefined) this.delivered('udp_broadcast', since);
    }
  }

  private countPacket(channel: Channel, flags: number): void {
    if (flags & FLAG_KEYFRAME) this.meter.inc('edgerooms_crafting_udp_keyframes_total', { channel });
    else if (flags & FLAG_DELTA) this.meter.inc('edgerooms_crafting_udp_deltas_total', { channel });
    else if (flags & FLAG_UNCHANGED) this.meter.inc('edgerooms_crafting_udp_unchanged_total', { channel });
  }

  /** Delivery latency: from the input's arrival in this actor to its frames handed to the sockets. */
  private delivered(path: string, since: number): void {
    this.meter.observe('edgerooms_crafting_delivery_latency_ms', { path }, Date.now() - since);
  }

  private async reportSoon(): Promise<void> {
    if (!this.meter.dirty) return;
    await this.timers.scheduleNoLaterThan(TIMER_METRICS, Date.now() + (this.config('metricsReportMs') ?? METRICS_REPORT_MS));
  }

  /**
   * Gauges of this actor now, among them its footprint (the seed's "memory per session"): the session's state, the
   * sync streams' memory and the per-connection bookkeeping, in bytes of their JSON, and its SQLite file size.
   */
  private gauges(): Sample[] {
    const c = this.current;
    const active = c && (c.session.status === 'running' || c.session.status === 'paused') ? 1 : 0;
    let attachments = 0;
    for (const ws of this.ctx.getWebSockets()) attachments += JSON.stringify(ws.deserializeAttachment() ?? null).length;
    const state = JSON.stringify(c ?? null).length + JSON.stringify(this.materialsCopy ?? null).length;
    return [
      { name: 'edgerooms_ws_connections', labels: { endpoint: SESSION_DIALECT }, value: this.clientCount(SESSION_DIALECT) },
      { name: 'edgerooms_ws_connections', labels: { endpoint: UDP_DIALECT }, value: this.clientCount(UDP_DIALECT) },
      { name: 'edgerooms_crafting_udp_peers', labels: {}, value: this.sync.peerCount(Date.now()) },
      { name: 'edgerooms_crafting_active_sessions', labels: {}, value: active },
      { name: 'edgerooms_crafting_state_bytes', labels: { part: 'session' }, value: state },
      { name: 'edgerooms_crafting_state_bytes', labels: { part: 'sync' }, value: this.sync.memoryBytes() },
      { name: 'edgerooms_crafting_state_bytes', labels: { part: 'connections' }, value: attachments },
      { name: 'edgerooms_crafting_storage_bytes', labels: {}, value: this.ctx.storage.sql.databaseSize },
    ];
  }

  override async fetch(request: Request): Promise<Response> {
    this.acceptingUdp = null;
    const res = await super.fetch(request);
    const id = this.acceptingUdp;
    this.acceptingUdp = null;
    if (id !== null && res.status === 101) {
      // A binary watcher (new or reconnecting) starts from keyframes of both channels; the others move on first.
      this.pushUdp(id);
      const now = Date.now();
      const zero = new Uint8Array(TOKEN_BYTES);
      const ws = this.udpSockets().find((s) => (s.deserializeAttachment() as { id?: string } | null)?.id === id);
      for (const channel of ['progress', 'materials'] as const) {
        const k = this.sync.keyframe(channel);
        if (!ws || !k) continue;
        const bytes = downstreamPacket(channel, k, zero, now);
        ws.send(bytes);
        countFrame(this.meter, UDP_DIALECT, 'out', bytes);
        this.countPacket(channel, k.flags);
      }
    }
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
    countFrame(this.meter, UDP_DIALECT, 'in', message);
    const bytes = new Uint8Array(message);
    if (bytes.byteLength < HEADER_BYTES) {
      ws.send(
        JSON.stringify(
          sessionFrame('error', this.sessionId, {
            code: 'INVALID_REQUEST',
            message: 'Truncated packet',
            details: { issue: 'truncated' },
          }),
        ),
      );
      return;
    }
    const kind = bytes[4] === KIND_MATERIALS ? 'materials' : 'progress';
    const answer = await this.udpPacket(kind, bytes);
    if (answer.kind === 'packet') ws.send(answer.bytes);
    else if (answer.kind === 'error') {
      ws.send(
        JSON.stringify(
          sessionFrame('error', this.sessionId, {
            code: answer.error.error,
            message: answer.error.message,
            details: answer.error.details,
          }),
        ),
      );
      if (answer.error.error === 'PAYLOAD_TOO_LARGE') ws.close(CLOSE.MESSAGE_TOO_BIG, 'Packet too large');
    }
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
    this.pushUdp();
  }

  private async tellQueue(before: CraftingSession, after: CraftingSession): Promise<void> {
    const queue = craftingQueueActor(this.env, this.tenantId, after.playerId);
    try {
      if (isFinished(after.status) && !isFinished(before.status)) {
        const gained =
          after.status === 'completed' && after.output ? { [after.output.itemId]: after.output.quantity } : after.returned;
        await queue.sessionFinished(after.id, after.status as 'completed' | 'cancelled' | 'failed', gained);
      } else if (
        (after.status === 'running' || after.status === 'paused') &&
        (before.status !== after.status || before.stageIndex !== after.stageIndex)
      ) {
        await queue.sessionReport(after.id, after.status, progressOf(after, this.clock()).remainingMs);
      }
    } catch (err) {
      console.error(`crafting: queue report for ${after.id} failed`, err);
    }
  }

  private setMaterials(copy: MaterialsCopy): void {
    if (this.materialsCopy && copy.version < this.materialsCopy.version) return;
    this.materialsCopy = copy;
    this.store.saveMaterials(copy);
  }

  private materialNotice(status: 'waiting' | 'available', missing: Materials) {
    return {
      status,
      missing,
      materials: this.materialsCopy?.materials ?? {},
      version: this.materialsCopy?.version ?? 0,
      sessionStatus: this.current?.session.status,
    };
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
    if (name === TIMER_UDP) this.pushUdp();
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
