/** Refresh tokens, stored only as SHA-256 hashes, grouped in families (one per login). */

export interface RefreshTokenRow {
  token_hash: string;
  family_id: string;
  user_id: number;
  tenant_id: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  replaced_by: string | null;
  revoked_at: string | null;
  revoked_reason: string | null;
}

export interface NewRefreshToken {
  tokenHash: string;
  familyId: string;
  userId: number;
  tenantId: string;
  createdAt: string;
  expiresAt: string;
}

export function insertRefreshToken(db: D1Database, t: NewRefreshToken): Promise<D1Result> {
  return db
    .prepare(
      `INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, created_at, expires_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
    )
    .bind(t.tokenHash, t.familyId, t.userId, t.tenantId, t.createdAt, t.expiresAt)
    .run();
}

export function findRefreshToken(db: D1Database, tokenHash: string): Promise<RefreshTokenRow | null> {
  return db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?1').bind(tokenHash).first<RefreshTokenRow>();
}

/**
 * Spends `oldHash` and adds its successor to the same family, atomically. The UPDATE only matches a live
 * token (unused, unrevoked, unexpired), so of two racing refreshes exactly one wins; the INSERT only runs
 * for the winner because it copies the row the UPDATE just marked as replaced by this successor.
 * Returns whether this call won.
 */
export async function rotateRefreshToken(
  db: D1Database,
  oldHash: string,
  next: { tokenHash: string; expiresAt: string },
  now: string,
): Promise<boolean> {
  const [spent] = await db.batch([
    db
      .prepare(
        `UPDATE refresh_tokens SET used_at = ?2, replaced_by = ?3
         WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2`,
      )
      .bind(oldHash, now, next.tokenHash),
    db
      .prepare(
        `INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, created_at, expires_at)
         SELECT ?2, family_id, user_id, tenant_id, ?3, ?4 FROM refresh_tokens
         WHERE token_hash = ?1 AND replaced_by = ?2 AND used_at = ?3`,
      )
      .bind(oldHash, next.tokenHash, now, next.expiresAt),
  ]);
  return (spent?.meta.changes ?? 0) === 1;
}

/** Revokes every token of a family (its access tokens die with it: they carry the family as `sid`). */
export function revokeFamilyStatement(db: D1Database, familyId: string, reason: string, now: string): D1PreparedStatement {
  return db
    .prepare('UPDATE refresh_tokens SET revoked_at = ?2, revoked_reason = ?3 WHERE family_id = ?1 AND revoked_at IS NULL')
    .bind(familyId, now, reason);
}

/** Revokes every session of a user (role change). */
export function revokeUserFamiliesStatement(db: D1Database, userId: number, reason: string, now: string): D1PreparedStatement {
  return db
    .prepare('UPDATE refresh_tokens SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL')
    .bind(userId, now, reason);
}
