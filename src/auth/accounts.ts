import { createUser, findUserByUsername, storedPassword, touchLastLogin, type UserRow } from '../db/users';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { stringsEqual } from './crypto';
import { burnPasswordHash, hashPassword, verifyPassword } from './passwords';
import { type SessionTokens, startSession } from './sessions';
import { DEFAULT_TENANT } from './tenants';

export interface RegisterInput {
  tenantId: string;
  username: string;
  email?: string;
  password: string;
}

export interface LoginInput {
  tenantId: string;
  username: string;
  password: string;
}

const taken = (username: string, tenantId: string) =>
  new ApiError('CONFLICT', `Username "${username}" is already taken in tenant "${tenantId}"`, {
    details: { field: 'username' },
  });

const invalidCredentials = () =>
  new ApiError('AUTHENTICATION_REQUIRED', 'Invalid username or password', { details: { reason: 'invalid_credentials' } });

/** The bootstrap admin's name is kept free in the default tenant, so nobody can register it first. */
function isReservedName(env: Env, tenantId: string, username: string): boolean {
  return tenantId === DEFAULT_TENANT && !!env.ADMIN_USERNAME && env.ADMIN_USERNAME.toLowerCase() === username.toLowerCase();
}

/**
 * Registers a player. Tenants are self-service namespaces: registering into a tenant id nobody has used
 * yet creates it, and its first users are ordinary players (admins of a new tenant are granted by an
 * operator). Data never crosses tenants, so a new tenant sees nothing of the others.
 */
export async function register(env: Env, input: RegisterInput, nowMs = Date.now()): Promise<SessionTokens> {
  if (isReservedName(env, input.tenantId, input.username)) throw taken(input.username, input.tenantId);
  const user = await createUser(env.DB, {
    tenantId: input.tenantId,
    username: input.username,
    email: input.email ?? null,
    role: 'player',
    password: await hashPassword(input.password),
    withPlayer: true,
    now: new Date(nowMs).toISOString(),
  });
  if (!user) throw taken(input.username, input.tenantId);
  return startSession(env, user, nowMs);
}

/** Both compared in constant time, every time, so the check leaks neither value. */
async function isBootstrapAdmin(env: Env, input: LoginInput): Promise<boolean> {
  if (input.tenantId !== DEFAULT_TENANT || !env.ADMIN_USERNAME || !env.ADMIN_PASSWORD) return false;
  const [name, password] = await Promise.all([
    stringsEqual(input.username, env.ADMIN_USERNAME),
    stringsEqual(input.password, env.ADMIN_PASSWORD),
  ]);
  return name && password;
}

/**
 * The first admin of the default tenant is created on its first login with exactly the ADMIN_USERNAME /
 * ADMIN_PASSWORD secrets; from then on it is a normal user with a normal password hash.
 */
async function bootstrapAdmin(env: Env, input: LoginInput, nowMs: number): Promise<UserRow | null> {
  return createUser(env.DB, {
    tenantId: DEFAULT_TENANT,
    username: input.username,
    role: 'admin',
    password: await hashPassword(input.password),
    withPlayer: true,
    now: new Date(nowMs).toISOString(),
  });
}

async function checkPassword(user: UserRow | null, password: string): Promise<boolean> {
  const stored = user ? storedPassword(user) : null;
  if (!stored) {
    // Unknown users and password-less service accounts spend a hash too: no timing oracle.
    await burnPasswordHash(password);
    return false;
  }
  return verifyPassword(password, stored);
}

export async function login(env: Env, input: LoginInput, nowMs = Date.now()): Promise<SessionTokens> {
  let user = await findUserByUsername(env.DB, input.tenantId, input.username);
  if (!user && (await isBootstrapAdmin(env, input))) {
    // A concurrent first login may have created it a moment ago: then log in as that user.
    const created = await bootstrapAdmin(env, input, nowMs);
    if (created) return startSession(env, created, nowMs);
    user = await findUserByUsername(env.DB, input.tenantId, input.username);
  }
  const ok = await checkPassword(user, input.password);
  if (!user || !ok) throw invalidCredentials();
  await touchLastLogin(env.DB, user.id, new Date(nowMs).toISOString());
  return startSession(env, user, nowMs);
}
