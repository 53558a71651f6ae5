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

/**
 * Of several open sessions, the access-token ids that may no longer act: their own `jti` was logged out or
 * their refresh family was revoked. One round trip for a whole actor's connections.
 */
export async function revokedAmong(db: D1Database, sessions: Array<{ jti: string; sessionId?: string }>): Promise<Set<string>> {
  if (sessions.length === 0) return new Set();
  const { results } = await db
    .prepare(
      `SELECT s.value ->> '$.jti' AS jti FROM json_each(?1) AS s
       WHERE EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = s.value ->> '$.jti')
          OR EXISTS (SELECT 1 FROM refresh_tokens f WHERE f.family_id = s.value ->> '$.sid' AND f.revoked_at IS NOT NULL)`,
    )
    .bind(JSON.stringify(sessions.map((x) => ({ jti: x.jti, sid: x.sessionId ?? null }))))
    .all<{ jti: string }>();
  return new Set(results.map((r) => r.jti));
}
