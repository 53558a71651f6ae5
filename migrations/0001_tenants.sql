-- Tenants: every user, actor key and row belongs to one. `default` always exists.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO tenants (id) VALUES ('default');
