-- Idempotency-Key answers of creating POSTs whose write is a D1 write (zones, structures, racing events,
-- crafting sessions, the event bus): one row per (caller, route, key), kept 24 h. `state` is 'pending' while the
-- first request runs and 'done' with its answer after; `body_hash` tells a retry from another request under
-- the same key.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  body_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
  status INTEGER,
  content_type TEXT,
  body TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
