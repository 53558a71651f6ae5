import { type BusEvent, type GroupConfig, type GroupInfo, matchesTypes } from '../domain/event-bus';
import type { EventStreamStore } from './event-stream-store';

/** Rows a pull or a handler run scans at most for first deliveries, so one call stays short. */
const DELIVERY_SCAN_MAX = 4096;

/**
 * The event bus's consumer groups in its actor's SQLite, durable the moment a call returns: groups (settings and
 * the cursor of first deliveries), each group's pending list (owner, delivery count, lease) and its dead letters
 * (with their own copy of the event). The stream they read is `event-stream-store.ts`. SQL only; every rule lives
 * in `src/domain/event-bus.ts` and the actor.
 */

export interface GroupRow extends GroupConfig {
  /** Highest position the group has considered for a first delivery. */
  cursor: number;
  subscriptionId: string | null;
  createdAt: number;
}

/** One entry of a group's pending list. `leased`: held by `consumer` until `dueAt`; `waiting`: redelivered at `dueAt`. */
export interface PendingRow {
  group: string;
  position: number;
  consumer: string | null;
  deliveries: number;
  leaseId: string | null;
  dueAt: number;
  state: 'leased' | 'waiting';
}

export interface DeadLetter {
  group: string;
  position: number;
  event: BusEvent;
  deliveries: number;
  reason: 'max_deliveries' | 'terminated';
  deadAt: string;
}

type Row = Record<string, SqlStorageValue>;

const toGroup = (r: Row): GroupRow => ({
  name: r.name as string,
  kind: r.kind as GroupConfig['kind'],
  eventTypes: JSON.parse(r.event_types as string) as string[],
  startPosition: r.start_position as GroupConfig['startPosition'],
  ackWaitMs: r.ack_wait_ms as number,
  maxDeliveries: r.max_deliveries as number,
  cursor: r.cursor as number,
  subscriptionId: (r.subscription_id as string | null) ?? null,
  createdAt: r.created_at as number,
});

const toPending = (r: Row): PendingRow => ({
  group: r.grp as string,
  position: r.position as number,
  consumer: (r.consumer as string | null) ?? null,
  deliveries: r.deliveries as number,
  leaseId: (r.lease_id as string | null) ?? null,
  dueAt: r.due_at as number,
  state: r.state as PendingRow['state'],
});

export class EventBusStore {
  constructor(
    private readonly sql: SqlStorage,
    /** The stream the groups deliver from. */
    readonly stream: EventStreamStore,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS bus_groups (
      name TEXT PRIMARY KEY, kind TEXT NOT NULL, event_types TEXT NOT NULL, start_position TEXT NOT NULL,
      ack_wait_ms INTEGER NOT NULL, max_deliveries INTEGER NOT NULL, cursor INTEGER NOT NULL,
      subscription_id TEXT, created_at INTEGER NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS bus_pending (
      grp TEXT NOT NULL, position INTEGER NOT NULL, consumer TEXT, deliveries INTEGER NOT NULL, lease_id TEXT,
      due_at INTEGER NOT NULL, state TEXT NOT NULL, body TEXT, PRIMARY KEY (grp, position))`);
    sql.exec('CREATE INDEX IF NOT EXISTS bus_pending_due ON bus_pending (due_at)');
    sql.exec('CREATE UNIQUE INDEX IF NOT EXISTS bus_pending_lease ON bus_pending (lease_id) WHERE lease_id IS NOT NULL');
    sql.exec(`CREATE TABLE IF NOT EXISTS bus_dead_letters (
      grp TEXT NOT NULL, position INTEGER NOT NULL, body TEXT NOT NULL, deliveries INTEGER NOT NULL,
      reason TEXT NOT NULL, dead_at INTEGER NOT NULL, PRIMARY KEY (grp, position))`);
  }

  // --- groups ---

  groups(): GroupRow[] {
    return this.sql.exec<Row>('SELECT * FROM bus_groups ORDER BY name').toArray().map(toGroup);
  }

  group(name: string): GroupRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM bus_groups WHERE name = ?', name).toArray()[0];
    return r ? toGroup(r) : null;
  }

  groupBySubscription(subscriptionId: string): GroupRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM bus_groups WHERE subscription_id = ?', subscriptionId).toArray()[0];
    return r ? toGroup(r) : null;
  }

  /** Creates a group at `cursor`, or updates an existing group's settings (its cursor and pending list stay). */
  upsertGroup(config: GroupConfig, cursor: number, subscriptionId: string | null, now: number): void {
    this.sql.exec(
      `INSERT INTO bus_groups (name, kind, event_types, start_position, ack_wait_ms, max_deliveries, cursor, subscription_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, event_types = excluded.event_types,
         start_position = excluded.start_position, ack_wait_ms = excluded.ack_wait_ms,
         max_deliveries = excluded.max_deliveries, subscription_id = COALESCE(excluded.subscription_id, subscription_id)`,
      config.name,
      config.kind,
      JSON.stringify(config.eventTypes),
      config.startPosition,
      config.ackWaitMs,
      config.maxDeliveries,
      cursor,
      subscriptionId,
      now,
    );
  }

  setCursor(group: string, cursor: number): void {
    this.sql.exec('UPDATE bus_groups SET cursor = ? WHERE name = ?', cursor, group);
  }

  deleteGroup(name: string): void {
    this.sql.exec('DELETE FROM bus_pending WHERE grp = ?', name);
    this.sql.exec('DELETE FROM bus_groups WHERE name = ?', name);
  }

  // --- pending lists ---

  /** A group's pending entries due at `now` (expired leases and waiting redeliveries), oldest position first. */
  due(group: string, now: number, limit: number): PendingRow[] {
    return this.sql
      .exec<Row>('SELECT * FROM bus_pending WHERE grp = ? AND due_at <= ? ORDER BY position LIMIT ?', group, now, limit)
      .toArray()
      .map(toPending);
  }

  /** Expired leases of every group, for the alarm. */
  expiredLeases(now: number, limit: number): PendingRow[] {
    return this.sql
      .exec<Row>("SELECT * FROM bus_pending WHERE state = 'leased' AND due_at <= ? ORDER BY due_at LIMIT ?", now, limit)
      .toArray()
      .map(toPending);
  }

  pending(group: string, limit: number, afterPosition = 0): PendingRow[] {
    return this.sql
      .exec<Row>(
        'SELECT * FROM bus_pending WHERE grp = ? AND position > ? ORDER BY position LIMIT ?',
        group,
        afterPosition,
        limit,
      )
      .toArray()
      .map(toPending);
  }

  pendingCount(group: string): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bus_pending WHERE grp = ?', group).one().n;
  }

  byLease(leaseId: string): PendingRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM bus_pending WHERE lease_id = ?', leaseId).toArray()[0];
    return r ? toPending(r) : null;
  }

  /** Leases an entry to `consumer` (first delivery or redelivery), raising its delivery count. */
  lease(group: string, position: number, consumer: string, leaseId: string, dueAt: number, deliveries: number): void {
    this.sql.exec(
      `INSERT INTO bus_pending (grp, position, consumer, deliveries, lease_id, due_at, state) VALUES (?, ?, ?, ?, ?, ?, 'leased')
       ON CONFLICT(grp, position) DO UPDATE SET consumer = excluded.consumer, deliveries = excluded.deliveries,
         lease_id = excluded.lease_id, due_at = excluded.due_at, state = 'leased'`,
      group,
      position,
      consumer,
      deliveries,
      leaseId,
      dueAt,
    );
  }

  /** Releases an entry for redelivery at `dueAt` (nack, expired lease, failed handler). */
  release(group: string, position: number, dueAt: number): void {
    this.sql.exec(
      "UPDATE bus_pending SET consumer = NULL, lease_id = NULL, due_at = ?, state = 'waiting' WHERE grp = ? AND position = ?",
      dueAt,
      group,
      position,
    );
  }

  /** A dead letter back in the pending list, due now, with its own copy of the event (the stream may have dropped it). */
  replay(group: string, position: number, event: BusEvent, now: number): void {
    this.sql.exec(
      `INSERT INTO bus_pending (grp, position, consumer, deliveries, lease_id, due_at, state, body)
       VALUES (?, ?, NULL, 0, NULL, ?, 'waiting', ?)
       ON CONFLICT(grp, position) DO UPDATE SET consumer = NULL, deliveries = 0, lease_id = NULL, due_at = excluded.due_at,
         state = 'waiting', body = excluded.body`,
      group,
      position,
      now,
      JSON.stringify(event),
    );
  }

  /** The copy a replayed entry carries, if any. */
  replayedEvent(group: string, position: number): BusEvent | null {
    const r = this.sql
      .exec<{ body: string | null }>('SELECT body FROM bus_pending WHERE grp = ? AND position = ?', group, position)
      .toArray()[0];
    return r?.body ? (JSON.parse(r.body) as BusEvent) : null;
  }

  removePending(group: string, position: number): void {
    this.sql.exec('DELETE FROM bus_pending WHERE grp = ? AND position = ?', group, position);
  }

  lowestPending(): number | null {
    return this.sql.exec<{ p: number | null }>('SELECT MIN(position) AS p FROM bus_pending').one().p;
  }

  /** Each group's earliest due pending entry. */
  nextDuePerGroup(): Array<{ group: string; dueAt: number }> {
    return this.sql
      .exec<{ grp: string; t: number }>('SELECT grp, MIN(due_at) AS t FROM bus_pending GROUP BY grp')
      .toArray()
      .map((r) => ({ group: r.grp, dueAt: r.t }));
  }

  // --- dead letters ---

  deadLetter(entry: PendingRow, event: BusEvent, reason: DeadLetter['reason'], now: number): void {
    this.sql.exec(
      `INSERT INTO bus_dead_letters (grp, position, body, deliveries, reason, dead_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(grp, position) DO UPDATE SET deliveries = excluded.deliveries, reason = excluded.reason, dead_at = excluded.dead_at`,
      entry.group,
      entry.position,
      JSON.stringify(event),
      entry.deliveries,
      reason,
      now,
    );
    this.removePending(entry.group, entry.position);
  }

  deadLetters(group: string, limit: number, afterPosition = 0): DeadLetter[] {
    return this.sql
      .exec<Row>(
        'SELECT * FROM bus_dead_letters WHERE grp = ? AND position > ? ORDER BY position LIMIT ?',
        group,
        afterPosition,
        limit,
      )
      .toArray()
      .map((r) => ({
        group: r.grp as string,
        position: r.position as number,
        event: JSON.parse(r.body as string) as BusEvent,
        deliveries: r.deliveries as number,
        reason: r.reason as DeadLetter['reason'],
        deadAt: new Date(r.dead_at as number).toISOString(),
      }));
  }

  removeDeadLetter(group: string, position: number): void {
    this.sql.exec('DELETE FROM bus_dead_letters WHERE grp = ? AND position = ?', group, position);
  }

  purgeDeadLetters(group: string, positions: readonly number[] | null): number {
    if (positions === null) return this.sql.exec('DELETE FROM bus_dead_letters WHERE grp = ?', group).rowsWritten;
    let n = 0;
    for (const p of positions)
      n += this.sql.exec('DELETE FROM bus_dead_letters WHERE grp = ? AND position = ?', group, p).rowsWritten;
    return n;
  }

  deadLetterCount(group: string): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bus_dead_letters WHERE grp = ?', group).one().n;
  }

  /** A group as the API shows it: its settings, cursor, and pending and dead-letter counts. */
  info(g: GroupRow): GroupInfo {
    return {
      name: g.name,
      kind: g.kind,
      eventTypes: g.eventTypes,
      startPosition: g.startPosition,
      ackWaitMs: g.ackWaitMs,
      maxDeliveries: g.maxDeliveries,
      cursor: g.cursor,
      pending: this.pendingCount(g.name),
      deadLetters: this.deadLetterCount(g.name),
      subscriptionId: g.subscriptionId,
      createdAt: new Date(g.createdAt).toISOString(),
    };
  }

  /**
   * Picks up to `size` deliveries for group `g` (call inside a transaction): due pending entries first (those past
   * their last delivery go to the dead letters instead), then first deliveries from the group's cursor on.
   */
  deliver<T>(g: GroupRow, size: number, now: number, take: (row: PendingRow, event: BusEvent, deliveries: number) => T): T[] {
    const out: T[] = [];
    for (const row of this.due(g.name, now, size)) {
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
    while (out.length < size && scanned < DELIVERY_SCAN_MAX) {
      const batch = this.stream.typesAfter(cursor, 256);
      if (batch.length === 0) break;
      for (const { position, eventType } of batch) {
        scanned++;
        cursor = position;
        if (!matchesTypes(g.eventTypes, eventType)) continue;
        const event = this.stream.byPosition(position)?.event;
        if (!event) continue;
        out.push(
          take({ group: g.name, position, consumer: null, deliveries: 0, leaseId: null, dueAt: now, state: 'waiting' }, event, 1),
        );
        if (out.length >= size) break;
      }
    }
    if (cursor !== g.cursor) this.setCursor(g.name, cursor);
    return out;
  }

  eventOf(row: PendingRow): BusEvent | null {
    const event = this.stream.byPosition(row.position)?.event ?? this.replayedEvent(row.group, row.position);
    if (!event) {
      // Retention never drops a pending event; a row without one is dropped with a log line rather than wedging the group.
      console.error(`event bus: pending ${row.group}@${row.position} has no event`);
      this.removePending(row.group, row.position);
    }
    return event;
  }

  kill(row: PendingRow, reason: DeadLetter['reason'], now: number): void {
    const event = this.eventOf(row);
    if (event) this.deadLetter(row, event, reason, now);
  }

  lettersAt(group: string, positions: number[]): DeadLetter[] {
    const wanted = new Set(positions);
    return this.deadLetters(group, 100_000).filter((l) => wanted.has(l.position));
  }
}
