import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import type { LoggedEvent } from '../core/protocol';
import {
  EVENT_PAYLOADS,
  initialState,
  DIALECT as ORCHESTRATOR,
  type OrchestratorState,
  orchestratorDialect,
  planningActive,
  reduce,
  validatePublish,
  view,
} from '../dialects/orchestrator';
import type { Env } from '../env';
import { ApiError, type ErrorBody, isApiError } from '../http/errors';

/** Seed 004: `planning_keepalive` every 30 s while planning runs. */
export const PLANNING_KEEPALIVE_MS = 30_000;
/** A planning session silent for this long is considered abandoned: keepalives stop. */
export const PLANNING_STALE_MS = 60 * 60_000;
const KEEPALIVE_TIMER = 'orchestrator:keepalive';
const OUTBOX_ORCHESTRATOR = 'orchestrator_event';

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

export interface Published {
  eventId: string;
  sequence: number;
  type: string;
  scope: string;
  timestamp: string;
}

/**
 * A room actor (`<tenantId>:<roomId>`): collaboration rooms, and the orchestrator broadcast channel
 * (`<tenantId>:orchestrator`), which is a room with a publish API. Each connection picks its dialect.
 */
export class Room extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = { [ORCHESTRATOR]: orchestratorDialect };
  private orchestrator: OrchestratorState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec('CREATE TABLE IF NOT EXISTS room_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const row = this.sql.exec<{ value: string }>("SELECT value FROM room_state WHERE key = 'orchestrator'").toArray()[0];
    this.orchestrator = row ? (JSON.parse(row.value) as OrchestratorState) : initialState();
    this.outbox.register(OUTBOX_ORCHESTRATOR, (db, r) => {
      const e = r as OrchestratorEventRow;
      // Keyed by (tenant, event id): a replayed flush changes nothing.
      return db
        .prepare(
          `INSERT INTO orchestrator_events (tenant_id, event_id, epoch, sequence, type, scope, payload, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, event_id) DO NOTHING`,
        )
        .bind(e.tenantId, e.eventId, e.epoch, e.sequence, e.type, e.scope, JSON.stringify(e.payload), e.timestamp);
    });
  }

  /** `<tenantId>:orchestrator` is the tenant's orchestrator channel; every other key is a collaboration room. */
  private get isOrchestrator(): boolean {
    return this.ctx.id.name?.endsWith(':orchestrator') ?? false;
  }

  private get tenantId(): string {
    return (this.ctx.id.name ?? 'default:').split(':')[0] ?? 'default';
  }

  /** Publishes typed orchestrator events (service or admin only); each is logged, applied, delivered, persisted. */
  /**
   * Errors come back as values: an exception crossing RPC keeps its message but loses its class and code.
   */
  async publishOrchestrator(
    identity: ActorIdentity,
    items: Array<{ type: string; payload: unknown }>,
  ): Promise<{ ok: true; events: Published[] } | { ok: false; error: ErrorBody }> {
    try {
      if (!this.isOrchestrator || identity.tenantId !== this.tenantId)
        throw new ApiError('TENANT_VIOLATION', "Not this tenant's orchestrator");
      if (identity.role !== 'service' && identity.role !== 'admin') {
        throw new ApiError('AUTHORIZATION_FAILED', 'Publishing requires the service or admin role');
      }
      const valid = validatePublish(items);
      const events = this.publish(valid.map((v) => ({ scope: v.scope, type: v.type, data: v.payload })));
      await this.syncKeepalive();
      return {
        ok: true,
        events: events.map((e) => ({
          eventId: e.eventId,
          sequence: e.sequence,
          type: e.type,
          scope: e.scope,
          timestamp: e.timestamp,
        })),
      };
    } catch (err) {
      if (isApiError(err)) return { ok: false, error: err.toBody() };
      throw err;
    }
  }

  /** The orchestrator state for admins and tests (the same view a resync gets). */
  orchestratorState(scopes?: string[]): Record<string, unknown> {
    return view(this.orchestrator, scopes, this.clientCount(ORCHESTRATOR));
  }

  protected override snapshotFor(dialect: string, scopes?: string[]): unknown {
    if (dialect === ORCHESTRATOR) return view(this.orchestrator, scopes, this.clientCount(ORCHESTRATOR));
    return {};
  }

  protected override applyEvent(event: LoggedEvent): void {
    if (!this.isOrchestrator || !(event.type in EVENT_PAYLOADS)) return;
    this.orchestrator = reduce(this.orchestrator, event);
    this.sql.exec(
      "INSERT INTO room_state (key, value) VALUES ('orchestrator', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(this.orchestrator),
    );
    const row: OrchestratorEventRow = {
      tenantId: this.tenantId,
      eventId: event.eventId,
      epoch: event.epoch,
      sequence: event.sequence,
      type: event.type,
      scope: event.scope,
      payload: event.data,
      timestamp: event.timestamp,
    };
    this.outbox.enqueue(OUTBOX_ORCHESTRATOR, row);
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name !== KEEPALIVE_TIMER) return;
    const planning = this.orchestrator.planning;
    if (!planning || !planningActive(this.orchestrator)) return;
    if (now - Date.parse(planning.lastActivity) > PLANNING_STALE_MS) return;
    this.publish([
      { scope: 'planning', type: 'planning_keepalive', data: { timestamp: new Date(now).toISOString(), state: planning.state } },
    ]);
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
}
