import type { BusEvent, StoredEvent } from '../domain/event-bus';

/**
 * The event bus's stream in its actor's SQLite: each event at its position (never reused), with its eventId (unique:
 * publishing is idempotent on it), type, JSON and audience. Append-only but for retention's `dropBelow`. SQL only;
 * the consumer groups reading it are `event-bus-store.ts`.
 */

const toStored = (r: { position: number; body: string; audience: string | null }): StoredEvent => ({
  position: r.position,
  event: JSON.parse(r.body) as BusEvent,
  audience: r.audience === null ? null : (JSON.parse(r.audience) as string[]),
});

export class EventStreamStore {
  constructor(private readonly sql: SqlStorage) {
    // AUTOINCREMENT: a position is never reused, even after retention emptied the stream.
    sql.exec(`CREATE TABLE IF NOT EXISTS bus_events (
      position INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL,
      ts INTEGER NOT NULL, body TEXT NOT NULL, audience TEXT)`);
    sql.exec('CREATE INDEX IF NOT EXISTS bus_events_ts ON bus_events (ts)');
  }

  /** Position of the newest event ever appended (0 for a fresh stream), retained or not. */
  head(): number {
    const r = this.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'bus_events'").toArray()[0];
    return r?.seq ?? 0;
  }

  oldest(): StoredEvent | null {
    const r = this.sql
      .exec<{ position: number; body: string; audience: string | null }>(
        'SELECT position, body, audience FROM bus_events ORDER BY position LIMIT 1',
      )
      .toArray()[0];
    return r ? toStored(r) : null;
  }

  count(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bus_events').one().n;
  }

  byEventId(eventId: string): StoredEvent | null {
    const r = this.sql
      .exec<{ position: number; body: string; audience: string | null }>(
        'SELECT position, body, audience FROM bus_events WHERE event_id = ?',
        eventId,
      )
      .toArray()[0];
    return r ? toStored(r) : null;
  }

  byPosition(position: number): StoredEvent | null {
    const r = this.sql
      .exec<{ position: number; body: string; audience: string | null }>(
        'SELECT position, body, audience FROM bus_events WHERE position = ?',
        position,
      )
      .toArray()[0];
    return r ? toStored(r) : null;
  }

  /** Appends one event; returns its position. */
  append(event: BusEvent, audience: readonly string[] | null, ts: number): number {
    return this.sql
      .exec<{ position: number }>(
        'INSERT INTO bus_events (event_id, event_type, ts, body, audience) VALUES (?, ?, ?, ?, ?) RETURNING position',
        event.eventId,
        event.eventType,
        ts,
        JSON.stringify(event),
        audience === null ? null : JSON.stringify(audience),
      )
      .one().position;
  }

  /** Events after `position` that `userId` may read (public, or addressed to them), oldest first. */
  visibleAfter(position: number, userId: string, limit: number): StoredEvent[] {
    return this.sql
      .exec<{ position: number; body: string; audience: string | null }>(
        `SELECT position, body, audience FROM bus_events
         WHERE position > ? AND (audience IS NULL OR EXISTS (SELECT 1 FROM json_each(bus_events.audience) WHERE value = ?))
         ORDER BY position LIMIT ?`,
        position,
        userId,
        limit,
      )
      .toArray()
      .map(toStored);
  }

  /** Positions and types after `position`, oldest first: what a group's first deliveries scan. */
  typesAfter(position: number, limit: number): Array<{ position: number; eventType: string }> {
    return this.sql
      .exec<{ position: number; event_type: string }>(
        'SELECT position, event_type FROM bus_events WHERE position > ? ORDER BY position LIMIT ?',
        position,
        limit,
      )
      .toArray()
      .map((r) => ({ position: r.position, eventType: r.event_type }));
  }

  /** Newest position whose event is older than `ts` (0 when none is). */
  newestBefore(ts: number): number {
    return this.sql.exec<{ p: number | null }>('SELECT MAX(position) AS p FROM bus_events WHERE ts < ?', ts).one().p ?? 0;
  }

  /** Deletes every event below `floor`; returns how many went. */
  dropBelow(floor: number): number {
    return this.sql.exec('DELETE FROM bus_events WHERE position < ?', floor).rowsWritten;
  }
}
