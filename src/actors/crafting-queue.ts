import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import type { EventInput } from '../core/event-log';
import type { Sample } from '../core/metrics';
import { type CraftingMaterialsRow, upsertCraftingMaterials } from '../db/crafting';
import { createQueueDialect, QUEUE_DIALECT } from '../dialects/crafting';
import { changedMaterialIds, type Materials } from '../domain/crafting';
import {
  adjustMaterials,
  admit,
  createQueue,
  enqueue,
  finish,
  type QueueState,
  type QueueStatusData,
  queueStatus,
  report,
  runningCount,
} from '../domain/crafting-queue';
import type { Env } from '../env';
import { ApiError, type Reply, toReply } from '../errors';
import { MeterStore, QueueStore } from './crafting-store';
import { craftingActor } from './keys';
import { METRICS_REPORT_MS, MetricsReporter, TIMER_METRICS } from './metrics';

const OUTBOX_MATERIALS = 'crafting_materials';
/** Seed 002's per-player WebSocket limit: sockets on one player's queue. */
export const MAX_QUEUE_SOCKETS = 5;

/** What `GET /api/crafting/queue/{player_id}` answers and queue watchers receive. */
export interface QueueView {
  playerId: string;
  maxRunning: number;
  running: number;
  length: number;
  entries: QueueStatusData[];
  materials: Materials;
  materialsVersion: number;
}

/**
 * One player's crafting queue (`<tenantId>:<playerId>`): the authority on the player's materials and on which of
 * their sessions run (at most `maxRunning`, in queue order, when their inputs are held). It starts sessions on
 * their Crafting actors, hears back when they change or finish, and tells them when materials change.
 * Watchers: `/ws/queue/{player_id}` (dialect `crafting-queue`).
 */
export class CraftingQueue extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [QUEUE_DIALECT]: createQueueDialect({ playerId: () => this.playerId, state: () => this.view() }),
  };
  private readonly store: QueueStore;
  private readonly reporter: MetricsReporter;
  private cached: QueueState | null = null;
  /** True until the first save: the starter kit's D1 row is written with it. */
  private fresh = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new QueueStore(this.sql);
    this.reporter = new MetricsReporter(new MeterStore(this.sql), this.meter, `queue:${ctx.id.name ?? ctx.id.toString()}`);
    this.outbox.register(OUTBOX_MATERIALS, (db, row) => upsertCraftingMaterials(db, row as CraftingMaterialsRow));
  }

  private get tenantId(): string {
    return (this.ctx.id.name ?? '').split(':')[0] ?? '';
  }

  private get playerId(): string {
    return (this.ctx.id.name ?? '').split(':').slice(1).join(':');
  }

  private get state(): QueueState {
    if (this.cached === null) {
      const stored = this.store.load();
      this.fresh = stored === null;
      this.cached = stored?.state ?? createQueue(this.playerId, this.config('craftingMaxRunning'));
    }
    return this.cached;
  }

  private checkTenant(identity: { tenantId: string }): void {
    if (identity.tenantId !== this.tenantId) throw new ApiError('TENANT_VIOLATION', "Not this tenant's queue");
  }

  // ---- RPC ---------------------------------------------------------------------------------------------------

  /** Health probe: the actor answers and its storage reads. */
  async ping(): Promise<string> {
    this.sql.exec('SELECT 1').toArray();
    return 'pong';
  }

  async queueView(identity: ActorIdentity): Promise<Reply<QueueView>> {
    return toReply(() => {
      this.checkTenant(identity);
      return this.view();
    });
  }

  /** Seed 002's per-player WebSocket limit on the queue. */
  async admitWatcher(identity: ActorIdentity): Promise<Reply<true>> {
    return toReply(() => {
      this.checkTenant(identity);
      if (this.clientCount() >= MAX_QUEUE_SOCKETS) {
        this.meter.inc('edgerooms_rate_limited_total', { limit: 'queue_sockets' });
        throw new ApiError('RATE_LIMIT_EXCEEDED', `At most ${MAX_QUEUE_SOCKETS} sockets on one queue`, {
          details: { issue: 'too_many_connections', limit: MAX_QUEUE_SOCKETS },
        });
      }
      return true as const;
    });
  }

  async materials(identity: ActorIdentity): Promise<Reply<{ playerId: string; materials: Materials; version: number }>> {
    return toReply(() => {
      this.checkTenant(identity);
      return { playerId: this.playerId, materials: this.state.materials, version: this.state.materialsVersion };
    });
  }

  /** Queues a new session (created on its Crafting actor first), then starts whatever may start. */
  async enqueue(
    identity: ActorIdentity,
    order: { sessionId: string; recipeId: string; quantity: number },
  ): Promise<Reply<QueueView>> {
    return toReply(async () => {
      this.checkTenant(identity);
      enqueue(this.state, order, Date.now()); // refuses a bad order or a full queue before anything is created
      const session = craftingActor(this.env, this.tenantId, order.sessionId);
      await session.create(this.tenantId, { ...order, playerId: this.playerId }, this.materialsCopy());
      this.commit(enqueue(this.state, order, Date.now()), [
        { scope: this.playerId, type: 'queue_update', data: { reason: 'enqueued', sessionId: order.sessionId, queue: null } },
      ]);
      await this.pump();
      return this.view();
    });
  }

  /** A grant or take by a service or admin; the whole change or nothing. */
  async adjust(
    identity: ActorIdentity,
    changes: Materials,
    reason?: string,
  ): Promise<Reply<{ playerId: string; materials: Materials; version: number }>> {
    return toReply(async () => {
      this.checkTenant(identity);
      if (identity.role !== 'service' && identity.role !== 'admin') {
        throw new ApiError('AUTHORIZATION_FAILED', 'Granting or taking materials requires the service or admin role');
      }
      const before = this.state.materials;
      const next = adjustMaterials(this.state, changes);
      this.commit(next, [this.materialEvent(before, next, reason ?? 'adjusted')]);
      // The answer is this grant's own write: other grants may land while the sessions are told (the awaits below).
      const answer = { playerId: this.playerId, ...this.materialsCopy() };
      await this.pump();
      await this.notifySessions();
      return answer;
    });
  }

  /** A session of this queue reports its state (started, paused, resumed, a stage ended). */
  async sessionReport(sessionId: string, status: 'running' | 'paused', remainingMs: number): Promise<void> {
    const next = report(this.state, sessionId, status, remainingMs, Date.now());
    if (next === this.state) return;
    this.commit(next, [{ scope: this.playerId, type: 'queue_update', data: { reason: status, sessionId, queue: null } }]);
  }

  /** A session completed (its output joins the materials), was cancelled or failed (its refund comes back). */
  async sessionFinished(sessionId: string, outcome: 'completed' | 'cancelled' | 'failed', gained: Materials): Promise<void> {
    if (!this.state.entries.some((e) => e.sessionId === sessionId)) return;
    const before = this.state.materials;
    const next = finish(this.state, sessionId, gained);
    const events: EventInput[] = [
      { scope: this.playerId, type: 'session_finished', data: { sessionId, outcome, gained } },
      { scope: this.playerId, type: 'queue_update', data: { reason: outcome, sessionId, queue: null } },
    ];
    if (next.materials !== before) events.push(this.materialEvent(before, next, outcome));
    this.commit(next, events);
    await this.pump();
    if (next.materials !== before) await this.notifySessions();
  }

  // ---- metrics -----------------------------------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const res = await super.fetch(request);
    this.meter.dirty = true;
    await this.reportSoon();
    return res;
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    await super.webSocketClose(ws, code, reason, wasClean);
    this.meter.dirty = true;
    await this.reportSoon();
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await super.webSocketMessage(ws, message);
    await this.reportSoon();
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name === TIMER_METRICS) await this.reporter.report(this.env.DB, this.gauges(), now);
  }

  private async reportSoon(): Promise<void> {
    if (!this.meter.dirty) return;
    await this.timers.scheduleNoLaterThan(TIMER_METRICS, Date.now() + (this.config('metricsReportMs') ?? METRICS_REPORT_MS));
  }

  private gauges(): Sample[] {
    const byStatus: Record<string, number> = { waiting: 0, waiting_materials: 0, running: 0, paused: 0 };
    for (const e of this.state.entries) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
    return [
      { name: 'edgerooms_ws_connections', labels: { endpoint: QUEUE_DIALECT }, value: this.clientCount(QUEUE_DIALECT) },
      ...Object.entries(byStatus).map(([status, value]) => ({
        name: 'edgerooms_crafting_queue_entries',
        labels: { status },
        value,
      })),
    ];
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  protected override snapshotFor(): unknown {
    return this.view();
  }

  private view(): QueueView {
    const s = this.state;
    return {
      playerId: this.playerId,
      maxRunning: s.maxRunning,
      running: runningCount(s),
      length: s.entries.length,
      entries: queueStatus(s, Date.now()),
      materials: s.materials,
      materialsVersion: s.materialsVersion,
    };
  }

  private materialsCopy(): { materials: Materials; version: number } {
    return { materials: this.state.materials, version: this.state.materialsVersion };
  }

  private materialEvent(before: Materials, after: QueueState, reason: string): EventInput {
    return {
      scope: this.playerId,
      type: 'material_update',
      data: {
        reason,
        changed: changedMaterialIds(before, after.materials),
        materials: after.materials,
        version: after.materialsVersion,
      },
    };
  }

  /**
   * Saves the state, queues its D1 row when the materials changed, and publishes the events in one turn.
   * `queue_update` events get the queue as it is after the change (a `null` placeholder is filled here).
   */
  private commit(next: QueueState, events: EventInput[]): void {
    const materialsChanged = next.materialsVersion !== this.state.materialsVersion || this.fresh;
    this.fresh = false;
    this.cached = next;
    this.store.save(this.tenantId, next);
    if (materialsChanged) {
      this.outbox.enqueue(OUTBOX_MATERIALS, {
        tenantId: this.tenantId,
        playerId: this.playerId,
        materials: next.materials,
        version: next.materialsVersion,
        updatedAt: Date.now(),
      } satisfies CraftingMaterialsRow);
    }
    this.meter.dirty = true;
    void this.reportSoon();
    const view = this.view();
    this.publish(
      events.map((e) =>
        e.type === 'queue_update'
          ? {
              ...e,
              data: { ...(e.data as object), queue: { entries: view.entries, running: view.running, length: view.length } },
            }
          : e,
      ),
    );
  }

  /** Starts what may start and tells sessions that wait for materials what they lack. */
  private async pump(): Promise<void> {
    const r = admit(this.state, Date.now());
    if (r.started.length === 0 && r.blocked.length === 0) return;
    const before = this.state.materials;
    const events: EventInput[] = r.started.map((s) => ({
      scope: this.playerId,
      type: 'session_started',
      data: { sessionId: s.sessionId, consumed: s.consumed },
    }));
    events.push({ scope: this.playerId, type: 'queue_update', data: { reason: 'admitted', queue: null } });
    if (r.state.materials !== before) events.push(this.materialEvent(before, r.state, 'consumed'));
    this.commit(r.state, events);
    const copy = this.materialsCopy();
    for (const s of r.started) {
      try {
        await craftingActor(this.env, this.tenantId, s.sessionId).start(s.consumed, copy);
      } catch (err) {
        console.error(`crafting: starting ${s.sessionId} failed`, err);
      }
    }
    for (const b of r.blocked) {
      try {
        await craftingActor(this.env, this.tenantId, b.sessionId).waitingFor(b.missing, copy);
      } catch (err) {
        console.error(`crafting: telling ${b.sessionId} what it lacks failed`, err);
      }
    }
  }

  /** Material availability notices to every session of the queue (running ones and those that wait). */
  private async notifySessions(): Promise<void> {
    const copy = this.materialsCopy();
    await Promise.all(
      this.state.entries.map(async (e) => {
        try {
          await craftingActor(this.env, this.tenantId, e.sessionId).materialsChanged(copy, e.missing);
        } catch (err) {
          console.error(`crafting: material notice to ${e.sessionId} failed`, err);
        }
      }),
    );
  }
}
