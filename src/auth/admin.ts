import { revokeUserFamiliesStatement } from '../db/refresh-tokens';
import { createUser, findUserById, findUserByUsername, setUserRoleStatement, type UserRow } from '../db/users';
import type { Env } from '../env';
import { ApiError } from '../errors';
import type { Identity, Role } from './identity';
import { issueAccessToken } from './tokens';

export interface RoleChange {
  user_id: number;
  username: string;
  tenant_id: string;
  role: Role;
  previous_role: Role;
}

/**
 * Grants `role` to a user of the admin's own tenant (another tenant's users are not found). An admin cannot
 * change their own role, so a tenant cannot lose its last admin by accident. A real change ends the user's
 * sessions, so the old role stops working at once and the next login carries the new one.
 */
export async function changeRole(env: Env, admin: Identity, userId: number, role: Role, nowMs = Date.now()): Promise<RoleChange> {
  if (String(userId) === admin.userId) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Admins cannot change their own role', { details: { field: 'id' } });
  }
  const user = await findUserById(env.DB, admin.tenantId, userId);
  if (!user) throw new ApiError('NOT_FOUND', `User ${userId} not found`, { details: { field: 'id' } });
  if (user.role !== role) {
    const now = new Date(nowMs).toISOString();
    await env.DB.batch([
      setUserRoleStatement(env.DB, admin.tenantId, userId, role, now),
      revokeUserFamiliesStatement(env.DB, userId, 'role_changed', now),
    ]);
  }
  return { user_id: user.id, username: user.username, tenant_id: user.tenant_id, role, previous_role: user.role };
}

export const SERVICE_TOKEN_DEFAULT_TTL = 86_400;
export const SERVICE_TOKEN_MAX_TTL = 31_536_000;

export interface ServiceToken {
  token: string;
  token_type: 'Bearer';
  expires_at: string;
  name: string;
  user_id: number;
}

/** Service accounts are users named `service:<name>`; registration cannot take such names (no colon). */
const serviceUsername = (name: string) => `service:${name}`;

async function serviceAccount(env: Env, tenantId: string, name: string, nowMs: number): Promise<UserRow> {
  const username = serviceUsername(name);
  const existing =
    (await findUserByUsername(env.DB, tenantId, username)) ??
    (await createUser(env.DB, {
      tenantId,
      username,
      role: 'service',
      password: null,
      withPlayer: false,
      now: new Date(nowMs).toISOString(),
    })) ??
    // Created by a concurrent request between our read and insert.
    (await findUserByUsername(env.DB, tenantId, username));
  if (!existing) throw new Error(`service account ${username} vanished`);
  if (existing.role !== 'service') {
    throw new ApiError('CONFLICT', `User "${username}" exists but no longer has the service role`, {
      details: { field: 'name' },
    });
  }
  return existing;
}

/**
 * Mints a long-lived access token (role `service`, no refresh session) for the named service account in
 * the admin's tenant, creating the account on first use. Revoked like any access token, by its `jti`.
 */
export async function mintServiceToken(
  env: Env,
  admin: Identity,
  name: string,
  expiresIn = SERVICE_TOKEN_DEFAULT_TTL,
  nowMs = Date.now(),
): Promise<ServiceToken> {
  const account = await serviceAccount(env, admin.tenantId, name, nowMs);
  const issued = await issueAccessToken(
    env,
    { userId: account.id, tenantId: account.tenant_id, role: 'service', username: account.username },
    { ttlSeconds: expiresIn, now: nowMs },
  );
  return { token: issued.token, token_type: 'Bearer', expires_at: issued.expiresAt, name, user_id: account.id };
}
