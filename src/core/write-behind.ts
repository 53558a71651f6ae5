/**
 * Write-behind from an actor to D1. A change and its outbox row are written in the same SQLite transaction;
 * the alarm flushes the outbox to D1 in one batch of idempotent upserts and deletes the rows only after the
 * batch succeeded. A crash before the delete replays the same upserts, which change nothing the second time:
 * nothing is lost and nothing is duplicated.
 */

/** Turns one outbox row into an idempotent D1 statement (`INSERT ... ON CONFLICT DO UPDATE/NOTHING`). */
export type Flusher = (db: D1Database, row: unknown) => D1PreparedStatement;

export interface FlushResult {
  flushed: number;
  remaining: number;
}

/** Rows per D1 batch: well under D1's statement limits, large enough to drain bursts quickly. */
export const FLUSH_BATCH = 100;

export class WriteBehind {
  private readonly flushers = new Map<string, Flusher>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS _core_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)`);
  }

  /** Registers how rows of `kind` reach D1. */
  register(kind: string, flusher: Flusher): void {
    this.flushers.set(kind, flusher);
  }

  /** Queues one row. Call in the transaction that made the change. */
  enqueue(kind: string, row: unknown): void {
    this.sql.exec('INSERT INTO _core_outbox (kind, payload) VALUES (?, ?)', kind, JSON.stringify(row));
  }

  pending(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM _core_outbox').one().n;
  }

  /** Sends up to `FLUSH_BATCH` rows to D1 as one batch (atomic in D1); deletes them only once it succeeded. */
  async flush(db: D1Database, batch = FLUSH_BATCH): Promise<FlushResult> {
    const rows = this.sql
      .exec<{ id: number; kind: string; payload: string }>(
        'SELECT id, kind, payload FROM _core_outbox ORDER BY id LIMIT ?',
        batch,
      )
      .toArray();
    if (rows.length === 0) return { flushed: 0, remaining: 0 };
    const statements: D1PreparedStatement[] = [];
    const unknown: number[] = [];
    for (const row of rows) {
      const flusher = this.flushers.get(row.kind);
      if (flusher) statements.push(flusher(db, JSON.parse(row.payload)));
      else unknown.push(row.id);
    }
    const maxId = rows[rows.length - 1]!.id;
    try {
      if (statements.length) await db.batch(statements);
    } catch (err) {
      this.sql.exec('UPDATE _core_outbox SET attempts = attempts + 1 WHERE id <= ?', maxId);
      throw err;
    }
    // Rows of a kind nobody registers would block the outbox forever; they are dropped with a log line.
    if (unknown.length) console.error(`write-behind: dropped ${unknown.length} rows of unregistered kinds`);
    this.sql.exec('DELETE FROM _core_outbox WHERE id <= ?', maxId);
    return { flushed: rows.length, remaining: this.pending() };
  }
}
