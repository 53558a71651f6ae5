import type { Identity } from '../auth/identity';
import { redeemTicket } from '../auth/tickets';
import { verifyAccessToken } from '../auth/tokens';
import { Budgets } from '../core/budgets';
import { CallBatcher } from '../core/call-batcher';
import { revokedAmong } from '../db/revocations';
import { eventPacket, type SocketPacket } from '../dialects/socketio';
import { Coalescer } from '../domain/coalesce';
import {
  buildMessage,
  CLASS_A_WINDOW_MS,
  errorEvent,
  type HubMessage,
  homeShard,
  INTERACTION_CLASSES,
  interactionClassOf,
  MAX_ROOMS_PER_SOCKET,
  MESSAGES_PER_MINUTE,
  messageInput,
  type PresenceInput,
  parseInput,
  presenceInput,
  RECOVERY_WINDOW_MS,
  type RoomPresenceEntry,
  roomInput,
  shardCount,
  shardOfId,
} from '../domain/hub';
import type { Env } from '../env';
import { ApiError, fromReply, isApiError } from '../errors';
import { DEFAULT_ENGINE_SETTINGS, type EngineSession, type EngineSettings } from './engineio-actor';
import { HubStore, type LoggedPacket, type PresenceState } from './hub-store';
import { eventBusActor, hubActor } from './keys';
import { type Ack, type ConnectResult, SocketIoActor, type SocketIoState, type SocketRecord } from './socketio-actor';

/** Who a socket is, from its verified token, and its message limiter state. */
export interface HubSocketData {
  tenantId: string;
  userId: string;
  username: string;
  role: string;
  clientId: string;
  /** The access token's `exp` (seconds), `jti` and session: the socket is disconnected at `exp` or on revocation. */
  exp?: number;
  jti?: string;
  sessionId?: string;
}

/** How often open sockets' sessions are checked against D1 for revocation (logout, role change, reuse). */
export const HUB_SESSION_CHECK_MS = 5_000;
const TIMER_SESSIONS = 'hub:sessions';

type Session = EngineSession<SocketIoState<HubSocketData>>;
type Socket = SocketRecord<HubSocketData>;

/** Who a delivery reaches on a shard. */
export type DeliveryTarget = { room: string } | { userId: string } | { rooms: string[]; excludeUserId: string };

export interface Delivery {
  tenantId: string;
  target: DeliveryTarget;
  /** `[event, ...args]`. */
  packet: unknown[];
  /** Logged for connection-state recovery (an offset is appended). Class A traffic is not. */
  store: boolean;
  /** Socket id left out (the sender). */
  exclude?: string;
}

export type RecoveryAnswer =
  | { kind: 'none' }
  | { kind: 'moved'; to: number }
  | { kind: 'ok'; socketId: string; clientId: string; rooms: string[]; packets: LoggedPacket[] };

const TIMER_EXPIRE = 'hub:expire';
const CONNECT_TIMEOUT_MS = 45_000;
const randomId = (): string => crypto.randomUUID().replaceAll('-', '').slice(0, 20);

/**
 * A shard of seed 003's Socket.IO hub (`/socket.io/`), key `hub:<n>`. Sessions land on a shard at the handshake
 * and their sid names it; after CONNECT each socket belongs to its token's tenant. Room broadcasts, direct
 * messages and presence reach every shard (each shard delivers to its own members and logs for its own recovery
 * sessions); a user's presence and room counts live on the user's home shard. Rules in `src/domain/hub.ts`.
 */
export class Hub extends SocketIoActor<HubSocketData> {
  protected readonly namespaces = ['/'] as const;
  private readonly store: HubStore;
  /** Message budgets per user in this shard (100 a minute, a sliding window). */
  private readonly budgets: Budgets;
  /** Class A messages, latest wins per sender, target and type (in memory: class A is never stored). */
  private readonly classA: Coalescer<Delivery>;
  /** Deliveries to each other shard, coalesced: one RPC in flight per peer, the ones queued behind it go as one. */
  private readonly peers = new Map<number, CallBatcher<Delivery, string[]>>();
  /** Whether this instance has set the log's expiry timer since it last fired (memory: a new instance sets it again). */
  private expireArmed = false;
  /**
   * Deliveries on this shard, coalesced the same way: one batch's log rows are committed together (one SQLite
   * commit, awaited with `storage.sync()`), and deliveries that arrive meanwhile wait for the next batch.
   */
  private readonly local = new CallBatcher<Delivery, string[]>(async (deliveries) => {
    const reached = deliveries.map((d) => this.deliver(d));
    await this.ctx.storage.sync();
    return reached;
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new HubStore(this.sql);
    this.budgets = new Budgets(ctx.storage, 'hub_budget|', 'hub_budgets');
    this.classA = new Coalescer<Delivery>(
      CLASS_A_WINDOW_MS,
      (run, ms) => setTimeout(run, ms),
      (delivery) => this.fanout(delivery),
      (err) => console.error('hub: a coalesced class A delivery failed', err),
    );
  }

  // ---- settings ---------------------------------------------------------------------------------------------

  protected engineSettings(): EngineSettings {
    return DEFAULT_ENGINE_SETTINGS;
  }

  protected connectTimeoutMs(): number {
    return CONNECT_TIMEOUT_MS;
  }

  protected newSid(): string {
    return `${this.shardIndex()}.${randomId()}`;
  }

  private shardIndex(): number {
    const m = /^hub:(\d+)$/.exec(this.ctx.id.name ?? '');
    return m ? Number(m[1]) : 0;
  }

  private shardTotal(): number {
    return shardCount(this.env.HUB_SHARDS);
  }

  private shard(index: number): DurableObjectStub<Hub> | null {
    return index === this.shardIndex() ? null : hubActor(this.env, index);
  }

  // ---- CONNECT: the token, then recovery ------------------------------------------------------------------

  protected async authorize(
    session: Session,
    _nsp: string,
    auth: Record<string, unknown>,
  ): Promise<ConnectResult<HubSocketData>> {
    // A connection ticket (POST /api/auth/ticket) in `auth.ticket` or `?ticket=` keeps the JWT out of URLs.
    const ticket = typeof auth.ticket === 'string' && auth.ticket ? auth.ticket : session.query.ticket;
    const token = auth.token;
    if (!ticket && (typeof token !== 'string' || token.length === 0)) {
      return {
        ok: false,
        message: 'Authentication required: auth.token (an access token) or auth.ticket (a connection ticket)',
        data: { code: 'AUTH_FAILED' },
      };
    }
    let identity: Identity;
    try {
      identity = ticket ? await redeemTicket(this.env, ticket) : await verifyAccessToken(this.env, token as string);
    } catch (err) {
      if (isApiError(err)) return { ok: false, message: err.message, data: errorEvent(err) };
      console.error('hub: token verification failed', err);
      return { ok: false, message: 'Internal error', data: { code: 'INTERNAL_ERROR' } };
    }
    const queryClientId = session.query.clientId;
    const clientId = queryClientId && /^[A-Za-z0-9_.:-]{1,128}$/.test(queryClientId) ? queryClientId : `client-${randomId()}`;
    const data: HubSocketData = {
      tenantId: identity.tenantId,
      userId: identity.userId,
      username: identity.username,
      role: identity.role,
      clientId,
      ...sessionOf(identity),
    };
    const now = Date.now();
    this.watchSessions(data, now);

    const recovered = typeof auth.pid === 'string' ? await this.recover(data, auth.pid, auth.offset) : null;
    const socket: Socket = recovered
      ? { id: recovered.socketId, nsp: '/', pid: auth.pid as string, data: { ...data, clientId: recovered.clientId } }
      : { id: randomId(), nsp: '/', pid: `${this.shardIndex()}.${randomId()}`, data };
    const replay: SocketPacket[] = [];
    if (recovered) {
      for (const p of recovered.packets) {
        // Packets from another shard are logged again here: offsets are this shard's from now on.
        const seq = recovered.local ? p.seq : this.store.append(data.tenantId, `s:${socket.id}`, p.packet, undefined, now);
        replay.push(eventPacket('/', String(p.packet[0]), [...p.packet.slice(1), String(seq)]));
      }
    }
    this.store.connect({
      pid: socket.pid as string,
      socketId: socket.id,
      tenantId: data.tenantId,
      userId: data.userId,
      clientId: socket.data.clientId,
      sinceSeq: this.store.headSeq(),
      sid: session.sid,
    });
    await this.home(data).userRoomChange(data.tenantId, data.userId, '*', 1);
    if (recovered) {
      for (const roomId of recovered.rooms) {
        if (this.store.join(data.tenantId, roomId, socket.id, data.userId, session.sid, this.store.headSeq())) {
          await this.roomPresence(socket, roomId, 1);
        }
      }
    }
    return { ok: true, socket, replay };
  }

  protected override onSocketConnected(session: Session, socket: Socket): void {
    this.emit(session, socket, 'connected', [
      {
        connectionId: socket.id,
        clientId: socket.data.clientId,
        userId: socket.data.userId,
        serverTime: new Date().toISOString(),
        interactionClasses: [...INTERACTION_CLASSES],
      },
    ]);
  }

  /** Finds the recovery session `pid` on whichever shard holds it now, and takes it over. */
  private async recover(
    data: HubSocketData,
    pid: string,
    offset: unknown,
  ): Promise<(Extract<RecoveryAnswer, { kind: 'ok' }> & { local: boolean }) | null> {
    const total = this.shardTotal();
    let shard = shardOfId(pid, total);
    const after = typeof offset === 'string' && /^\d{1,15}$/.test(offset) ? Number(offset) : 0;
    for (let hop = 0; shard !== null && hop < total; hop++) {
      const peer = this.shard(shard);
      const answer = peer
        ? await peer.takeRecovery(pid, after, data.tenantId, data.userId, this.shardIndex())
        : this.takeRecovery(pid, after, data.tenantId, data.userId, this.shardIndex());
      if (answer.kind === 'ok') return { ...answer, local: peer === null };
      if (answer.kind === 'none') return null;
      shard = answer.to;
    }
    return null;
  }

  /** RPC: hands recovery session `pid` over to shard `to`, if it is this tenant's and user's and still in its window. */
  takeRecovery(pid: string, offset: number, tenantId: string, userId: string, to: number): RecoveryAnswer {
    const row = this.store.recovery(pid);
    if (!row) return { kind: 'none' };
    if (row.movedTo !== null) return row.movedTo === this.shardIndex() ? { kind: 'none' } : { kind: 'moved', to: row.movedTo };
    if (row.tenantId !== tenantId || row.userId !== userId) return { kind: 'none' };
    const now = Date.now();
    if (row.disconnectedAt === null) {
      // Still listed as connected: only a session this instance lost (eviction) may be taken over.
      if (row.sid && this.session(row.sid)) return { kind: 'none' };
    } else if (now - row.disconnectedAt > RECOVERY_WINDOW_MS) {
      return { kind: 'none' };
    }
    const { rooms, packets } = this.store.take(row, offset, to);
    return { kind: 'ok', socketId: row.socketId, clientId: row.clientId, rooms, packets };
  }

  // ---- events -----------------------------------------------------------------------------------------------

  protected async onSocketEvent(
    session: Session,
    socket: Socket,
    event: string | number,
    args: unknown[],
    ack: Ack | null,
  ): Promise<void> {
    const now = Date.now();
    // An event never extends a session: past `exp` the socket ends, whatever it sends (a late `auth` too).
    if (socket.data.exp !== undefined && socket.data.exp * 1000 <= now) {
      await this.endSocket(session, socket, 'Access token expired');
      return;
    }
    if (event === 'auth') {
      // In-band re-authentication before `exp` (as `{"type":"auth"}` on the other dialects): not counted.
      await this.reauthenticate(session, socket, args[0], ack);
      return;
    }
    if (event === 'ping') {
      // Infrastructure heartbeat (the seed's "N/A" class): answered, never counted.
      this.emit(session, socket, 'pong', []);
      ack?.([]);
      return;
    }
    // Per user in this shard, not per socket: a reconnect does not hand out a fresh budget.
    const decision = this.budgets.spend(
      `msg|${socket.data.tenantId}|${socket.data.userId}`,
      { limit: MESSAGES_PER_MINUTE, windowMs: 60_000 },
      now,
    );
    try {
      if (!decision.allowed) {
        throw new ApiError('RATE_LIMIT_EXCEEDED', `More than ${MESSAGES_PER_MINUTE} messages per minute`, {
          details: { limit: MESSAGES_PER_MINUTE, retryAfterMs: decision.retryAfterMs },
        });
      }
      switch (event) {
        case 'message':
          return await this.onMessage(session, socket, args[0], ack);
        case 'join_room':
          return await this.onJoin(session, socket, args[0], ack);
        case 'leave_room':
          return await this.onLeave(session, socket, args[0], ack);
        case 'presence_update':
          return await this.onPresence(socket, args[0], ack);
        default:
          throw new ApiError('INVALID_REQUEST', `Unknown event "${String(event)}"`, { details: { event } });
      }
    } catch (err) {
      const apiError = isApiError(err) ? err : new ApiError('SERVER_ERROR', 'Internal error handling the event');
      if (!isApiError(err)) console.error(`hub: event ${String(event)} failed`, err);
      const payload = errorEvent(apiError);
      this.emit(session, socket, 'error', [payload]);
      ack?.([payload]);
    }
  }

  private async onMessage(session: Session, socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    const input = parseInput(messageInput, raw, 'message');
    const cls = interactionClassOf(input);
    const { tenantId, userId } = socket.data;
    if (input.roomId !== undefined && !this.store.roomsOf(socket.id).includes(input.roomId)) {
      throw new ApiError('AUTHORIZATION_FAILED', `Join room "${input.roomId}" before sending to it`, {
        details: { roomId: input.roomId },
      });
    }
    const message = buildMessage(input, cls, socket.data, crypto.randomUUID(), Date.now());
    const target: DeliveryTarget = input.roomId !== undefined ? { room: input.roomId } : { userId: input.recipientId as string };
    if (cls === 'CLASS_A') {
      // Fire and forget, coalesced: a burst of one sender's presence-like messages of one type to one room or user
      // goes out as its first and its latest within CLASS_A_WINDOW_MS. Acked at once, as before, with its id.
      const key = `${socket.id}\u0000${'room' in target ? `r:${target.room}` : `u:${target.userId}`}\u0000${input.type}`;
      await this.classA.offer(key, { tenantId, target, packet: ['message', message], store: false, exclude: socket.id }).done;
      ack?.([{ messageId: message.messageId }]);
      return;
    }
    // C goes live; C and B are logged on every shard before the ack (durably accepted, recoverable).
    const reached = await this.fanout({
      tenantId,
      target,
      packet: ['message', message],
      store: true,
      exclude: socket.id,
    });
    if (cls === 'CLASS_B') {
      const audience = input.roomId !== undefined ? [...new Set([...reached, userId])] : [input.recipientId as string];
      await this.publishToBus(tenantId, message, audience);
    }
    this.emit(session, socket, 'message_ack', [{ messageId: message.messageId }]);
    ack?.([{ messageId: message.messageId }]);
  }

  private async onJoin(session: Session, socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    const { roomId } = parseInput(roomInput, raw, 'join_room');
    const rooms = this.store.roomsOf(socket.id);
    if (!rooms.includes(roomId) && rooms.length >= MAX_ROOMS_PER_SOCKET) {
      throw new ApiError('INVALID_REQUEST', `A connection may be in at most ${MAX_ROOMS_PER_SOCKET} rooms`, {
        details: { roomId, limit: MAX_ROOMS_PER_SOCKET },
      });
    }
    if (this.store.join(socket.data.tenantId, roomId, socket.id, socket.data.userId, session.sid, this.store.headSeq())) {
      await this.roomPresence(socket, roomId, 1);
    }
    this.emit(session, socket, 'room_joined', [{ roomId }]);
    ack?.([{ roomId }]);
  }

  private async onLeave(session: Session, socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    const { roomId } = parseInput(roomInput, raw, 'leave_room');
    if (this.store.leave(socket.data.tenantId, roomId, socket.id)) await this.roomPresence(socket, roomId, -1);
    this.emit(session, socket, 'room_left', [{ roomId }]);
    ack?.([{ roomId }]);
  }

  private async onPresence(socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    const input = parseInput(presenceInput, raw, 'presence_update');
    const { tenantId, userId } = socket.data;
    const change = await this.home(socket.data).presenceChange(tenantId, userId, input);
    if (change.changed && change.rooms.length > 0) {
      await this.fanout({
        tenantId,
        target: { rooms: change.rooms, excludeUserId: userId },
        packet: [
          'presence_update',
          { userId, status: input.status, metadata: input.metadata ?? {}, timestamp: new Date().toISOString() },
        ],
        store: false,
      });
    }
    ack?.([]);
  }

  protected override async onSocketDisconnected(_session: Session, socket: Socket, reason: string): Promise<void> {
    const rooms = this.store.roomsOf(socket.id);
    const now = Date.now();
    if (reason === 'client namespace disconnect') {
      this.store.forget(socket.id);
    } else {
      this.store.detach(socket.id, now);
      await this.timers.scheduleNoLaterThan(TIMER_EXPIRE, now + RECOVERY_WINDOW_MS + 1_000);
    }
    for (const roomId of rooms) await this.roomPresence(socket, roomId, -1);
    await this.home(socket.data).userRoomChange(socket.data.tenantId, socket.data.userId, '*', -1);
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name === TIMER_SESSIONS) return this.checkSessions(now);
    if (name !== TIMER_EXPIRE) return;
    this.expireArmed = false;
    this.store.expire(now, RECOVERY_WINDOW_MS);
    if (this.store.hasDetached()) await this.timers.schedule(TIMER_EXPIRE, now + 30_000);
  }

  // ---- token lifetime: expiry, revocation, in-band refresh --------------------------------------------------

  /** Wakes the session check at the earlier of the token's `exp` and the next revocation read. */
  private watchSessions(data: HubSocketData, now: number): void {
    if (data.exp === undefined && data.jti === undefined) return;
    const at = Math.min(data.exp !== undefined ? data.exp * 1000 : Number.POSITIVE_INFINITY, now + HUB_SESSION_CHECK_MS);
    void this.timers.scheduleNoLaterThan(TIMER_SESSIONS, at);
  }

  /**
   * Disconnects sockets whose token expired (`AUTH_FAILED` "Access token expired") or whose token or session was
   * revoked (`AUTH_FAILED` "Session revoked"), reading every open socket's revocation in one D1 query.
   */
  private async checkSessions(now: number): Promise<void> {
    const open: Array<{ session: Session; socket: Socket }> = [];
    for (const session of this.allSessions()) {
      for (const socket of Object.values(session.state.sockets)) {
        if (socket.data.exp !== undefined && socket.data.exp * 1000 <= now)
          await this.endSocket(session, socket, 'Access token expired');
        else if (socket.data.jti) open.push({ session, socket });
      }
    }
    if (open.length === 0) return;
    let revoked = new Set<string>();
    try {
      revoked = await revokedAmong(
        this.env.DB,
        open.map(({ socket }) => ({ jti: socket.data.jti as string, sessionId: socket.data.sessionId })),
      );
    } catch (err) {
      console.error('hub: revocation check failed; retrying', err);
    }
    for (const { session, socket } of open) {
      if (revoked.has(socket.data.jti as string)) await this.endSocket(session, socket, 'Session revoked');
      else this.watchSessions(socket.data, now);
    }
  }

  /** Tells the socket why (seed 003's `error` event) and disconnects it (the client does not reconnect by itself). */
  private async endSocket(session: Session, socket: Socket, message: string): Promise<void> {
    this.emit(session, socket, 'error', [{ code: 'AUTH_FAILED', message }]);
    await this.disconnectSocket(session, socket, message === 'Access token expired' ? 'token expired' : 'session revoked');
  }

  /** `auth` event `{token}`: a fresh access token of the same user replaces the socket's; the ack says `exp`. */
  private async reauthenticate(session: Session, socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    try {
      const token = (raw as { token?: unknown } | null)?.token;
      if (typeof token !== 'string' || !token) {
        throw new ApiError('INVALID_REQUEST', 'auth needs { token: <access token> }', { details: { field: 'token' } });
      }
      const fresh = await verifyAccessToken(this.env, token);
      if (fresh.tenantId !== socket.data.tenantId || fresh.userId !== socket.data.userId) {
        throw new ApiError('AUTHORIZATION_FAILED', "The new token is another user's", { details: { field: 'token' } });
      }
      Object.assign(socket.data, sessionOf(fresh), { role: fresh.role });
      this.persist(session);
      this.watchSessions(socket.data, Date.now());
      const answer = { ok: true, exp: fresh.exp };
      this.emit(session, socket, 'auth_ok', [answer]);
      ack?.([answer]);
    } catch (err) {
      const apiError = isApiError(err) ? err : new ApiError('SERVER_ERROR', 'Internal error checking the token');
      const payload = errorEvent(apiError);
      this.emit(session, socket, 'error', [payload]);
      ack?.([payload]);
    }
  }

  // ---- presence: the user's home shard ----------------------------------------------------------------------

  private home(data: { tenantId: string; userId: string }): Hub | DurableObjectStub<Hub> {
    return this.shard(homeShard(data.tenantId, data.userId, this.shardTotal())) ?? this;
  }

  /** A socket of the user entered (+1) or left (-1) a room: first in and last out are what members see. */
  private async roomPresence(socket: Socket, roomId: string, delta: 1 | -1): Promise<void> {
    const { tenantId, userId } = socket.data;
    const change = await this.home(socket.data).userRoomChange(tenantId, userId, roomId, delta);
    if (!change.announce) return;
    await this.fanout({
      tenantId,
      target: { rooms: [roomId], excludeUserId: userId },
      packet: [
        'presence_update',
        {
          userId,
          status: delta > 0 ? change.presence.status : 'offline',
          metadata: change.presence.metadata,
          roomId,
          timestamp: new Date().toISOString(),
        },
      ],
      store: false,
    });
  }

  /** RPC on the home shard: counts the user's sockets per room (`*`: all of them). */
  userRoomChange(
    tenantId: string,
    userId: string,
    roomId: string,
    delta: number,
  ): { announce: boolean; presence: PresenceState } {
    const count = this.store.userRoomDelta(tenantId, userId, roomId, delta);
    const presence = this.store.presence(tenantId, userId);
    if (roomId === '*' && count === 0) this.store.clearPresence(tenantId, userId);
    const announce = roomId !== '*' && ((delta > 0 && count === delta) || (delta < 0 && count === 0));
    return { announce, presence };
  }

  /** RPC on the home shard: records a presence change; `changed` is false when nothing changed (one per change). */
  presenceChange(tenantId: string, userId: string, input: PresenceInput): { changed: boolean; rooms: string[] } {
    const before = this.store.presence(tenantId, userId);
    const next: PresenceState = { status: input.status, metadata: input.metadata ?? {} };
    const changed = before.status !== next.status || JSON.stringify(before.metadata) !== JSON.stringify(next.metadata);
    if (changed) this.store.setPresence(tenantId, userId, next, Date.now());
    return { changed, rooms: this.store.userRooms(tenantId, userId).filter((r) => r !== '*') };
  }

  /** RPC on every shard: a page of its home users present in a room (`GET /api/hub/rooms/{roomId}/presence`). */
  presencePage(tenantId: string, roomId: string, after: string, limit: number): RoomPresenceEntry[] {
    return this.store.roomPresence(tenantId, roomId, after, limit);
  }

  // ---- delivery across shards -------------------------------------------------------------------------------

  /** Delivers on every shard (each to its own members); the user ids of the members reached or waiting. */
  private async fanout(delivery: Delivery): Promise<string[]> {
    const total = this.shardTotal();
    const calls: Array<Promise<string[]>> = [];
    // Peers first: their calls leave before this shard's own log rows are written.
    for (let i = 0; i < total; i++) if (i !== this.shardIndex()) calls.push(this.peerDeliveries(i).submit(delivery));
    calls.push(this.local.submit(delivery));
    return [...new Set((await Promise.all(calls)).flat())];
  }

  private peerDeliveries(index: number): CallBatcher<Delivery, string[]> {
    let batcher = this.peers.get(index);
    if (!batcher) {
      // A fresh handle per call: a handle whose call threw may stay broken.
      batcher = new CallBatcher((deliveries) => hubActor(this.env, index).deliverAll(deliveries));
      this.peers.set(index, batcher);
    }
    return batcher;
  }

  /** RPC: `deliver` for each delivery, in order (a peer's coalesced batch). */
  deliverAll(deliveries: Delivery[]): string[][] {
    return deliveries.map((d) => this.deliver(d));
  }

  /** Delivers one packet to this shard's matching sockets (logging it first when asked); also an RPC. */
  deliver(delivery: Delivery): string[] {
    const { tenantId, target } = delivery;
    let sockets: ReadonlyArray<{ socketId: string; sid: string; userId: string }> = [];
    let userIds: string[] = [];
    let waiting = false;
    if ('room' in target) {
      const members = this.store.roomMembers(tenantId, target.room);
      sockets = members.connected;
      userIds = members.userIds;
      waiting = members.detached;
    } else if ('userId' in target) {
      const here = this.store.userSockets(tenantId, target.userId);
      sockets = here.sockets;
      waiting = here.detached;
      if (sockets.length || waiting) userIds = [target.userId];
    } else {
      const seen = new Set<string>();
      const reached: Array<{ socketId: string; sid: string; userId: string }> = [];
      for (const room of target.rooms) {
        for (const s of this.store.roomMembers(tenantId, room).connected) {
          if (s.userId === target.excludeUserId || seen.has(s.socketId)) continue;
          seen.add(s.socketId);
          reached.push(s);
        }
      }
      sockets = reached;
    }
    if (sockets.length === 0 && !waiting) return userIds;
    let args = delivery.packet.slice(1);
    if (delivery.store) {
      const targetKey = 'room' in target ? `r:${target.room}` : 'userId' in target ? `u:${target.userId}` : null;
      if (targetKey) {
        const seq = this.store.append(tenantId, targetKey, delivery.packet, delivery.exclude, Date.now());
        args = [...args, String(seq)];
        if (!this.expireArmed) {
          // Armed once per firing: for later rows `scheduleNoLaterThan` would keep the earlier time anyway.
          this.expireArmed = true;
          void this.timers.scheduleNoLaterThan(TIMER_EXPIRE, Date.now() + RECOVERY_WINDOW_MS + 1_000);
        }
      }
    }
    const prepared = this.preparePacket(eventPacket('/', String(delivery.packet[0]), args));
    for (const s of sockets) {
      if (s.socketId === delivery.exclude) continue;
      const session = this.session(s.sid);
      if (session?.state.sockets['/']?.id === s.socketId) this.sendPrepared(session, prepared);
    }
    return userIds;
  }

  private async publishToBus(tenantId: string, message: HubMessage, audience: string[]): Promise<void> {
    // Stored before the ack: a class B message is readable through GET /api/events/poll by its audience.
    fromReply(
      await eventBusActor(this.env, tenantId).publish([
        { eventId: message.messageId, eventType: 'message', payload: message, audience, schemaVersion: '1.0' },
      ]),
    );
  }
}

/** The parts of an identity that bound a socket's life. */
function sessionOf(identity: Identity): Pick<HubSocketData, 'exp' | 'jti' | 'sessionId'> {
  return {
    ...(identity.exp !== undefined ? { exp: identity.exp } : {}),
    ...(identity.jti ? { jti: identity.jti } : {}),
    ...(identity.sessionId ? { sessionId: identity.sessionId } : {}),
  };
}
