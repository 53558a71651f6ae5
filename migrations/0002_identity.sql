-- Identity: users, their player profiles, refresh-token families and revoked access tokens.
-- Timestamps are ISO-8601 UTC text (`toISOString()` form), so they compare correctly as strings.

-- A user belongs to exactly one tenant; usernames are unique per tenant, case-insensitively, so
-- "Alice" and "alice" cannot be two people. Service accounts have no password (all four NULL).
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  username TEXT NOT NULL COLLATE NOCASE,
  email TEXT,
  role TEXT NOT NULL DEFAULT 'player' CHECK (role IN ('player', 'admin', 'service')),
  -- Password hash with its parameters, so the iteration count can change without locking anyone out.
  password_algorithm TEXT,
  password_iterations INTEGER,
  password_salt TEXT,
  password_hash TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (tenant_id, username)
);

-- Seed 000's player profile, one per registered user (service accounts have none).
CREATE TABLE players (
  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  username TEXT NOT NULL,
  level INTEGER NOT NULL DEFAULT 1,
  experience_points INTEGER NOT NULL DEFAULT 0,
  currency_amount INTEGER NOT NULL DEFAULT 0,
  current_position_x REAL NOT NULL DEFAULT 0,
  current_position_y REAL NOT NULL DEFAULT 0,
  current_floor INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  last_login TEXT
);
CREATE INDEX players_tenant ON players (tenant_id);

-- Opaque refresh tokens, stored only as their SHA-256 hash. A login starts a family; every refresh
-- spends one token (used_at, replaced_by) and adds its successor to the same family.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  replaced_by TEXT,
  revoked_at TEXT,
  revoked_reason TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Access tokens refused before their natural expiry (logout). Rows past expires_at are pruned.
CREATE TABLE revoked_access_tokens (
  jti TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
