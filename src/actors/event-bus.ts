import { DurableObject } from 'cloudflare:workers';
import { Meter } from '../core/metrics';
import {
  type AckResult,
  AppendRate,
  type BusEvent,
  type BusPoll,
  type BusStats,
  GROUP_BOUNDS,
  type GroupInfo,
  type GroupInput,
  groupUpdate,
  LIMITS,
  nextWake,
  type Published,
  type PublishInput,
  type PullMessage,
  pollStart,
  positionCursor,
  RETENTION,
  retentionFloor,
  validatePublishInputs,
  visibleTo,
} from '../domain/event-bus';
import type { Env } from '../env';
import { ApiError, type Reply, toReply } from '../errors';
import { type DeadLetter, EventBusStore, type GroupRow, type PendingRow } from './event-bus-store';
import { handlerFor, runHandlerGroups } from './event-handlers';
import { EventStreamStore } from './event-stream-store';
import { MeterRow, MetricsReporter } from './metrics';

export type { AckResult, BusPoll, BusStats, GroupInfo, PullMessage };

/**
 * What `EventBus[K]` answers, as its callers see it: RPC handle types cannot express `unknown` payloads, so callers
 * cast the handle's answer to the method's declared one.
 */
export type BusAnswer<K extends keyof EventBus> = EventBus[K] extends (...args: never[]) => Promise<infer R> ? R : never;

/** Appends between two retention passes on the publish path (the alarm also runs one on the age bound). */
const RETENTION_EVERY = 1000;

const notFound = (group: string) =>
  new ApiError('NOT_FOUND', `No consumer group "${group}"`, { details: { field: 'group', group } });

/**
 * One tenant's event bus (key: the tenant id): an append-only stream, durable consumer groups with pending lists,
 * leases, redelivery and dead letters, and the reader of `/api/events/poll` and the Socket.IO hub's class B
 * messages. A thin shell: rules in `src/domain/event-bus.ts`, SQL in `event-stream-store.ts` (the stream) and
 * `event-bus-store.ts` (groups, pending lists, dead letters), handler runs in `event-handlers.ts`.
 */
export class EventBus extends DurableObject<Env> {
  private readonly stream: EventStreamStore;
  private readonly store: EventBusStore;
  /** Alarm time this instance set; undefined = not read yet. */
  private alarmAt: number | null | undefined;
  private appendsSinceRetention = 0;
  /** Appends per second, for `stats()`. */
  private readonly rate = new AppendRate();
  /** Appends counted for `/metrics`, reported with the rate (for `/health`) to D1 `actor_metrics`. */
  private readonly meter = new Meter();
  private reporter: MetricsReporter | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.stream = new EventStreamStore(ctx.storage.sql);
    this.store = new EventBusStore(ctx.storage.sql, this.stream);
  }

  /** The tenant this bus belongs to: its key, remembered for alarms (which may run without a name). */
  private tenantId(): string {
    const name = this.ctx.id.name;
    const kv = this.ctx.storage.kv;
    if (name) {
      if (kv.get('tenant') !== name) kv.put('tenant', name);
      return name;
    }
    return kv.get<string>('tenant') ?? 'default';
  }

  // --- publishing and polling ---

  /** Appends events in order, each once: an eventId already in the stream answers its stored event (`duplicate`). */
  async publish(inputs: PublishInput[]): Promise<Reply<Published[]>> {
    return toReply(async () => {
      const valid = validatePublishInputs(inputs);
      const tenantId = this.tenantId();
      const now = Date.now();
      const timestamp = new Date(now).toISOString();
      const published = this.ctx.storage.transactionSync(() =>
        valid.map((input): Published => {
          const existing = input.eventId === undefined ? null : this.stream.byEventId(input.eventId);
          if (existing) return { event: existing.event, position: existing.position, duplicate: true };
          const event: BusEvent = {
            eventId: input.eventId ?? `evt_${crypto.randomUUID()}`,
            eventType: input.eventType,
            tenantId,
            timestamp,
            payload: input.payload,
            metadata: input.metadata ?? {},
            schemaVersion: input.schemaVersion ?? '1.0',
          };
          return { event, position: this.stream.append(event, input.audience ?? null, now), duplicate: false };
        }),
      );
      const fresh = published.filter((p) => !p.duplicate).length;
      this.rate.count(fresh, now);
      if (fresh > 0) this.metrics(tenantId).meter.inc('edgerooms_eventbus_events_total', {}, fresh);
      this.appendsSinceRetention += fresh;
      if (this.appendsSinceRetention >= RETENTION_EVERY) this.retain(now);
      // Handler groups run from the alarm; a bus with no alarm yet needs one for age-based retention.
      if (fresh > 0 && (!this.alarmAt || this.store.groups().some((g) => g.kind === 'handler'))) await this.syncAlarm(now);
      if (fresh > 0) await this.reportMetrics(tenantId, now);
      return published;
    });
  }

  /** What `userId` may read after `lastEventId` (an eventId or `pos:<n>`; none = from the oldest retained). */
  async poll(userId: string, lastEventId: string | undefined, limit: number = LIMITS.pollDefault): Promise<BusPoll> {
    const size = Math.min(Math.max(1, Math.floor(limit)), LIMITS.pollMax);
    const head = this.stream.head();
    const oldestPosition = this.stream.oldest()?.position ?? head + 1;
    const { after, reason } = pollStart(lastEventId, head, oldestPosition, (id) => {
      const known = this.stream.byEventId(id);
      // Another user's direct message is as unknown to this caller as an id never published.
      return known && visibleTo(known.audience, userId) ? known.position : null;
    });
    const rows = this.stream.visibleAfter(after, userId, size + 1);
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      events: page.map((r) => r.event),
      hasMore: rows.length > size,
      nextEventId: last ? last.event.eventId : positionCursor(Math.max(after, head)),
      ...(reason ? { truncated: true as const, reason, oldestPosition } : {}),
    };
  }

  async stats(): Promise<BusStats> {
    return {
      head: this.stream.head(),
      retained: this.stream.count(),
      groups: this.store.groups().length,
      eventsPerSecond: this.rate.perSecond(Date.now()),
    };
  }

  // --- consumer groups ---

  /** Creates a pull group, or updates an existing one's filters and limits (its cursor and pending list stay). */
  async putGroup(input: {
    name: string;
    eventTypes?: string[];
    startPosition?: string;
    ackWaitMs?: number;
    maxDeliveries?: number;
  }): Promise<Reply<{ group: GroupInfo; created: boolean }>> {
    return toReply(() => this.upsertGroup({ ...input, kind: 'pull' }, null));
  }

  /** A handler group for an in-Worker subscription: the bus runs the callback registered for it (`event-handlers.ts`). */
  async subscribe(input: {
    subscriptionId: string;
    consumerGroup: string;
    eventTypes: string[];
    startPosition?: string;
    maxDeliveries?: number;
  }): Promise<Reply<{ group: GroupInfo; created: boolean }>> {
    return toReply(async () => {
      const result = this.upsertGroup(
        {
          name: input.consumerGroup,
          eventTypes: input.eventTypes,
          startPosition: input.startPosition,
          maxDeliveries: input.maxDeliveries,
          kind: 'handler',
        },
        input.subscriptionId,
      );
      await this.syncAlarm(Date.now());
      return result;
    });
  }

  /** Deletes the group of a subscription (its pending list with it); answers its name, or null when there is none. */
  async unsubscribe(subscriptionId: string): Promise<string | null> {
    const group = this.store.groupBySubscription(subscriptionId);
    if (!group) return null;
    this.store.deleteGroup(group.name);
    await this.syncAlarm(Date.now());
    return group.name;
  }

  async deleteGroup(name: string): Promise<boolean> {
    if (!this.store.group(name)) return false;
    this.store.deleteGroup(name);
    await this.syncAlarm(Date.now());
    return true;
  }

  async groupInfo(name: string): Promise<GroupInfo | null> {
    const g = this.store.group(name);
    return g ? this.store.info(g) : null;
  }

  async listGroups(): Promise<GroupInfo[]> {
    return this.store.groups().map((g) => this.store.info(g));
  }

  /** A group's pending list (owner, delivery count, lease), oldest first. */
  async pendingList(group: string, limit = 100, after = 0): Promise<Reply<PendingRow[]>> {
    return toReply(() => {
      if (!this.store.group(group)) throw notFound(group);
      return this.store.pending(group, Math.min(Math.max(1, limit), 1000), after);
    });
  }

  /**
   * Leases up to `batchSize` events to `consumer`: first what is due again in the group's pending list (expired
   * leases, nacked events whose delay passed), then events the group has not delivered yet, in stream order.
   * Each lease lasts `leaseMs` (default: the group's ack wait); unacked, the event is delivered again after it.
   */
  async pull(group: string, consumer: string, batchSize: number, leaseMs?: number): Promise<Reply<{ messages: PullMessage[] }>> {
    return toReply(async () => {
      const g = this.store.group(group);
      if (!g) throw notFound(group);
      if (g.kind !== 'pull') {
        throw new ApiError('INVALID_REQUEST', `Group "${group}" is run by an in-Worker handler, not pulled`, {
          details: { field: 'group', issue: 'handler_group' },
        });
      }
      const now = Date.now();
      const lease = Math.min(Math.max(leaseMs ?? g.ackWaitMs, GROUP_BOUNDS.leaseMsMin), GROUP_BOUNDS.ackWaitMsMax);
      const size = Math.min(Math.max(1, Math.floor(batchSize)), LIMITS.pullBatchMax);
      const messages = this.ctx.storage.transactionSync(() =>
        this.store.deliver(g, size, now, (row, event, deliveries) => {
          const leaseId = `lease_${crypto.randomUUID()}`;
          this.store.lease(g.name, row.position, consumer, leaseId, now + lease, deliveries);
          return { leaseId, attempts: deliveries, position: row.position, event };
        }),
      );
      await this.syncAlarm(now);
      return { messages };
    });
  }

  /** Settles leases: `acks` are done; `nacks` come back after their delay; `terminate` go to the dead letters now. */
  async ack(
    group: string,
    settle: { acks?: string[]; nacks?: Array<{ leaseId: string; delayMs?: number }>; terminate?: string[] },
  ): Promise<Reply<AckResult>> {
    return toReply(async () => {
      const g = this.store.group(group);
      if (!g) throw notFound(group);
      const now = Date.now();
      const result: AckResult = { acked: [], nacked: [], terminated: [], unknown: [] };
      const held = (leaseId: string): PendingRow | null => {
        const row = this.store.byLease(leaseId);
        if (row && row.group === group && row.state === 'leased') return row;
        result.unknown.push(leaseId);
        return null;
      };
      this.ctx.storage.transactionSync(() => {
        for (const leaseId of settle.acks ?? []) {
          const row = held(leaseId);
          if (!row) continue;
          this.store.removePending(group, row.position);
          result.acked.push(leaseId);
        }
        for (const { leaseId, delayMs } of settle.nacks ?? []) {
          const row = held(leaseId);
          if (!row) continue;
          if (row.deliveries >= g.maxDeliveries) this.store.kill(row, 'max_deliveries', now);
          else this.store.release(group, row.position, now + Math.max(0, delayMs ?? 0));
          result.nacked.push(leaseId);
        }
        for (const leaseId of settle.terminate ?? []) {
          const row = held(leaseId);
          if (!row) continue;
          this.store.kill(row, 'terminated', now);
          result.terminated.push(leaseId);
        }
      });
      await this.syncAlarm(now);
      return result;
    });
  }

  // --- dead letters (admin) ---

  async deadLetters(group: string, limit = 100, after = 0): Promise<Reply<DeadLetter[]>> {
    return toReply(() => {
      if (!this.store.group(group)) throw notFound(group);
      return this.store.deadLetters(group, Math.min(Math.max(1, limit), 1000), after);
    });
  }

  /** Puts dead letters (all, or these positions) back into the group's pending list, due now, delivery count reset. */
  async replayDeadLetters(group: string, positions: number[] | null): Promise<Reply<{ replayed: number }>> {
    return toReply(async () => {
      if (!this.store.group(group)) throw notFound(group);
      const now = Date.now();
      const letters = positions === null ? this.store.deadLetters(group, 100_000) : this.store.lettersAt(group, positions);
      this.ctx.storage.transactionSync(() => {
        for (const letter of letters) {
          this.store.replay(group, letter.position, letter.event, now);
          this.store.removeDeadLetter(group, letter.position);
        }
      });
      await this.syncAlarm(now);
      return { replayed: letters.length };
    });
  }

  async purgeDeadLetters(group: string, positions: number[] | null): Promise<Reply<{ purged: number }>> {
    return toReply(() => {
      if (!this.store.group(group)) throw notFound(group);
      return { purged: this.store.purgeDeadLetters(group, positions) };
    });
  }

  // --- the alarm: lease expiry, handler deliveries, retention ---

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.expireLeases(now);
    await runHandlerGroups(this.store, this.tenantId(), now, (fn) => this.ctx.storage.transactionSync(fn));
    this.retain(now);
    await this.syncAlarm(Date.now(), true);
  }

  // --- internals ---

  /** The meter, restored from this bus's SQLite before its first count. */
  private metrics(tenantId: string): { meter: Meter; reporter: MetricsReporter } {
    this.reporter ??= new MetricsReporter(new MeterRow(this.ctx.storage.sql), this.meter, `eventbus:${tenantId}`);
    return { meter: this.meter, reporter: this.reporter };
  }

  /**
   * Counts and the append rate to `actor_metrics`, at most every METRICS_REPORT_MS and awaited by the publish that
   * triggers it. A bus that stops publishing stops reporting, so `/health` drops its rate once the row is stale.
   */
  private async reportMetrics(tenantId: string, now: number): Promise<void> {
    const { reporter } = this.metrics(tenantId);
    if (!reporter.due(now)) return;
    const rate = { name: 'edgerooms_eventbus_events_per_second', labels: {}, value: this.rate.perSecond(now) };
    await reporter.report(this.env.DB, [rate], now);
  }

  private upsertGroup(input: GroupInput, subscriptionId: string | null): { group: GroupInfo; created: boolean } {
    const existing = this.store.group(input.name);
    const config = groupUpdate(existing, input);
    const cursor = existing ? existing.cursor : config.startPosition === 'new' ? this.stream.head() : 0;
    this.store.upsertGroup(config, cursor, subscriptionId, Date.now());
    return { group: this.store.info(this.store.group(config.name) as GroupRow), created: !existing };
  }

  /** Expired leases: past the group's last delivery they become dead letters, else they wait for redelivery. */
  private expireLeases(now: number): void {
    const groups = new Map(this.store.groups().map((g) => [g.name, g]));
    this.ctx.storage.transactionSync(() => {
      for (const row of this.store.expiredLeases(now, 10_000)) {
        const g = groups.get(row.group);
        if (!g) continue;
        if (row.deliveries >= g.maxDeliveries) this.store.kill(row, 'max_deliveries', now);
        else this.store.release(row.group, row.position, row.dueAt);
      }
    });
  }

  /** Drops events below the retention floor (count and age bounds; never a pending event). */
  private retain(now: number): void {
    this.appendsSinceRetention = 0;
    const floor = retentionFloor({
      head: this.stream.head(),
      newestExpired: this.stream.newestBefore(now - RETENTION.maxAgeMs),
      lowestPending: this.store.lowestPending(),
      maxEvents: RETENTION.maxEvents,
    });
    this.stream.dropBelow(floor);
  }

  /** Points the alarm at the next thing due: a lease or redelivery, handler work, or the oldest event's expiry. */
  private async syncAlarm(now: number, force = false): Promise<void> {
    const tenantId = this.tenantId();
    const oldest = this.stream.oldest();
    const next = nextWake({
      now,
      head: this.stream.head(),
      groups: this.store.groups(),
      dues: this.store.nextDuePerGroup(),
      oldestAt: oldest ? Date.parse(oldest.event.timestamp) : null,
      hasHandler: (name) => handlerFor(tenantId, name) !== undefined,
    });
    if (this.alarmAt === undefined || force) this.alarmAt = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (this.alarmAt !== null) await this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    if (this.alarmAt !== null && this.alarmAt <= next && !force) return;
    if (this.alarmAt === next) return;
    await this.ctx.storage.setAlarm(next);
    this.alarmAt = next;
  }
}
