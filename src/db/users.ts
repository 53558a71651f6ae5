import type { Role } from '../auth/identity';
import type { PasswordHash } from '../auth/passwords';

/** A row of `users` (migrations/0002_identity.sql). */
export interface UserRow {
  id: number;
  tenant_id: string;
  username: string;
  email: string | null;
  role: Role;
  password_algorithm: string | null;
  password_iterations: number | null;
  password_salt: string | null;
  password_hash: string | null;
  created_at: string;
  updated_at: string;
}

/** The stored password of a user, or null for accounts that cannot log in with one (service accounts). */
export function storedPassword(user: UserRow): PasswordHash | null {
  if (!user.password_algorithm || !user.password_iterations || !user.password_salt || !user.password_hash) return null;
  return {
    algorithm: user.password_algorithm,
    iterations: user.password_iterations,
    salt: user.password_salt,
    hash: user.password_hash,
  };
}

export function findUserByUsername(db: D1Database, tenantId: string, username: string): Promise<UserRow | null> {
  return db.prepare('SELECT * FROM users WHERE tenant_id = ?1 AND username = ?2').bind(tenantId, username).first<UserRow>();
}

/** Scoped by tenant: a user of another tenant is simply not found. */
export function findUserById(db: D1Database, tenantId: string, id: number): Promise<UserRow | null> {
  return db.prepare('SELECT * FROM users WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id).first<UserRow>();
}

export interface NewUser {
  tenantId: string;
  username: string;
  email?: string | null;
  role: Role;
  password: PasswordHash | null;
  /** Also create the seed-000 player profile (level 1, position 0/0, floor 0). */
  withPlayer: boolean;
  now: string;
}

const isUniqueViolation = (err: unknown) => err instanceof Error && /UNIQUE constraint failed/i.test(err.message);

/**
 * Creates the user, its tenant if new, and its player profile, all or nothing.
 * Returns null when the username is already taken in that tenant (the unique index decides races).
 */
export async function createUser(db: D1Database, u: NewUser): Promise<UserRow | null> {
  const statements = [
    db.prepare('INSERT OR IGNORE INTO tenants (id) VALUES (?1)').bind(u.tenantId),
    db
      .prepare(
        `INSERT INTO users (tenant_id, username, email, role, password_algorithm, password_iterations,
                            password_salt, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         RETURNING *`,
      )
      .bind(
        u.tenantId,
        u.username,
        u.email ?? null,
        u.role,
        u.password?.algorithm ?? null,
        u.password?.iterations ?? null,
        u.password?.salt ?? null,
        u.password?.hash ?? null,
        u.now,
      ),
  ];
  if (u.withPlayer) {
    statements.push(
      db
        .prepare(
          `INSERT INTO players (user_id, tenant_id, username, created_at, last_login)
           SELECT id, tenant_id, username, ?3, ?3 FROM users WHERE tenant_id = ?1 AND username = ?2`,
        )
        .bind(u.tenantId, u.username, u.now),
    );
  }
  try {
    const results = await db.batch<UserRow>(statements);
    return results[1]?.results[0] ?? null;
  } catch (err) {
    if (isUniqueViolation(err)) return null;
    throw err;
  }
}

/** Seed 000's `last_login` of the player profile. */
export function touchLastLogin(db: D1Database, userId: number, now: string): Promise<D1Result> {
  return db.prepare('UPDATE players SET last_login = ?2 WHERE user_id = ?1').bind(userId, now).run();
}

export function setUserRoleStatement(db: D1Database, tenantId: string, id: number, role: Role, now: string): D1PreparedStatement {
  return db.prepare('UPDATE users SET role = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id, role, now);
}
