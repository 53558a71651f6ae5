/**
 * The `reconciled_entities` table: seed 003's reconciled entities, written behind by each tenant's
 * Reconciliation actor for queries. The actor's SQLite is the authority; this is its queryable copy.
 */
import type { Entity } from '../domain/reconciliation';

/** One outbox row of the Reconciliation actor. */
export interface EntityRow {
  tenantId: string;
  entity: Entity;
}

/** Idempotent and monotonic: only a newer version replaces a stored row. */
export function upsertEntity(db: D1Database, row: EntityRow): D1PreparedStatement {
  const e = row.entity;
  return db
    .prepare(
      `INSERT INTO reconciled_entities (tenant_id, entity_type, entity_id, version, data, vector_clock, deleted, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
       ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE SET version = excluded.version, data = excluded.data,
         vector_clock = excluded.vector_clock, deleted = excluded.deleted, updated_at = excluded.updated_at
       WHERE excluded.version > reconciled_entities.version`,
    )
    .bind(
      row.tenantId,
      e.entityType,
      e.entityId,
      e.version,
      JSON.stringify(e.data),
      JSON.stringify(e.vectorClock),
      e.deleted ? 1 : 0,
      e.updatedAt,
    );
}
