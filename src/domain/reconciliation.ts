import { canonicalSha256 } from './canonical-json';
import { type ClockOrder, clockLeq, compareClocks, mergeClocks, type VectorClock } from './vector-clock';

/**
 * Seed 003's reconciliation, the pure part: one client operation against the server's copy of an entity, decided
 * by vector clocks. An operation that descends from the entity applies; an older one is a STALE_OPERATION; a
 * concurrent one merges the fields nobody else touched, and for fields both sides changed the entity type's
 * policy decides. Last-writer-wins orders writes by (timestamp, clientId), so the final data is the same in any
 * arrival order. Everything here is deterministic; the actor stores what it answers.
 */

export type OperationType = 'CREATE' | 'UPDATE' | 'DELETE';

/** An operation as the seed's request carries it. `timestamp` is the client's ISO 8601 time of the change. */
export interface Operation {
  operationId: string;
  clientId: string;
  tenantId: string;
  entityType: string;
  entityId: string;
  operationType: OperationType;
  payload?: Record<string, unknown>;
  timestamp: string;
  vectorClock: VectorClock;
}

export const POLICIES = ['last-writer-wins', 'server-wins', 'client-wins', 'manual'] as const;
export type Policy = (typeof POLICIES)[number];
export const DEFAULT_POLICY: Policy = 'last-writer-wins';

/** Who wrote something, for last-writer-wins and for conflicts' "both clocks". */
export interface Stamp {
  timestamp: number;
  clientId: string;
  vectorClock: VectorClock;
}

/** The server's copy of an entity. Deleted entities stay as tombstones so late operations are judged right. */
export interface Entity {
  entityType: string;
  entityId: string;
  data: Record<string, unknown>;
  vectorClock: VectorClock;
  deleted: boolean;
  /** The tenant version of the entity's last change. */
  version: number;
  /** Last writer of each top-level field. */
  fields: Record<string, Stamp>;
  /** Last writer of the entity as a whole (create, delete, or the latest field write). */
  lastWrite: Stamp;
  /** ISO 8601 server time of the last change. */
  updatedAt: string;
}

export type ConflictType =
  | 'STALE_OPERATION'
  | 'CONCURRENT_UPDATE'
  | 'UPDATE_AFTER_DELETE'
  | 'CREATE_EXISTING'
  | 'DELETE_MODIFIED'
  | 'ENTITY_NOT_FOUND';

export interface Conflict {
  operationId: string;
  entityType: string;
  entityId: string;
  type: ConflictType;
  /** The top-level fields in conflict (empty for whole-entity conflicts). */
  fields: string[];
  /** Both values of those fields (the whole data for whole-entity conflicts; null where there is none). */
  serverValue: Record<string, unknown> | null;
  clientValue: Record<string, unknown> | null;
  serverClock: VectorClock;
  clientClock: VectorClock;
  resolution: { policy: Policy | 'causal'; winner: 'server' | 'client' | 'none' };
}

export type OperationStatus = 'applied' | 'merged' | 'rejected';

export interface OperationOutcome {
  status: OperationStatus;
  /** The entity after the operation, or null when nothing changed. */
  entity: Entity | null;
  conflicts: Conflict[];
}

/** Later (timestamp, then clientId) wins; an exact tie keeps the server's. */
function clientIsLater(op: Stamp, server: Stamp): boolean {
  if (op.timestamp !== server.timestamp) return op.timestamp > server.timestamp;
  return op.clientId > server.clientId;
}

function winnerOf(policy: Policy, op: Stamp, server: Stamp): 'server' | 'client' | 'none' {
  switch (policy) {
    case 'server-wins':
      return 'server';
    case 'client-wins':
      return 'client';
    case 'manual':
      return 'none';
    default:
      return clientIsLater(op, server) ? 'client' : 'server';
  }
}

const pick = (data: Record<string, unknown>, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => k in data).map((k) => [k, data[k]]));

export const stampOf = (op: Operation): Stamp => ({
  timestamp: Date.parse(op.timestamp),
  clientId: op.clientId,
  vectorClock: op.vectorClock,
});

/**
 * Applies `op` to `entity` (null = never seen) under `policy`. `version` is the tenant version a change gets;
 * `now` the server time. Pure: the caller stores `outcome.entity` when it is not null.
 */
export function applyOperation(
  entity: Entity | null,
  op: Operation,
  policy: Policy,
  version: number,
  now: string,
): OperationOutcome {
  const stamp = stampOf(op);
  const payload = op.payload ?? {};
  const conflict = (
    type: ConflictType,
    fields: string[],
    serverValue: Record<string, unknown> | null,
    clientValue: Record<string, unknown> | null,
    resolution: Conflict['resolution'],
  ): Conflict => ({
    operationId: op.operationId,
    entityType: op.entityType,
    entityId: op.entityId,
    type,
    fields,
    serverValue,
    clientValue,
    serverClock: entity?.vectorClock ?? {},
    clientClock: op.vectorClock,
    resolution,
  });
  const written = (data: Record<string, unknown>, fields: Record<string, Stamp>, deleted: boolean, lastWrite: Stamp): Entity => ({
    entityType: op.entityType,
    entityId: op.entityId,
    data,
    vectorClock: mergeClocks(entity?.vectorClock ?? {}, op.vectorClock),
    deleted,
    version,
    fields,
    lastWrite,
    updatedAt: now,
  });
  const allFields = (data: Record<string, unknown>) => Object.fromEntries(Object.keys(data).map((k) => [k, stamp]));
  const rejected = (c: Conflict): OperationOutcome => ({ status: 'rejected', entity: null, conflicts: [c] });

  if (entity === null) {
    if (op.operationType === 'CREATE')
      return { status: 'applied', entity: written(payload, allFields(payload), false, stamp), conflicts: [] };
    return rejected(
      conflict('ENTITY_NOT_FOUND', [], null, op.operationType === 'UPDATE' ? payload : null, {
        policy: 'causal',
        winner: 'server',
      }),
    );
  }

  const order: ClockOrder = compareClocks(op.vectorClock, entity.vectorClock);

  if (entity.deleted) {
    if (op.operationType === 'DELETE') return { status: 'applied', entity: null, conflicts: [] }; // already gone
    if (op.operationType === 'CREATE' && order === 'after') {
      return { status: 'applied', entity: written(payload, allFields(payload), false, stamp), conflicts: [] };
    }
    const winner = winnerOf(policy, stamp, entity.lastWrite);
    const c = conflict('UPDATE_AFTER_DELETE', Object.keys(payload), null, payload, { policy, winner });
    if (winner !== 'client')
      return { status: 'rejected', entity: written(entity.data, entity.fields, true, entity.lastWrite), conflicts: [c] };
    return { status: 'merged', entity: written(payload, allFields(payload), false, stamp), conflicts: [c] };
  }

  if (order === 'before' || order === 'equal') {
    const fields = op.operationType === 'DELETE' ? [] : Object.keys(payload);
    return rejected(
      conflict('STALE_OPERATION', fields, pick(entity.data, fields), op.operationType === 'DELETE' ? null : payload, {
        policy: 'causal',
        winner: 'server',
      }),
    );
  }

  if (op.operationType === 'CREATE') {
    const winner = winnerOf(policy, stamp, entity.lastWrite);
    const c = conflict('CREATE_EXISTING', [], entity.data, payload, { policy, winner });
    if (winner === 'client')
      return { status: 'merged', entity: written(payload, allFields(payload), false, stamp), conflicts: [c] };
    return { status: 'rejected', entity: written(entity.data, entity.fields, false, entity.lastWrite), conflicts: [c] };
  }

  if (op.operationType === 'DELETE') {
    if (order === 'after') return { status: 'applied', entity: written(entity.data, entity.fields, true, stamp), conflicts: [] };
    const winner = winnerOf(policy, stamp, entity.lastWrite);
    const c = conflict('DELETE_MODIFIED', [], entity.data, null, { policy, winner });
    if (winner === 'client')
      return { status: 'merged', entity: written(entity.data, entity.fields, true, stamp), conflicts: [c] };
    return { status: 'rejected', entity: written(entity.data, entity.fields, false, entity.lastWrite), conflicts: [c] };
  }

  // UPDATE of a live entity: fields whose last writer this operation has seen are simply overwritten; the others
  // were changed concurrently and go to the policy, field by field (each against its own last writer).
  const data = { ...entity.data };
  const fields = { ...entity.fields };
  const contested: Record<'server' | 'client' | 'none', string[]> = { server: [], client: [], none: [] };
  for (const [key, value] of Object.entries(payload)) {
    const last = fields[key];
    const seen = order === 'after' || last === undefined || clockLeq(last.vectorClock, op.vectorClock);
    const winner = seen ? 'client' : winnerOf(policy, stamp, last);
    if (!seen) contested[winner].push(key);
    if (winner === 'client') {
      data[key] = value;
      fields[key] = stamp;
    }
  }
  const clientTook = Object.keys(payload).some((k) => fields[k] === stamp);
  const lastWrite = clientTook && (order === 'after' || clientIsLater(stamp, entity.lastWrite)) ? stamp : entity.lastWrite;
  const next = written(data, fields, false, lastWrite);
  const conflicts = (['client', 'server', 'none'] as const)
    .filter((winner) => contested[winner].length > 0)
    .map((winner) =>
      conflict('CONCURRENT_UPDATE', contested[winner], pick(entity.data, contested[winner]), pick(payload, contested[winner]), {
        policy,
        winner,
      }),
    );
  const status: OperationStatus = order === 'after' ? 'applied' : clientTook ? 'merged' : 'rejected';
  return { status, entity: next, conflicts };
}

/** A delta entry: an entity's state at its version (tombstones say DELETE). */
export interface EntityChange {
  entityType: string;
  entityId: string;
  version: string;
  operationType: 'UPSERT' | 'DELETE';
  data: Record<string, unknown> | null;
  vectorClock: VectorClock;
  updatedAt: string;
}

export const changeOf = (e: Entity): EntityChange => ({
  entityType: e.entityType,
  entityId: e.entityId,
  version: String(e.version),
  operationType: e.deleted ? 'DELETE' : 'UPSERT',
  data: e.deleted ? null : e.data,
  vectorClock: e.vectorClock,
  updatedAt: e.updatedAt,
});

/** The seed's snapshot: `checksum` is SHA-256 over RFC 8785 canonical JSON of `data`; the id follows from the state. */
export interface Snapshot {
  snapshotId: string;
  tenantId: string;
  entityType: string;
  entityId: string;
  version: string;
  data: Record<string, unknown>;
  vectorClock: VectorClock;
  createdAt: string;
  checksum: string;
}

export async function snapshotOf(tenantId: string, e: Entity): Promise<Snapshot> {
  const checksum = await canonicalSha256(e.data);
  const id = await canonicalSha256({ tenantId, entityType: e.entityType, entityId: e.entityId, checksum });
  return {
    snapshotId: `snap_${id.slice(0, 32)}`,
    tenantId,
    entityType: e.entityType,
    entityId: e.entityId,
    version: String(e.version),
    data: e.data,
    vectorClock: e.vectorClock,
    createdAt: e.updatedAt,
    checksum,
  };
}

/** A client's `lastKnownVersion` as a tenant version, or null when it is not one this server gave out. */
export function parseVersion(v: string | undefined, current: number): number | null {
  if (v === undefined || !/^\d{1,15}$/.test(v)) return null;
  const n = Number(v);
  return n <= current ? n : null;
}
