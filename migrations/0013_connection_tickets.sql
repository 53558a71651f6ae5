-- Connection tickets: short-lived, single-use stand-ins for an access token in WebSocket, SSE and Socket.IO URLs.
-- Only the ticket's hash is stored; redeeming deletes the row (DELETE ... RETURNING), so a ticket works once.
CREATE TABLE IF NOT EXISTS connection_tickets (
  ticket_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  identity TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS connection_tickets_expires ON connection_tickets (expires_at);
