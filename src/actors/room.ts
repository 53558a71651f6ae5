import { type Attachment, RealtimeActor } from '../core/actor';
import type { ActorIdentity, Connection, Dialect } from '../core/dialect';
import type { EventInput } from '../core/event-log';
import { idempotencyScope } from '../core/idempotency';
import type { LoggedEvent } from '../core/protocol';
import { type ActivityRow, upsertActivity } from '../db/activities';
import {
  DIALECT as COLLAB,
  CURSOR_METHOD,
  CURSOR_MOVES_PER_MINUTE,
  createCollabDialect,
  ephemeralFrame,
  REQUESTS_PER_MINUTE,
} from '../dialects/collab';
import { createOrchestratorDialect, DIALECT as ORCHESTRATOR, type PublishedEvent } from '../dialects/orchestrator';
import type { Activity } from '../domain/activity';
import {
  EVENT_PAYLOADS,
  initialState,
  type OrchestratorState,
  PLANNING_KEEPALIVE_MS,
  planningActive,
  planningKeepalive,
  reduceAll,
  validatePublish,
  view,
} from '../domain/orchestrator';
import {
  applyMethod,
  connectionClosed,
  createRoomState,
  nextDeadline,
  type RoomCaller,
  type RoomEvent,
  type RoomSnapshot,
  type RoomState,
  roomSnapshot,
  tick,
} from '../domain/room';
import { isConnected } from '../domain/room-presence';
import type { Env } from '../env';
import { ApiError, type Failure, toReply } from '../errors';
import { CollabStore } from './collab-store';
import { parseRoomKey, type RoomKind } from './keys';

const KEEPALIVE_TIMER = 'orchestrator:keepalive';
/** One outbox row per published event: only rows queued before batches existed still have this kind. */
const OUTBOX_ORCHESTRATOR = 'orchestrator_event';
/** One outbox row per published batch: its events' D1 rows. */
const OUTBOX_ORCHESTRATOR_BATCH = 'orchestrator_events';
/** Flushes batched pen strokes and coalesced cursors when the domain's `nextDeadline` comes. */
const TICK_TIMER = 'collab:tick';
const OUTBOX_ACTIVITY = 'activity';
/** The scope of every collaboration-room event in the log. */
const ROOM_SCOPE = 'room';

/** The D1 row of a published orchestrator event (table `orchestrator_events`). */
export interface OrchestratorEventRow {
  tenantId: string;
  eventId: string;
  epoch: string;
  sequence: number;
  type: string;
  scope: string;
  payload: unknown;
  timestamp: string;
}

export type Published = PublishedEvent;

/**
 * A room actor: a collaboration room (`<tenantId>:room:<roomId>`, seed 001, dialect `collab`), or the
 * orchestrator broadcast channel (`<tenantId>:orchestrator`, seed 004), which is a room with a publish API.
 * Each connection picks its dialect; each dialect only acts on its own kind of key.
 */
export class Room extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [ORCHESTRATOR]: createOrchestratorDialect({
      publish: (conn, items, idempotencyKey) => this.publishAs(conn.identity, items, idempotencyKey),
    }),
    [COLLAB]: createCollabDialect({
      request: (conn, method, params) => this.collabRequest(conn, method, params),
      closed: (conn) => this.collabClosed(conn),
    }),
  };
  private orchestrator: OrchestratorState;
  private readonly collabStore: CollabStore;
  /** The collaboration room's state as last saved; loaded on first use (rebuildable from SQLite at any time). */
  private collabState: RoomState | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.collabStore = new CollabStore(this.sql);
    // Budgets per connection lived here; they are per user in the core's budgets now.
    this.sql.exec('DROP TABLE IF EXISTS collab_limits');
    this.outbox.register(OUTBOX_ACTIVITY, (db, r) => upsertActivity(db, r as ActivityRow));
    this.sql.exec('CREATE TABLE IF NOT EXISTS room_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const row = this.sql.exec<{ value: string }>("SELECT value FROM room_state WHERE key = 'orchestrator'").toArray()[0];
    this.orchestrator = row ? (JSON.parse(row.value) as OrchestratorState) : initialState();
    // Keyed by (tenant, event id): a replayed flush changes nothing.
    this.outbox.register(OUTBOX_ORCHESTRATOR, (db, r) => insertOrchestratorEvents(db, [r as OrchestratorEventRow]));
    this.outbox.register(OUTBOX_ORCHESTRATOR_BATCH, (db, r) => insertOrchestratorEvents(db, r as OrchestratorEventRow[]));
  }

  private get key(): RoomKind | null {
    return parseRoomKey(this.ctx.id.name);
  }

  /** Exactly `<tenantId>:orchestrator` (a collaboration room called "orchestrator" is not the channel). */
  private get isOrchestrator(): boolean {
    return this.key?.kind === 'orchestrator';
  }

  private get tenantId(): string {
    return (this.ctx.id.name ?? 'default:').split(':')[0] ?? 'default';
  }

  /**
   * Publishes typed orchestrator events (service or admin only); each is logged, applied, delivered, persisted.
   * Errors come back as values (`toReply`): an exception crossing RPC keeps its message but loses its code.
   */
  async publishOrchestrator(
    identity: ActorIdentity,
    items: Array<{ type: string; payload: unknown }>,
    idempotencyKey?: string,
  ): Promise<{ ok: true; events: Published[] } | Failure> {
    const reply = await toReply(() => this.publishAs(identity, items, idempotencyKey));
    return reply.ok ? { ok: true, events: reply.value } : reply;
  }

  /**
   * The one publish path, for `POST /api/orchestrator/events` and `publish` frames alike: the role, the domain's
   * validation, the idempotency key (shared by both transports: a retry over the other one is still a retry).
   */
  private async publishAs(
    identity: ActorIdentity,
    items: Array<{ type: string; payload: unknown }>,
    idempotencyKey?: string,
  ): Promise<Published[]> {
    if (!this.isOrchestrator || identity.tenantId !== this.tenantId)
      throw new ApiError('TENANT_VIOLATION', "Not this tenant's orchestrator");
    if (identity.role !== 'service' && identity.role !== 'admin') {
      throw new ApiError('AUTHORIZATION_FAILED', 'Publishing requires the service or admin role');
    }
    const idemKey = idempotencyKey ? idempotencyScope(identity.userId, `publish|${idempotencyKey}`) : null;
    const prior = idemKey ? this.idempotency.recall<Published[]>(idemKey) : undefined;
    if (prior) return prior;
    const valid = validatePublish(items);
    const events = this.publish(valid.map((v) => ({ scope: v.scope, type: v.type, data: v.payload })));
    const published = events.map((e) => ({
      eventId: e.eventId,
      sequence: e.sequence,
      type: e.type,
      scope: e.scope,
      timestamp: e.timestamp,
    }));
    // Same synchronous turn as the append: committed together, so a retry after a crash never publishes twice.
    if (idemKey) this.idempotency.remember(idemKey, published);
    await this.syncKeepalive();
    return published;
  }

  /** The orchestrator state for admins and tests (the same view a resync gets). */
  orchestratorState(scopes?: string[]): Record<string, unknown> {
    return view(this.orchestrator, scopes, this.clientCount(ORCHESTRATOR));
  }

  protected override snapshotFor(dialect: string, scopes?: string[]): unknown {
    if (dialect === ORCHESTRATOR) return view(this.orchestrator, scopes, this.clientCount(ORCHESTRATOR));
    if (dialect === COLLAB && this.key?.kind === 'collab') return roomSnapshot(this.collab);
    return {};
  }

  /**
   * A published batch: the state is copied, updated and saved once, and the batch's D1 rows go into one outbox
   * row (flushed as one statement), rather than once per event.
   */
  protected override applyEvents(events: readonly LoggedEvent[]): void {
    if (!this.isOrchestrator) return;
    const typed = events.filter((e) => e.type in EVENT_PAYLOADS);
    if (typed.length === 0) return;
    this.orchestrator = reduceAll(this.orchestrator, typed);
    this.sql.exec(
      "INSERT INTO room_state (key, value) VALUES ('orchestrator', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(this.orchestrator),
    );
    const rows: OrchestratorEventRow[] = typed.map((event) => ({
      tenantId: this.tenantId,
      eventId: event.eventId,
      epoch: event.epoch,
      sequence: event.sequence,
      type: event.type,
      scope: event.scope,
      payload: event.data,
      timestamp: event.timestamp,
    }));
    this.outbox.enqueue(OUTBOX_ORCHESTRATOR_BATCH, rows);
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name === TICK_TIMER) {
      const due = tick(this.collab, now);
      if (due.events.length) this.commitCollab(due.state, due.events, due.activities);
      await this.scheduleTick();
      return;
    }
    if (name !== KEEPALIVE_TIMER) return;
    const keepalive = planningKeepalive(this.orchestrator, now);
    if (!keepalive) return;
    this.publish([keepalive]);
    await this.schedule(KEEPALIVE_TIMER, now + this.keepaliveMs());
  }

  /** Starts the keepalive when planning becomes active and stops it when planning ends. */
  private async syncKeepalive(): Promise<void> {
    if (planningActive(this.orchestrator)) {
      if (this.timers.at(KEEPALIVE_TIMER) === null) await this.schedule(KEEPALIVE_TIMER, Date.now() + this.keepaliveMs());
    } else if (this.timers.at(KEEPALIVE_TIMER) !== null) {
      await this.cancel(KEEPALIVE_TIMER);
    }
  }

  private keepaliveMs(): number {
    return this.config('planningKeepaliveMs') ?? PLANNING_KEEPALIVE_MS;
  }

  // ---- collaboration rooms (seed 001) ----------------------------------------------------------------------

  /** The room's state for REST (`GET /api/rooms/{roomId}/state`): what a newcomer's `room.join` answers, minus `you`. */
  collabSnapshot(identity: ActorIdentity): RoomSnapshot & { roomId: string; lastEventId: string; sequence: number } {
    const key = this.collabKey(identity);
    return {
      roomId: key.roomId,
      ...roomSnapshot(this.collab),
      lastEventId: this.latestEventId(),
      sequence: this.latestSequence(),
    };
  }

  private get collab(): RoomState {
    if (this.collabState === null) {
      this.collabState = this.collabStore.load() ?? createRoomState();
      this.releaseLostConnections();
    }
    return this.collabState;
  }

  private collabKey(identity?: ActorIdentity): { tenantId: string; roomId: string } {
    const key = this.key;
    if (key?.kind !== 'collab') throw new ApiError('NOT_FOUND', 'Not a collaboration room');
    if (identity && identity.tenantId !== key.tenantId) throw new ApiError('TENANT_VIOLATION', "Not this tenant's room");
    return key;
  }

  /** One request of a connection: budget, the domain's reducer, then state, activity and events in one turn. */
  private async collabRequest(conn: Connection, method: string, params: unknown): Promise<unknown> {
    this.collabKey(conn.identity);
    this.spendBudget(conn, method);
    const caller: RoomCaller = { userId: conn.identity.userId, username: conn.identity.username, connectionId: conn.id };
    const r = applyMethod(this.collab, caller, method, params, Date.now());
    this.commitCollab(r.state, r.events, r.activity);
    await this.scheduleTick();
    // A snapshot says which event it includes, so a client knows where its event stream continues.
    if (method === 'room.join' || method === 'room.state') {
      return { ...(r.response as object), lastEventId: this.latestEventId(), sequence: this.latestSequence() };
    }
    return r.response;
  }

  /** A socket closed: its connection is gone; the user's last one starts the presence grace period. */
  private collabClosed(conn: Connection): void {
    try {
      if (this.key?.kind !== 'collab') return;
      // A closed socket is not a leave yet: the user has the presence grace period to come back.
      const caller = { userId: conn.identity.userId, username: conn.identity.username, connectionId: conn.id };
      const r = connectionClosed(this.collab, caller, Date.now(), this.config('presenceGraceMs'));
      this.commitCollab(r.state, r.events);
      void this.scheduleTick();
    } catch (err) {
      console.error('closing a room connection failed', err);
    }
  }

  private leave(caller: RoomCaller): void {
    const state = this.collab;
    if (!isConnected(state.presence, caller.userId, caller.connectionId)) return;
    const r = applyMethod(state, caller, 'room.leave', {}, Date.now());
    this.commitCollab(r.state, r.events, r.activity);
    void this.scheduleTick();
  }

  /**
   * Connections the state still lists but whose sockets are gone (the runtime restarted without close events)
   * leave on first load. HTTP clients (`http_<userId>`) have no socket: they stay until they call room.leave.
   */
  private releaseLostConnections(): void {
    const live = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att?.id) live.add(att.id);
    }
    for (const entry of Object.values(this.collab.presence)) {
      for (const connectionId of entry.connections) {
        if (connectionId.startsWith('conn_') && !live.has(connectionId)) {
          this.leave({ userId: entry.userId, username: entry.username, connectionId });
        }
      }
    }
  }

  /**
   * Saves the new state (changed rows only) with its activity in the outbox, then logs and delivers the events,
   * all in one synchronous turn: the actor's implicit transaction makes them durable together.
   */
  private commitCollab(state: RoomState, events: RoomEvent[], activity?: Activity | readonly Activity[]): void {
    const key = this.collabKey();
    this.collabStore.save(this.collabState, state);
    this.collabState = state;
    for (const a of activity === undefined ? [] : Array.isArray(activity) ? activity : [activity])
      this.outbox.enqueue(OUTBOX_ACTIVITY, { tenantId: key.tenantId, roomId: key.roomId, activity: a } satisfies ActivityRow);
    const batch: EventInput[] = [];
    const flush = () => {
      if (batch.length) this.publish(batch.splice(0));
    };
    for (const e of events) {
      if (e.ephemeral) {
        flush();
        this.sendEphemeral(e.method, e.data);
      } else {
        batch.push({ scope: ROOM_SCOPE, type: e.method, data: e.data });
      }
    }
    flush();
  }

  /** Cursor positions: to every socket and SSE stream of the room, never logged (the snapshot has the latest). */
  private sendEphemeral(method: string, data: unknown): void {
    const frame = ephemeralFrame(method, data);
    this.broadcast(() => frame, { dialect: COLLAB });
  }

  /**
   * Seed 001: 100 requests a minute per connection; cursor moves have their own 60 Hz budget. Counted per user
   * in this room, so reconnecting or sending over HTTP as well never hands out a second budget.
   */
  private spendBudget(conn: Connection, method: string): void {
    const cursor = method === CURSOR_METHOD;
    const key = `collab|${cursor ? 'c' : 'r'}|${conn.identity.userId}`;
    const limit = cursor ? CURSOR_MOVES_PER_MINUTE : (this.config('collabRequestsPerMinute') ?? REQUESTS_PER_MINUTE);
    const d = this.budgets.spend(key, { limit, windowMs: 60_000 }, Date.now());
    if (!d.allowed) {
      throw new ApiError('RATE_LIMIT_EXCEEDED', `More than ${limit} ${cursor ? 'cursor moves' : 'messages'} per minute`, {
        details: { retryAfterMs: d.retryAfterMs, limit },
      });
    }
  }

  private async scheduleTick(): Promise<void> {
    if (this.collabState === null) return;
    const at = nextDeadline(this.collabState);
    if (at !== null) await this.timers.scheduleNoLaterThan(TICK_TIMER, at);
  }
}

/**
 * The D1 rows of published orchestrator events in one statement whatever their number: the rows travel as one JSON
 * parameter (D1 binds at most 100 parameters a statement) and `json_each` spreads them out.
 */
function insertOrchestratorEvents(db: D1Database, rows: OrchestratorEventRow[]): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO orchestrator_events (tenant_id, event_id, epoch, sequence, type, scope, payload, created_at)
       SELECT value ->> '$.tenantId', value ->> '$.eventId', value ->> '$.epoch', value ->> '$.sequence',
              value ->> '$.type', value ->> '$.scope', value -> '$.payload', value ->> '$.timestamp'
       FROM json_each(?) WHERE true
       ON CONFLICT (tenant_id, event_id) DO NOTHING`,
    )
    .bind(JSON.stringify(rows));
}
