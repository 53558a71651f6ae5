-- Seed 003's reconciled entities, per tenant, written behind by the tenant's Reconciliation actor (which holds
-- the authoritative copy, durable at once). The upsert only moves forward: a row with a newer version is never
-- overwritten by an older one, so a replayed or reordered flush changes nothing. Tombstones (deleted = 1) stay,
-- so queries see deletes.
CREATE TABLE reconciled_entities (
  tenant_id TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  vector_clock TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, entity_type, entity_id)
);
CREATE INDEX reconciled_entities_by_version ON reconciled_entities (tenant_id, version);
