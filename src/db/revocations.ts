/** Access-token revocation: logged-out `jti`s, and sessions (refresh families) that were ended. */

/** Why an access token is refused before its expiry, or null when it is still good. */
export type Revocation = 'token' | 'session' | null;

/**
 * One round trip: the token's own `jti` was logged out, or its refresh family (`sid`) was revoked
 * (logout, reuse detection, role change), which ends every access token minted in that session.
 */
export async function accessRevocation(db: D1Database, jti: string, sessionId: string | undefined): Promise<Revocation> {
  const row = await db
    .prepare(
      `SELECT
         EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?1) AS by_token,
         EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?2 AND revoked_at IS NOT NULL) AS by_session`,
    )
    .bind(jti, sessionId ?? null)
    .first<{ by_token: number; by_session: number }>();
  if (row?.by_token) return 'token';
  if (row?.by_session) return 'session';
  return null;
}

/** Refuses `jti` until `expiresAt` (ISO); prunes rows whose tokens have expired anyway. */
export function revokeAccessTokenStatements(
  db: D1Database,
  jti: string,
  userId: number,
  expiresAt: string,
  now: string,
): D1PreparedStatement[] {
  return [
    db.prepare('DELETE FROM revoked_access_tokens WHERE expires_at < ?1').bind(now),
    db
      .prepare('INSERT OR IGNORE INTO revoked_access_tokens (jti, user_id, expires_at) VALUES (?1, ?2, ?3)')
      .bind(jti, userId, expiresAt),
  ];
}
