/** Rows of `idempotency_keys` (migration 0014): the first answer to a creating POST, per caller, route and key. */

export interface StoredAnswer {
  state: 'pending' | 'done';
  body_hash: string;
  status: number | null;
  content_type: string | null;
  body: string | null;
}

/**
 * Claims `key` for a first request: true when this request is the first within `windowMs` (a new row, or one
 * older than the window taken over), false when another request holds it. One statement, so two racing requests
 * cannot both win. Expired rows are dropped on the way.
 */
export async function claimIdempotencyKey(
  db: D1Database,
  row: { scope: string; key: string; bodyHash: string },
  now: number,
  windowMs: number,
): Promise<boolean> {
  const cutoff = now - windowMs;
  const [, claimed] = await db.batch([
    db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?1').bind(cutoff),
    db
      .prepare(
        `INSERT INTO idempotency_keys (scope, idem_key, body_hash, state, created_at) VALUES (?1, ?2, ?3, 'pending', ?4)
         ON CONFLICT (scope, idem_key) DO UPDATE SET body_hash = excluded.body_hash, state = 'pending', status = NULL,
           content_type = NULL, body = NULL, created_at = excluded.created_at
         WHERE idempotency_keys.created_at < ?5
         RETURNING 1 AS claimed`,
      )
      .bind(row.scope, row.key, row.bodyHash, now, cutoff),
  ]);
  return (claimed?.results.length ?? 0) > 0;
}

export async function findIdempotencyKey(db: D1Database, scope: string, key: string): Promise<StoredAnswer | null> {
  return db
    .prepare('SELECT state, body_hash, status, content_type, body FROM idempotency_keys WHERE scope = ?1 AND idem_key = ?2')
    .bind(scope, key)
    .first<StoredAnswer>();
}

export async function storeIdempotentAnswer(
  db: D1Database,
  scope: string,
  key: string,
  answer: { status: number; contentType: string | null; body: string },
): Promise<void> {
  await db
    .prepare(
      `UPDATE idempotency_keys SET state = 'done', status = ?3, content_type = ?4, body = ?5 WHERE scope = ?1 AND idem_key = ?2`,
    )
    .bind(scope, key, answer.status, answer.contentType, answer.body)
    .run();
}

/** Frees a key whose first request wrote nothing (it failed), so a retry runs again. */
export async function releaseIdempotencyKey(db: D1Database, scope: string, key: string): Promise<void> {
  await db
    .prepare(`DELETE FROM idempotency_keys WHERE scope = ?1 AND idem_key = ?2 AND state = 'pending'`)
    .bind(scope, key)
    .run();
}
