import {
  EVENT_RING_SIZE,
  type EventRef,
  formatEventId,
  type LoggedEvent,
  parseEventId,
  REPLAY_LIMIT,
  type ResyncResult,
} from './protocol';

/** What a new event needs; the log adds sequence, eventId, timestamp and epoch. */
export interface EventInput<T = unknown> {
  scope: string;
  type: string;
  data: T;
}

/** Which events a reader wants: by scope and/or by type (empty or absent = all). */
export interface EventFilter {
  scopes?: readonly string[];
  types?: readonly string[];
}

/** Where a reference points in the log. `after` is the last sequence the client has. */
export type Located = { kind: 'ok'; after: number } | { kind: 'unknown' | 'gone' | 'epoch' | 'none'; after?: undefined };

interface Row extends Record<string, SqlStorageValue> {
  seq: number;
  ts: string;
  scope: string;
  type: string;
  data: string;
}

const META_EPOCH = 'log.epoch';
const META_SEQ = 'log.seq';

/** A short random base36 string without '-', as `formatEventId` requires. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('');
}

/**
 * An actor's event log: a ring of the latest events in the actor's own SQLite, durable when `append` returns.
 * The sequence counter lives beside the ring, so it never goes back, not even when the ring is empty or reset.
 */
export class EventLog {
  private epochCache: string;
  private seqCache: number;

  constructor(
    private readonly sql: SqlStorage,
    private ringSize: number = EVENT_RING_SIZE,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS _core_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS _core_events (
      seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, scope TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL)`);
    const epoch = this.meta(META_EPOCH);
    if (epoch === null) {
      this.epochCache = newEpoch();
      this.setMeta(META_EPOCH, this.epochCache);
    } else {
      this.epochCache = epoch;
    }
    this.seqCache = Number(this.meta(META_SEQ) ?? '0');
  }

  get epoch(): string {
    return this.epochCache;
  }

  get latestSequence(): number {
    return this.seqCache;
  }

  get latestEventId(): string {
    return formatEventId(this.epochCache, this.seqCache);
  }

  /** Oldest sequence still in the ring, or latest+1 when the ring is empty. */
  get oldestSequence(): number {
    const row = this.sql.exec<{ m: number | null }>('SELECT MIN(seq) AS m FROM _core_events').one();
    return row.m ?? this.seqCache + 1;
  }

  setRingSize(size: number): void {
    this.ringSize = Math.max(1, Math.floor(size));
  }

  /** Appends one event. Call inside `transactionSync` with the state change it reflects. */
  append<T>(input: EventInput<T>, now: number = Date.now()): LoggedEvent<T> {
    const sequence = this.seqCache + 1;
    const timestamp = new Date(now).toISOString();
    this.sql.exec(
      'INSERT INTO _core_events (seq, ts, scope, type, data) VALUES (?, ?, ?, ?, ?)',
      sequence,
      timestamp,
      input.scope,
      input.type,
      JSON.stringify(input.data ?? null),
    );
    this.setMeta(META_SEQ, String(sequence));
    this.seqCache = sequence;
    if (sequence > this.ringSize) this.sql.exec('DELETE FROM _core_events WHERE seq <= ?', sequence - this.ringSize);
    return {
      sequence,
      eventId: formatEventId(this.epochCache, sequence),
      timestamp,
      epoch: this.epochCache,
      scope: input.scope,
      type: input.type,
      data: input.data,
    };
  }

  /** Where `ref` points: a known position, or why it cannot be honoured. */
  locate(ref: EventRef): Located {
    let after: number | undefined;
    if (ref.lastEventId !== undefined && ref.lastEventId !== '') {
      const parsed = parseEventId(ref.lastEventId);
      if (!parsed) return { kind: 'unknown' };
      if (parsed.epoch !== this.epochCache) return { kind: 'epoch' };
      after = parsed.sequence;
    } else if (ref.lastSequence !== undefined) {
      if (!Number.isSafeInteger(ref.lastSequence) || ref.lastSequence < 0) return { kind: 'unknown' };
      after = ref.lastSequence;
    } else if (ref.lastEventTimestamp !== undefined) {
      return this.locateTimestamp(ref.lastEventTimestamp);
    } else {
      return { kind: 'none' };
    }
    if (after > this.seqCache) return { kind: 'unknown' };
    // The client must hold every event up to `after`: the next one it needs has to still be in the ring.
    if (after < this.seqCache && after + 1 < this.oldestSequence) return { kind: 'gone' };
    return { kind: 'ok', after };
  }

  private locateTimestamp(iso: string): Located {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return { kind: 'unknown' };
    const ts = new Date(t).toISOString();
    const row = this.sql.exec<{ m: number | null }>('SELECT MAX(seq) AS m FROM _core_events WHERE ts <= ?', ts).one();
    if (row.m !== null) return { kind: 'ok', after: row.m };
    // Nothing in the ring is that old: fine only if the ring still starts at the very first event.
    return this.oldestSequence <= 1 ? { kind: 'ok', after: 0 } : { kind: 'gone' };
  }

  /** Events after `after`, in order, at most `limit`, filtered. */
  read(after: number, limit: number, filter: EventFilter = {}): LoggedEvent[] {
    const where = ['seq > ?'];
    const args: SqlStorageValue[] = [after];
    if (filter.scopes?.length) {
      where.push(`scope IN (${filter.scopes.map(() => '?').join(',')})`);
      args.push(...filter.scopes);
    }
    if (filter.types?.length) {
      where.push(`type IN (${filter.types.map(() => '?').join(',')})`);
      args.push(...filter.types);
    }
    args.push(limit);
    const rows = this.sql
      .exec<Row>(`SELECT seq, ts, scope, type, data FROM _core_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, ...args)
      .toArray();
    return rows.map((r) => ({
      sequence: r.seq,
      eventId: formatEventId(this.epochCache, r.seq),
      timestamp: r.ts,
      epoch: this.epochCache,
      scope: r.scope,
      type: r.type,
      data: JSON.parse(r.data),
    }));
  }

  /**
   * One-round-trip resync: the missed events in order, or `truncated` with a snapshot when the reference is
   * unknown, of another epoch, older than the ring, or further behind than `limit`.
   */
  resync<S>(ref: EventRef, snapshot: () => S, limit: number = REPLAY_LIMIT, filter: EventFilter = {}): ResyncResult<S> {
    const at = this.locate(ref);
    const base = { epoch: this.epochCache, latestSequence: this.seqCache };
    if (at.kind === 'ok') {
      const events = this.read(at.after, limit + 1, filter);
      if (events.length <= limit) return { ...base, events, truncated: false };
    }
    return { ...base, events: [], truncated: true, snapshot: snapshot() };
  }

  /** Starts a new epoch: the ring is emptied, the sequence keeps counting, every old reference gets a snapshot. */
  reset(): void {
    this.sql.exec('DELETE FROM _core_events');
    this.epochCache = newEpoch();
    this.setMeta(META_EPOCH, this.epochCache);
  }

  private meta(key: string): string | null {
    const rows = this.sql.exec<{ value: string }>('SELECT value FROM _core_meta WHERE key = ?', key).toArray();
    return rows[0]?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec(
      'INSERT INTO _core_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }
}
