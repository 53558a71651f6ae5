import type { Conflict, Entity, Operation, OperationStatus, Policy } from '../domain/reconciliation';

/**
 * A tenant's reconciled entities in its Reconciliation actor's SQLite: one row per entity (tombstones included)
 * indexed by the tenant version of its last change, the first answer to every operation id (so a replay answers
 * the same), the tenant's version counter and the per-entity-type policies. SQL only; rules are in the domain.
 */

/** What an operation answered the first time; a replay of its id answers this again. */
export interface OperationRecord {
  operation: Operation;
  status: OperationStatus;
  /** The entity's version after the operation (null when it changed nothing). */
  entityVersion: string | null;
  conflicts: Conflict[];
}

export class ReconciliationStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly kv: SyncKvStorage,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS recon_entities (
      entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY (entity_type, entity_id))`);
    sql.exec('CREATE INDEX IF NOT EXISTS recon_entities_version ON recon_entities (version)');
    sql.exec('CREATE TABLE IF NOT EXISTS recon_operations (operation_id TEXT PRIMARY KEY, body TEXT NOT NULL)');
  }

  /** The tenant's current version: raised by every change, never lowered. */
  version(): number {
    return this.kv.get<number>('version') ?? 0;
  }

  setVersion(v: number): void {
    this.kv.put('version', v);
  }

  entity(entityType: string, entityId: string): Entity | null {
    const r = this.sql
      .exec<{ body: string }>('SELECT body FROM recon_entities WHERE entity_type = ? AND entity_id = ?', entityType, entityId)
      .toArray()[0];
    return r ? (JSON.parse(r.body) as Entity) : null;
  }

  putEntity(e: Entity): void {
    this.sql.exec(
      `INSERT INTO recon_entities (entity_type, entity_id, version, body) VALUES (?, ?, ?, ?)
       ON CONFLICT(entity_type, entity_id) DO UPDATE SET version = excluded.version, body = excluded.body`,
      e.entityType,
      e.entityId,
      e.version,
      JSON.stringify(e),
    );
  }

  /** Entities changed after `version`, oldest change first (tombstones included). */
  changedAfter(version: number, limit: number): Entity[] {
    return this.sql
      .exec<{ body: string }>('SELECT body FROM recon_entities WHERE version > ? ORDER BY version LIMIT ?', version, limit)
      .toArray()
      .map((r) => JSON.parse(r.body) as Entity);
  }

  /** Live entities (no tombstones), by version. */
  live(limit: number): Entity[] {
    return this.sql
      .exec<{ body: string }>(
        "SELECT body FROM recon_entities WHERE json_extract(body, '$.deleted') = 0 ORDER BY version LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => JSON.parse(r.body) as Entity);
  }

  operation(operationId: string): OperationRecord | null {
    const r = this.sql
      .exec<{ body: string }>('SELECT body FROM recon_operations WHERE operation_id = ?', operationId)
      .toArray()[0];
    return r ? (JSON.parse(r.body) as OperationRecord) : null;
  }

  putOperation(record: OperationRecord): void {
    this.sql.exec(
      'INSERT INTO recon_operations (operation_id, body) VALUES (?, ?) ON CONFLICT(operation_id) DO NOTHING',
      record.operation.operationId,
      JSON.stringify(record),
    );
  }

  policy(entityType: string): Policy | null {
    return this.kv.get<Policy>(`policy:${entityType}`) ?? null;
  }

  setPolicy(entityType: string, policy: Policy): void {
    this.kv.put(`policy:${entityType}`, policy);
  }
}
