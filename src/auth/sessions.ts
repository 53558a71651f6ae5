import { findRefreshToken, insertRefreshToken, revokeFamilyStatement, rotateRefreshToken } from '../db/refresh-tokens';
import { revokeAccessTokenStatements } from '../db/revocations';
import { findUserById, type UserRow } from '../db/users';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { randomToken, sha256, toBase64Url } from './crypto';
import type { Identity } from './identity';
import { issueAccessToken } from './tokens';

export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60;

/** The body seed 000 answers register, login and refresh with. */
export interface SessionTokens {
  access_token: string;
  refresh_token: string;
  expires_at: string;
  user_id: number;
  username: string;
  role: UserRow['role'];
}

/** Only the hash is stored, so a leaked table does not hand out sessions. */
const hashRefreshToken = async (token: string) => toBase64Url(await sha256(token));

const newRefreshToken = () => randomToken(32);

async function tokensFor(env: Env, user: UserRow, familyId: string, refreshToken: string, nowMs: number) {
  const access = await issueAccessToken(
    env,
    { userId: user.id, tenantId: user.tenant_id, role: user.role, username: user.username, sessionId: familyId },
    { now: nowMs },
  );
  return {
    access_token: access.token,
    refresh_token: refreshToken,
    expires_at: access.expiresAt,
    user_id: user.id,
    username: user.username,
    role: user.role,
  } satisfies SessionTokens;
}

/** Starts a session (a new refresh family) for a user who just proved who they are. */
export async function startSession(env: Env, user: UserRow, nowMs = Date.now()): Promise<SessionTokens> {
  const familyId = randomToken(16);
  const refreshToken = newRefreshToken();
  await insertRefreshToken(env.DB, {
    tokenHash: await hashRefreshToken(refreshToken),
    familyId,
    userId: user.id,
    tenantId: user.tenant_id,
    createdAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + REFRESH_TOKEN_TTL_SECONDS * 1000).toISOString(),
  });
  return tokensFor(env, user, familyId, refreshToken, nowMs);
}

const refused = (message: string, reason: string) => new ApiError('AUTHENTICATION_REQUIRED', message, { details: { reason } });

/** Whose refresh family was just revoked, for whoever caches revocations (the user's limiter object). */
export interface RevokedFamily {
  tenantId: string;
  userId: number;
}

async function reuseDetected(
  env: Env,
  family: { familyId: string } & RevokedFamily,
  now: string,
  onRevoked?: (family: RevokedFamily) => Promise<void>,
): Promise<never> {
  await revokeFamilyStatement(env.DB, family.familyId, 'reuse', now).run();
  await onRevoked?.({ tenantId: family.tenantId, userId: family.userId });
  throw refused(
    'Refresh token reuse detected: this token was already used or revoked, so its whole session has been revoked. Log in again.',
    'reuse_detected',
  );
}

/**
 * Exchanges a refresh token for a new pair and spends the old one. Presenting a spent or revoked token is
 * taken as theft (one of two holders is replaying it): the whole family is revoked.
 */
export async function refreshSession(
  env: Env,
  presented: string,
  headerTenant: string | undefined,
  nowMs = Date.now(),
  onRevoked?: (family: RevokedFamily) => Promise<void>,
): Promise<SessionTokens> {
  const now = new Date(nowMs).toISOString();
  const oldHash = await hashRefreshToken(presented);
  const row = await findRefreshToken(env.DB, oldHash);
  if (!row) throw refused('Refresh token is invalid', 'invalid');
  const family = { familyId: row.family_id, tenantId: row.tenant_id, userId: row.user_id };
  if (row.used_at || row.revoked_at) return reuseDetected(env, family, now, onRevoked);
  if (row.expires_at <= now) throw refused('Refresh token has expired; log in again', 'expired');
  if (headerTenant !== undefined && headerTenant !== row.tenant_id) {
    throw new ApiError('TENANT_VIOLATION', `X-Tenant-ID "${headerTenant}" does not match the token's tenant`, {
      details: { field: 'X-Tenant-ID' },
    });
  }
  // Read the user now, so a changed role or name shows in the new access token.
  const user = await findUserById(env.DB, row.tenant_id, row.user_id);
  if (!user) throw refused('Refresh token is invalid: its user no longer exists', 'invalid');

  const next = newRefreshToken();
  const won = await rotateRefreshToken(
    env.DB,
    oldHash,
    { tokenHash: await hashRefreshToken(next), expiresAt: new Date(nowMs + REFRESH_TOKEN_TTL_SECONDS * 1000).toISOString() },
    now,
  );
  // Lost a race with another refresh of the same token: the same replay as above.
  if (!won) return reuseDetected(env, family, now, onRevoked);
  return tokensFor(env, user, row.family_id, next, nowMs);
}

/** Ends the caller's session: its refresh family, and this access token until it would have expired. */
export async function logout(env: Env, identity: Identity, nowMs = Date.now()): Promise<void> {
  const now = new Date(nowMs).toISOString();
  const statements = revokeAccessTokenStatements(
    env.DB,
    identity.jti,
    Number(identity.userId),
    new Date(identity.exp * 1000).toISOString(),
    now,
  );
  if (identity.sessionId) statements.push(revokeFamilyStatement(env.DB, identity.sessionId, 'logout', now));
  await env.DB.batch(statements);
}
