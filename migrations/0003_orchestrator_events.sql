-- Events published on a tenant's orchestrator stream, written behind by the Room actor's alarm.
-- (tenant_id, event_id) is the idempotency key: a replayed flush inserts nothing twice. No foreign key to
-- tenants: actor keys already carry the tenant, and a row the outbox can never write would block it forever.
CREATE TABLE orchestrator_events (
  tenant_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  type TEXT NOT NULL,
  scope TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX orchestrator_events_by_time ON orchestrator_events (tenant_id, created_at);
