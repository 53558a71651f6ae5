import { DurableObject } from 'cloudflare:workers';
import { WriteBehind } from '../core/write-behind';
import { type EntityRow, upsertEntity } from '../db/entities';
import {
  applyOperation,
  type Conflict,
  changeOf,
  DEFAULT_POLICY,
  type EntityChange,
  type Operation,
  type OperationStatus,
  type Policy,
  parseVersion,
  type Snapshot,
  snapshotOf,
} from '../domain/reconciliation';
import type { Env } from '../env';
import { type Reply, toReply } from '../errors';
import { type OperationRecord, ReconciliationStore } from './reconciliation-store';

/** The seed's request, as the route validated it (its tenant already checked against the token). */
export interface ReconcileRequest {
  requestId: string;
  clientId: string;
  lastKnownVersion?: string;
  operations: Operation[];
}

/** A resolved operation: the seed's Operation plus what became of it. */
export type ResolvedOperation = Operation & { status: OperationStatus; entityVersion: string | null };

export interface ReconcileAnswer {
  requestId: string;
  conflicts: Conflict[];
  resolvedOperations: ResolvedOperation[];
  currentVersion: string;
  deltaUpdates?: EntityChange[];
  snapshot?: { version: string; entities: EntityChange[]; truncated: boolean };
  completedAt: string;
}

/** Changes answered as `deltaUpdates` at most; a client further behind gets a snapshot. */
export const DELTA_MAX = 500;
/** Entities in a whole-tenant snapshot at most (`truncated` beyond). */
export const SNAPSHOT_MAX = 1000;
const OUTBOX_ENTITY = 'entity';
/** Write-behind delay after a change, and the retry delay after a failed flush. */
const FLUSH_DELAY_MS = 1000;
const FLUSH_RETRY_MS = 5000;

/**
 * A tenant's reconciled entities (key: the tenant id). One writer per tenant, so `currentVersion` is monotonic
 * and operations are decided in one order; state is in SQLite at once and written behind to D1
 * (`reconciled_entities`). A thin shell: rules in `src/domain/reconciliation.ts`, SQL in `reconciliation-store.ts`.
 */
export class Reconciliation extends DurableObject<Env> {
  private readonly store: ReconciliationStore;
  private readonly outbox: WriteBehind;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ReconciliationStore(ctx.storage.sql, ctx.storage.kv);
    this.outbox = new WriteBehind(ctx.storage.sql);
    this.outbox.register(OUTBOX_ENTITY, (db, row) => upsertEntity(db, row as EntityRow));
  }

  /**
   * Decides each operation in order (a replayed operationId answers its first result), then the changes since
   * `lastKnownVersion`, or a snapshot when that version is unknown or too far behind.
   */
  async reconcile(tenantId: string, request: ReconcileRequest): Promise<Reply<ReconcileAnswer>> {
    return toReply(async () => {
      const now = new Date().toISOString();
      const records = this.ctx.storage.transactionSync(() =>
        request.operations.map((op): OperationRecord => {
          const replay = this.store.operation(op.operationId);
          if (replay) return replay;
          const version = this.store.version() + 1;
          const outcome = applyOperation(
            this.store.entity(op.entityType, op.entityId),
            op,
            this.policyFor(op.entityType),
            version,
            now,
          );
          if (outcome.entity) {
            this.store.putEntity(outcome.entity);
            this.store.setVersion(version);
            this.outbox.enqueue(OUTBOX_ENTITY, { tenantId, entity: outcome.entity } satisfies EntityRow);
          }
          const record: OperationRecord = {
            operation: op,
            status: outcome.status,
            entityVersion: outcome.entity ? String(outcome.entity.version) : null,
            conflicts: outcome.conflicts,
          };
          this.store.putOperation(record);
          return record;
        }),
      );
      if (this.outbox.pending() > 0 && (await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
      }
      const current = this.store.version();
      return {
        requestId: request.requestId,
        conflicts: records.flatMap((r) => r.conflicts),
        resolvedOperations: records
          .filter((r) => r.status !== 'rejected')
          .map((r) => ({ ...r.operation, status: r.status, entityVersion: r.entityVersion })),
        currentVersion: String(current),
        ...this.catchUp(request.lastKnownVersion, current),
        completedAt: new Date().toISOString(),
      };
    });
  }

  /** The seed's snapshot of one entity; null for one never created or deleted. */
  async snapshot(tenantId: string, entityType: string, entityId: string): Promise<Snapshot | null> {
    const e = this.store.entity(entityType, entityId);
    return e && !e.deleted ? snapshotOf(tenantId, e) : null;
  }

  async setPolicy(entityType: string, policy: Policy): Promise<void> {
    this.store.setPolicy(entityType, policy);
  }

  async policy(entityType: string): Promise<Policy> {
    return this.policyFor(entityType);
  }

  async ping(): Promise<number> {
    return this.store.version();
  }

  /** Write-behind to D1; a failed flush is retried, nothing is dropped. */
  override async alarm(): Promise<void> {
    try {
      const { remaining } = await this.outbox.flush(this.env.DB);
      if (remaining > 0) await this.ctx.storage.setAlarm(Date.now());
    } catch (err) {
      console.error('reconciliation: write-behind flush failed', err);
      await this.ctx.storage.setAlarm(Date.now() + FLUSH_RETRY_MS);
    }
  }

  private policyFor(entityType: string): Policy {
    return this.store.policy(entityType) ?? DEFAULT_POLICY;
  }

  private catchUp(lastKnown: string | undefined, current: number): Pick<ReconcileAnswer, 'deltaUpdates' | 'snapshot'> {
    const known = parseVersion(lastKnown, current);
    if (known !== null) {
      const changes = this.store.changedAfter(known, DELTA_MAX + 1);
      if (changes.length <= DELTA_MAX) return { deltaUpdates: changes.map(changeOf) };
    }
    const live = this.store.live(SNAPSHOT_MAX + 1);
    return {
      snapshot: {
        version: String(current),
        entities: live.slice(0, SNAPSHOT_MAX).map(changeOf),
        truncated: live.length > SNAPSHOT_MAX,
      },
    };
  }
}
