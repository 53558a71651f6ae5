/**
 * `Idempotency-Key` answers, kept in the actor that performs the write: a retry within 24 h of the first request
 * with the same key (per user) gets the first answer and writes nothing. The answer is stored in the same
 * synchronous turn as the write it reports (no `await` between them), so the Durable Object commits both in one
 * batch: after a crash either both are there or neither is, and a retry never duplicates.
 */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The header's accepted shape: 1-128 visible ASCII characters (a UUID is the usual choice). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

export class IdempotencyStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS _core_idempotency (key TEXT PRIMARY KEY, answer TEXT NOT NULL, at INTEGER NOT NULL)');
    sql.exec('CREATE INDEX IF NOT EXISTS _core_idempotency_at ON _core_idempotency (at)');
  }

  /** The first answer given to `key` within the window, if any. */
  recall<T>(key: string, now = Date.now()): T | undefined {
    const row = this.sql
      .exec<{ answer: string; at: number }>('SELECT answer, at FROM _core_idempotency WHERE key = ?', key)
      .toArray()[0];
    if (!row || row.at <= now - IDEMPOTENCY_WINDOW_MS) return undefined;
    return JSON.parse(row.answer) as T;
  }

  /** Stores the answer to `key`; call in the same synchronous turn as the write it reports. Drops expired keys. */
  remember(key: string, answer: unknown, now = Date.now()): void {
    this.sql.exec('DELETE FROM _core_idempotency WHERE at <= ?', now - IDEMPOTENCY_WINDOW_MS);
    this.sql.exec(
      'INSERT INTO _core_idempotency (key, answer, at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET answer = excluded.answer, at = excluded.at',
      key,
      JSON.stringify(answer),
      now,
    );
  }
}

/** A key scoped to its caller, so two users' keys never collide. */
export const idempotencyScope = (userId: string, key: string): string => `${userId}|${key}`;
