import { DurableObject } from 'cloudflare:workers';
import {
  type BusEvent,
  GROUP_BOUNDS,
  type GroupConfig,
  handlerRetryDelayMs,
  LIMITS,
  matchesTypes,
  type Published,
  type PublishInput,
  parsePositionCursor,
  positionCursor,
  RETENTION,
  retentionFloor,
  validateGroup,
  validatePublishInputs,
  visibleTo,
} from '../domain/event-bus';
import type { Env } from '../env';
import { ApiError, type Reply, toReply } from '../errors';
import { type DeadLetter, EventBusStore, type GroupRow, type PendingRow } from './event-bus-store';
import { handlerFor } from './event-handlers';
import { GaugeReporter } from './metrics';

/** `{ events, hasMore, nextEventId }` as seed 003 shows it, plus the flag of a reference that could not be honoured. */
export interface BusPoll {
  events: BusEvent[];
  hasMore: boolean;
  /** Pass it as `lastEventId` next time: the last event returned, or `pos:<n>` when none was. */
  nextEventId: string;
  /** Set when `lastEventId` was unknown, not readable by the caller, or older than retention: the page starts at the oldest retained event. */
  truncated?: true;
  reason?: 'unknown_event_id' | 'expired';
  /** The oldest retained stream position (with `truncated`). */
  oldestPosition?: number;
}

export interface GroupInfo extends GroupConfig {
  cursor: number;
  pending: number;
  deadLetters: number;
  subscriptionId: string | null;
  createdAt: string;
}

export interface PullMessage {
  leaseId: string;
  attempts: number;
  position: number;
  event: BusEvent;
}

export interface AckResult {
  acked: string[];
  nacked: string[];
  terminated: string[];
  /** Lease ids that are no longer held (acked before, redelivered under another lease, or never issued). */
  unknown: string[];
}

export interface BusStats {
  head: number;
  retained: number;
  groups: number;
  /** Events appended per second over the last 10 s (in this actor's memory since it last started). */
  eventsPerSecond: number;
}

/**
 * What `EventBus[K]` answers, as its callers see it: RPC stub types cannot express `unknown` payloads, so callers
 * cast the stub's answer to the method's declared one.
 */
export type BusAnswer<K extends keyof EventBus> = EventBus[K] extends (...args: never[]) => Promise<infer R> ? R : never;

/** Rows a pull or a handler run scans at most for first deliveries, so one call stays short. */
const SCAN_MAX = 4096;
/** Handler deliveries one alarm runs per group; more wake the alarm again at once. */
const HANDLER_BATCH = 100;
const RATE_WINDOW_S = 10;
/** How soon a handler group whose callback this isolate does not know is looked at again. */
const HANDLER_MISSING_RETRY_MS = 30_000;
/** Appends between two retention passes on the publish path (the alarm also runs one on the age bound). */
const RETENTION_EVERY = 1000;

const notFound = (group: string) =>
  new ApiError('NOT_FOUND', `No consumer group "${group}"`, { details: { field: 'group', group } });

/**
 * One tenant's event bus (key: the tenant id): an append-only stream, durable consumer groups with pending lists,
 * leases, redelivery and dead letters, and the reader of `/api/events/poll` and the Socket.IO hub's class B
 * messages. A thin shell: rules in `src/domain/event-bus.ts`, SQL in `event-bus-store.ts`.
 */
export class EventBus extends DurableObject<Env> {
  private readonly store: EventBusStore;
  /** Alarm time this instance set; undefined = not read yet. */
  private alarmAt: number | null | undefined;
  private appendsSinceRetention = 0;
  /** Appends per second, for `stats()`: [epoch second, count] pairs of the last few seconds. */
  private readonly rate: Array<[number, number]> = [];
  private gauges: GaugeReporter | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new EventBusStore(ctx.storage.sql);
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
          const existing = input.eventId === undefined ? null : this.store.byEventId(input.eventId);
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
          return { event, position: this.store.append(event, input.audience ?? null, now), duplicate: false };
        }),
      );
      const fresh = published.filter((p) => !p.duplicate).length;
      this.count(fresh, now);
      if (fresh > 0) {
        this.gauges ??= new GaugeReporter(this.env, `eventbus:${tenantId}`, (p) => this.ctx.waitUntil(p));
        this.gauges.set({ eventsPerSecond: this.ratePerSecond(now) });
      }
      this.appendsSinceRetention += fresh;
      if (this.appendsSinceRetention >= RETENTION_EVERY) this.retain(now);
      // Handler groups run from the alarm; a bus with no alarm yet needs one for age-based retention.
      if (fresh > 0 && (!this.alarmAt || this.store.groups().some((g) => g.kind === 'handler'))) await this.syncAlarm(now);
      return published;
    });
  }

  /** What `userId` may read after `lastEventId` (an eventId or `pos:<n>`; none = from the oldest retained). */
  async poll(userId: string, lastEventId: string | undefined, limit: number = LIMITS.pollDefault): Promise<BusPoll> {
    const size = Math.min(Math.max(1, Math.floor(limit)), LIMITS.pollMax);
    const head = this.store.head();
    const oldestPosition = this.store.oldest()?.position ?? head + 1;
    let after = 0;
    let reason: BusPoll['reason'];
    if (lastEventId !== undefined && lastEventId !== '') {
      const position = parsePositionCursor(lastEventId);
      if (position !== null) {
        if (position > head) reason = 'unknown_event_id';
        else if (position < oldestPosition - 1) reason = 'expired';
        else after = position;
      } else {
        const known = this.store.byEventId(lastEventId);
        // Another user's direct message is as unknown to this caller as an id never published.
        if (known && visibleTo(known.audience, userId)) after = known.position;
        else reason = 'unknown_event_id';
      }
      if (reason) after = oldestPosition - 1;
    }
    const rows = this.store.visibleAfter(after, userId, size + 1);
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
      head: this.store.head(),
      retained: this.store.count(),
      groups: this.store.groups().length,
      eventsPerSecond: this.ratePerSecond(Date.now()),
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
    return g ? this.info(g) : null;
  }

  async listGroups(): Promise<GroupInfo[]> {
    return this.store.groups().map((g) => this.info(g));
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
        this.deliver(g, size, now, (row, event, deliveries) => {
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
          if (row.deliveries >= g.maxDeliveries) this.kill(row, 'max_deliveries', now);
          else this.store.release(group, row.position, now + Math.max(0, delayMs ?? 0));
          result.nacked.push(leaseId);
        }
        for (const leaseId of settle.terminate ?? []) {
          const row = held(leaseId);
          if (!row) continue;
          this.kill(row, 'terminated', now);
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
      const letters = positions === null ? this.store.deadLetters(group, 100_000) : this.lettersAt(group, positions);
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
    await this.runHandlers(now);
    this.retain(now);
    await this.syncAlarm(Date.now(), true);
  }

  // --- internals ---

  private upsertGroup(
    input: Parameters<typeof validateGroup>[0],
    subscriptionId: string | null,
  ): { group: GroupInfo; created: boolean } {
    const config = validateGroup(input);
    const existing = this.store.group(config.name);
    if (existing && existing.kind !== config.kind) {
      throw new ApiError('INVALID_REQUEST', `Group "${config.name}" exists as a ${existing.kind} group`, {
        details: { field: 'group', issue: 'group_kind_mismatch', kind: existing.kind },
      });
    }
    const cursor = existing ? existing.cursor : config.startPosition === 'new' ? this.store.head() : 0;
    this.store.upsertGroup(config, cursor, subscriptionId, Date.now());
    return { group: this.info(this.store.group(config.name) as GroupRow), created: !existing };
  }

  private info(g: GroupRow): GroupInfo {
    return {
      name: g.name,
      kind: g.kind,
      eventTypes: g.eventTypes,
      startPosition: g.startPosition,
      ackWaitMs: g.ackWaitMs,
      maxDeliveries: g.maxDeliveries,
      cursor: g.cursor,
      pending: this.store.pendingCount(g.name),
      deadLetters: this.store.deadLetterCount(g.name),
      subscriptionId: g.subscriptionId,
      createdAt: new Date(g.createdAt).toISOString(),
    };
  }

  /**
   * Picks up to `size` deliveries for group `g` (call inside a transaction): due pending entries first (those past
   * their last delivery go to the dead letters instead), then first deliveries from the group's cursor on.
   */
  private deliver<T>(
    g: GroupRow,
    size: number,
    now: number,
    take: (row: PendingRow, event: BusEvent, deliveries: number) => T,
  ): T[] {
    const out: T[] = [];
    for (const row of this.store.due(g.name, now, size)) {
      const event = this.eventOf(row);
      if (!event) continue;
      if (row.deliveries >= g.maxDeliveries) {
        this.kill(row, 'max_deliveries', now);
        continue;
      }
      out.push(take(row, event, row.deliveries + 1));
    }
    let cursor = g.cursor;
    let scanned = 0;
    while (out.length < size && scanned < SCAN_MAX) {
      const batch = this.store.typesAfter(cursor, 256);
      if (batch.length === 0) break;
      for (const { position, eventType } of batch) {
        scanned++;
        cursor = position;
        if (!matchesTypes(g.eventTypes, eventType)) continue;
        const event = this.store.byPosition(position)?.event;
        if (!event) continue;
        out.push(
          take({ group: g.name, position, consumer: null, deliveries: 0, leaseId: null, dueAt: now, state: 'waiting' }, event, 1),
        );
        if (out.length >= size) break;
      }
    }
    if (cursor !== g.cursor) this.store.setCursor(g.name, cursor);
    return out;
  }

  private eventOf(row: PendingRow): BusEvent | null {
    const event = this.store.byPosition(row.position)?.event ?? this.store.replayedEvent(row.group, row.position);
    if (!event) {
      // Retention never drops a pending event; a row without one is dropped with a log line rather than wedging the group.
      console.error(`event bus: pending ${row.group}@${row.position} has no event`);
      this.store.removePending(row.group, row.position);
    }
    return event;
  }

  private kill(row: PendingRow, reason: DeadLetter['reason'], now: number): void {
    const event = this.eventOf(row);
    if (event) this.store.deadLetter(row, event, reason, now);
  }

  private lettersAt(group: string, positions: number[]): DeadLetter[] {
    const wanted = new Set(positions);
    return this.store.deadLetters(group, 100_000).filter((l) => wanted.has(l.position));
  }

  /** Expired leases: past the group's last delivery they become dead letters, else they wait for redelivery. */
  private expireLeases(now: number): void {
    const groups = new Map(this.store.groups().map((g) => [g.name, g]));
    this.ctx.storage.transactionSync(() => {
      for (const row of this.store.expiredLeases(now, 10_000)) {
        const g = groups.get(row.group);
        if (!g) continue;
        if (row.deliveries >= g.maxDeliveries) this.kill(row, 'max_deliveries', now);
        else this.store.release(row.group, row.position, row.dueAt);
      }
    });
  }

  /** Runs in-Worker handlers on due and new events of every handler group; a throw retries with backoff. */
  private async runHandlers(now: number): Promise<void> {
    const tenantId = this.tenantId();
    for (const g of this.store.groups()) {
      if (g.kind !== 'handler') continue;
      const handler = handlerFor(tenantId, g.name);
      // Not registered in this isolate: deliver nothing (no attempt is spent); `syncAlarm` looks again later.
      if (!handler) continue;
      const batch = this.ctx.storage.transactionSync(() =>
        this.deliver(g, HANDLER_BATCH, now, (row, event, deliveries) => {
          // Leased for the ack wait: if this actor dies mid-handler the alarm finds the lease expired and retries.
          this.store.lease(g.name, row.position, 'handler', `lease_${crypto.randomUUID()}`, now + g.ackWaitMs, deliveries);
          return { position: row.position, event, deliveries };
        }),
      );
      for (const item of batch) {
        try {
          await handler(item.event);
          this.store.removePending(g.name, item.position);
        } catch (err) {
          console.error(`event bus: handler ${g.name} failed on ${item.event.eventId} (delivery ${item.deliveries})`, err);
          const row = {
            group: g.name,
            position: item.position,
            consumer: null,
            deliveries: item.deliveries,
            leaseId: null,
            dueAt: now,
            state: 'leased' as const,
          };
          if (item.deliveries >= g.maxDeliveries) this.kill(row, 'max_deliveries', Date.now());
          else this.store.release(g.name, item.position, Date.now() + handlerRetryDelayMs(item.deliveries));
        }
      }
    }
  }

  /** Drops events below the retention floor (count and age bounds; never a pending event). */
  private retain(now: number): void {
    this.appendsSinceRetention = 0;
    const floor = retentionFloor({
      head: this.store.head(),
      newestExpired: this.store.newestBefore(now - RETENTION.maxAgeMs),
      lowestPending: this.store.lowestPending(),
      maxEvents: RETENTION.maxEvents,
    });
    this.store.dropBelow(floor);
  }

  /** Points the alarm at the next thing due: a lease or redelivery, handler work, or the oldest event's expiry. */
  private async syncAlarm(now: number, force = false): Promise<void> {
    const candidates: number[] = [];
    const head = this.store.head();
    const tenantId = this.tenantId();
    const groups = new Map(this.store.groups().map((g) => [g.name, g]));
    // A handler group whose callback this isolate lacks is looked at again later, not in a loop.
    const stalled = (name: string) => groups.get(name)?.kind === 'handler' && !handlerFor(tenantId, name);
    for (const { group, dueAt } of this.store.nextDuePerGroup()) {
      candidates.push(stalled(group) ? Math.max(dueAt, now + HANDLER_MISSING_RETRY_MS) : dueAt);
    }
    for (const g of groups.values()) {
      if (g.kind === 'handler' && g.cursor < head) candidates.push(stalled(g.name) ? now + HANDLER_MISSING_RETRY_MS : now);
    }
    const oldest = this.store.oldest();
    if (oldest) candidates.push(Date.parse(oldest.event.timestamp) + RETENTION.maxAgeMs);
    const next = candidates.length ? Math.max(now, Math.min(...candidates)) : null;
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

  /** Appends per second over the last RATE_WINDOW_S seconds, one decimal. */
  private ratePerSecond(now: number): number {
    const second = Math.floor(now / 1000);
    const recent = this.rate.filter(([s]) => s > second - RATE_WINDOW_S && s <= second).reduce((n, [, c]) => n + c, 0);
    return Math.round((recent / RATE_WINDOW_S) * 10) / 10;
  }

  private count(n: number, now: number): void {
    if (n === 0) return;
    const second = Math.floor(now / 1000);
    const last = this.rate[this.rate.length - 1];
    if (last && last[0] === second) last[1] += n;
    else this.rate.push([second, n]);
    while (this.rate.length > RATE_WINDOW_S + 1) this.rate.shift();
  }
}
