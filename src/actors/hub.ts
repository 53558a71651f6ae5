import { Budgets } from '../core/budgets';
import type { SocketPacket } from '../dialects/socketio';
import { Coalescer } from '../domain/coalesce';
import {
  buildMessage,
  CLASS_A_WINDOW_MS,
  type Delivery,
  type DeliveryTarget,
  errorEvent,
  type HubMessage,
  homeShard,
  INTERACTION_CLASSES,
  interactionClassOf,
  logTarget,
  MAX_ROOMS_PER_SOCKET,
  MESSAGES_PER_MINUTE,
  messageInput,
  type PresenceInput,
  type PresenceState,
  parseInput,
  presenceInput,
  RECOVERY_WINDOW_MS,
  type RecoveryAnswer,
  type RoomPresenceEntry,
  roomInput,
  shardCount,
} from '../domain/hub';
import type { Env } from '../env';
import { ApiError, fromReply, isApiError } from '../errors';
import { DEFAULT_ENGINE_SETTINGS, type EngineSession, type EngineSettings } from './engineio-actor';
import { HubDelivery } from './hub-delivery';
import { type HubSocketData, identify } from './hub-identity';
import { HubPresenceStore } from './hub-presence-store';
import { HubRecovery } from './hub-recovery';
import { HubStore } from './hub-store';
import { HubTokenWatch } from './hub-token-watch';
import { eventBusActor, hubActor } from './keys';
import { type Ack, type ConnectResult, SocketIoActor, type SocketIoState, type SocketRecord } from './socketio-actor';

export type { Delivery, DeliveryTarget, RecoveryAnswer } from '../domain/hub';
export type { HubSocketData } from './hub-identity';
export { HUB_SESSION_CHECK_MS } from './hub-token-watch';

const TIMER_SESSIONS = 'hub:sessions';

type Session = EngineSession<SocketIoState<HubSocketData>>;
type Socket = SocketRecord<HubSocketData>;

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
  /** The presence and room counts of the users whose home shard this is. */
  private readonly homeUsers: HubPresenceStore;
  /** Message budgets per user in this shard (100 a minute, a sliding window). */
  private readonly budgets: Budgets;
  /** Class A messages, latest wins per sender, target and type (in memory: class A is never stored). */
  private readonly classA: Coalescer<Delivery>;
  /** Whether this instance has set the log's expiry timer since it last fired (memory: a new instance sets it again). */
  private expireArmed = false;
  private readonly delivery: HubDelivery;
  private readonly tokens: HubTokenWatch;
  private readonly recovery: HubRecovery;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new HubStore(this.sql);
    this.homeUsers = new HubPresenceStore(this.sql);
    this.delivery = new HubDelivery({
      env,
      store: this.store,
      index: () => this.shardIndex(),
      total: () => this.shardTotal(),
      prepare: (packet: SocketPacket) => this.preparePacket(packet),
      send: (sid, socketId, prepared) => {
        const session = this.session(sid);
        if (session?.state.sockets['/']?.id === socketId) this.sendPrepared(session, prepared);
      },
      sync: () => this.ctx.storage.sync(),
      logged: () => this.armExpiry(),
    });
    this.recovery = new HubRecovery({
      store: this.store,
      index: () => this.shardIndex(),
      total: () => this.shardTotal(),
      take: async (index, pid, offset, tenantId, userId) => {
        const peer = this.shard(index);
        const to = this.shardIndex();
        return peer ? peer.takeRecovery(pid, offset, tenantId, userId, to) : this.takeRecovery(pid, offset, tenantId, userId, to);
      },
      live: (sid) => this.session(sid) !== null,
    });
    this.tokens = new HubTokenWatch({
      env,
      wakeAt: (at) => void this.timers.scheduleNoLaterThan(TIMER_SESSIONS, at),
      sessions: () => this.allSessions(),
      emit: (session, socket, event, args) => this.emit(session, socket, event, args),
      persist: (session) => this.persist(session),
      end: (session, socket, message) => this.endSocket(session, socket, message),
    });
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
    const identified = await identify(this.env, auth, session.query, randomId);
    if (!identified.ok) return identified;
    const { data } = identified;
    const now = Date.now();
    this.tokens.watch(data, now);

    const recovered = typeof auth.pid === 'string' ? await this.recovery.find(data, auth.pid, auth.offset) : null;
    const socket: Socket = recovered
      ? { id: recovered.socketId, nsp: '/', pid: auth.pid as string, data: { ...data, clientId: recovered.clientId } }
      : { id: randomId(), nsp: '/', pid: `${this.shardIndex()}.${randomId()}`, data };
    const replay = recovered ? this.recovery.replay(recovered, data.tenantId, socket.id, now) : [];
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

  /** RPC: hands recovery session `pid` over to shard `to`, if it is this tenant's and user's and still in its window. */
  takeRecovery(pid: string, offset: number, tenantId: string, userId: string, to: number): RecoveryAnswer {
    return this.recovery.take(pid, offset, tenantId, userId, to);
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
      await this.tokens.reauthenticate(session, socket, args[0], ack);
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
      const key = `${socket.id}\u0000${logTarget(target)}\u0000${input.type}`;
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
    if (name === TIMER_SESSIONS) return this.tokens.check(now);
    if (name !== TIMER_EXPIRE) return;
    this.expireArmed = false;
    this.store.expire(now, RECOVERY_WINDOW_MS);
    if (this.store.hasDetached()) await this.timers.schedule(TIMER_EXPIRE, now + 30_000);
  }

  // ---- token lifetime (`hub-token-watch.ts`) ----------------------------------------------------------------

  /** Tells the socket why (seed 003's `error` event) and disconnects it (the client does not reconnect by itself). */
  private async endSocket(session: Session, socket: Socket, message: 'Access token expired' | 'Session revoked'): Promise<void> {
    this.emit(session, socket, 'error', [{ code: 'AUTH_FAILED', message }]);
    await this.disconnectSocket(session, socket, message === 'Access token expired' ? 'token expired' : 'session revoked');
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
    const status = delta > 0 ? change.presence.status : 'offline';
    const update = { userId, status, metadata: change.presence.metadata, roomId, timestamp: new Date().toISOString() };
    await this.fanout({
      tenantId,
      target: { rooms: [roomId], excludeUserId: userId },
      packet: ['presence_update', update],
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
    return this.homeUsers.userRoomChange(tenantId, userId, roomId, delta);
  }

  /** RPC on the home shard: records a presence change; `changed` is false when nothing changed (one per change). */
  presenceChange(tenantId: string, userId: string, input: PresenceInput): { changed: boolean; rooms: string[] } {
    return this.homeUsers.presenceChange(tenantId, userId, { status: input.status, metadata: input.metadata ?? {} }, Date.now());
  }

  /** RPC on every shard: a page of its home users present in a room (`GET /api/hub/rooms/{roomId}/presence`). */
  presencePage(tenantId: string, roomId: string, after: string, limit: number): RoomPresenceEntry[] {
    return this.homeUsers.roomPresence(tenantId, roomId, after, limit);
  }

  // ---- delivery across shards -------------------------------------------------------------------------------

  /** Delivers on every shard (each to its own members); the user ids of the members reached or waiting. */
  private fanout(delivery: Delivery): Promise<string[]> {
    return this.delivery.fanout(delivery);
  }

  /** RPC: a peer's coalesced deliveries, each to this shard's own members, in order. */
  deliverAll(deliveries: Delivery[]): string[][] {
    return this.delivery.deliverAll(deliveries);
  }

  /** The log's expiry timer, armed once per firing: for later rows `scheduleNoLaterThan` keeps the earlier time. */
  private armExpiry(): void {
    if (this.expireArmed) return;
    this.expireArmed = true;
    void this.timers.scheduleNoLaterThan(TIMER_EXPIRE, Date.now() + RECOVERY_WINDOW_MS + 1_000);
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
