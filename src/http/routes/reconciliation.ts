import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { reconciliationActor } from '../../actors/keys';
import type { ReconcileAnswer, Reconciliation } from '../../actors/reconciliation';
import type { Operation } from '../../domain/reconciliation';
import { POLICIES } from '../../domain/reconciliation';
import { ApiError, fromReply, type Reply } from '../../errors';
import type { AppEnv } from '../context';
import { requireAuth, requireRole } from '../middleware/auth';
import { rateLimitBy } from '../middleware/rate-limit';
import { bearer, errorContent as error, jsonContent, jsonRequest } from '../openapi';
import { router } from '../validation';

/**
 * Seed 003's reconciliation: `POST /api/reconciliation/reconcile` (10/min per user) and
 * `GET /api/reconciliation/snapshot/:entityType/:entityId`, over the tenant's Reconciliation actor; plus the
 * admin's per-entity-type conflict policy. Errors in seed 003's words.
 */

const actorOf = (c: Context<AppEnv>): DurableObjectStub<Reconciliation> => reconciliationActor(c.env, c.get('identity').tenantId);

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const isoDate = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date')
  .openapi({ example: '2026-01-30T12:00:00Z' });

const VectorClockSchema = z
  .record(z.string().min(1).max(128), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
  .refine((clock) => Object.keys(clock).length <= 256, 'at most 256 entries')
  .openapi({ example: { 'client-789': 1 } });

const OperationSchema = z
  .object({
    operationId: z.string().min(1).max(128),
    clientId: z.string().min(1).max(128),
    tenantId: z.string().min(1).max(63),
    entityType: z.string().regex(NAME).openapi({ example: 'document' }),
    entityId: z.string().regex(NAME).openapi({ example: 'doc-456' }),
    operationType: z.enum(['CREATE', 'UPDATE', 'DELETE']),
    payload: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ example: { content: 'Updated text' } }),
    timestamp: isoDate,
    vectorClock: VectorClockSchema,
  })
  .strict()
  .refine((op) => op.operationType === 'DELETE' || op.payload !== undefined, {
    message: 'CREATE and UPDATE need a payload object',
    path: ['payload'],
  })
  .openapi('Operation');

const ReconcileBody = z
  .object({
    requestId: z.string().min(1).max(128),
    clientId: z.string().min(1).max(128),
    tenantId: z.string().min(1).max(63),
    lastKnownVersion: z.string().max(32).optional(),
    operations: z.array(OperationSchema).max(100),
    requestedAt: isoDate,
  })
  .strict()
  .openapi('ReconcileRequest');

const ConflictSchema = z
  .object({
    operationId: z.string(),
    entityType: z.string(),
    entityId: z.string(),
    type: z.enum([
      'STALE_OPERATION',
      'CONCURRENT_UPDATE',
      'UPDATE_AFTER_DELETE',
      'CREATE_EXISTING',
      'DELETE_MODIFIED',
      'ENTITY_NOT_FOUND',
    ]),
    fields: z.array(z.string()),
    serverValue: z.record(z.string(), z.unknown()).nullable(),
    clientValue: z.record(z.string(), z.unknown()).nullable(),
    serverClock: VectorClockSchema,
    clientClock: VectorClockSchema,
    resolution: z.object({
      policy: z.enum([...POLICIES, 'causal']),
      winner: z.enum(['server', 'client', 'none']),
    }),
  })
  .openapi('Conflict');

const ChangeSchema = z
  .object({
    entityType: z.string(),
    entityId: z.string(),
    version: z.string(),
    operationType: z.enum(['UPSERT', 'DELETE']),
    data: z.record(z.string(), z.unknown()).nullable(),
    vectorClock: VectorClockSchema,
    updatedAt: z.string(),
  })
  .openapi('EntityChange');

const ReconcileAnswerSchema = z
  .object({
    requestId: z.string(),
    conflicts: z.array(ConflictSchema),
    resolvedOperations: z.array(
      OperationSchema.and(z.object({ status: z.enum(['applied', 'merged']), entityVersion: z.string().nullable() })),
    ),
    currentVersion: z.string().openapi({ description: "The tenant's version: raised by every change, never lowered" }),
    deltaUpdates: z.array(ChangeSchema).optional().openapi({ description: 'Entities changed since lastKnownVersion' }),
    snapshot: z
      .object({ version: z.string(), entities: z.array(ChangeSchema), truncated: z.boolean() })
      .optional()
      .openapi({ description: 'Instead of deltaUpdates when lastKnownVersion is absent, unknown or too far behind' }),
    completedAt: z.string(),
  })
  .openapi('ReconcileResponse');

const SnapshotSchema = z
  .object({
    snapshotId: z.string(),
    tenantId: z.string(),
    entityType: z.string(),
    entityId: z.string(),
    version: z.string(),
    data: z.record(z.string(), z.unknown()),
    vectorClock: VectorClockSchema,
    createdAt: z.string(),
    checksum: z.string().openapi({ description: 'Hex SHA-256 of the RFC 8785 canonical JSON of data' }),
  })
  .openapi('Snapshot');

const EntityParams = z.object({
  entityType: z
    .string()
    .regex(NAME)
    .openapi({ param: { name: 'entityType', in: 'path' }, example: 'document' }),
  entityId: z
    .string()
    .regex(NAME)
    .openapi({ param: { name: 'entityId', in: 'path' }, example: 'doc-456' }),
});

const PolicyParams = z.object({ entityType: EntityParams.shape.entityType });
const PolicyBody = z
  .object({ policy: z.enum(POLICIES) })
  .strict()
  .openapi('ConflictPolicy');

const common = {
  401: error('AUTH_FAILED'),
  403: error('TENANT_VIOLATION (X-Tenant-ID, tenantId or an operation tenantId is not the token tenant) or AUTHZ_FAILED'),
  429: error('RATE_LIMIT'),
};

const reconcileRoute = createRoute({
  method: 'post',
  path: '/reconcile',
  summary: 'Reconcile offline operations by vector clock (seed 003); 10/min per user',
  description:
    'Each operation is idempotent by operationId. One that descends from the entity applies; an older one is a ' +
    'STALE_OPERATION conflict; a concurrent one merges disjoint fields and settles overlapping ones by the entity ' +
    "type's policy (default last-writer-wins by timestamp, then clientId).",
  security: bearer,
  request: { body: jsonRequest(ReconcileBody) },
  responses: {
    200: jsonContent(ReconcileAnswerSchema, 'What became of each operation'),
    400: error('INVALID_REQUEST'),
    ...common,
  },
});

const snapshotRoute = createRoute({
  method: 'get',
  path: '/snapshot/{entityType}/{entityId}',
  summary: "An entity's state with a verifiable checksum (seed 003)",
  security: bearer,
  request: { params: EntityParams },
  responses: { 200: jsonContent(SnapshotSchema, 'Snapshot'), 404: error('NOT_FOUND: never created, or deleted'), ...common },
});

const policyRoute = createRoute({
  method: 'put',
  path: '/policies/{entityType}',
  summary: "Set an entity type's conflict policy (admin)",
  security: bearer,
  request: { params: PolicyParams, body: jsonRequest(PolicyBody) },
  responses: {
    200: jsonContent(z.object({ entityType: z.string(), policy: z.enum(POLICIES) }), 'Set'),
    400: error('INVALID_REQUEST'),
    ...common,
  },
});

export const reconciliation = router();

reconciliation.use('*', requireAuth);
reconciliation.use('/reconcile', rateLimitBy('RECONCILE', 'user'));
reconciliation.use('/policies/*', requireRole('admin'));

const tenantViolation = (field: string, value: string) =>
  new ApiError('TENANT_VIOLATION', `${field} "${value}" is not the token's tenant`, { details: { field } });

reconciliation
  .openapi(reconcileRoute, async (c) => {
    const body = c.req.valid('json');
    const { tenantId } = c.get('identity');
    // A request naming another tenant anywhere is refused whole: nothing is applied.
    if (body.tenantId !== tenantId) throw tenantViolation('tenantId', body.tenantId);
    body.operations.forEach((op, i) => {
      if (op.tenantId !== tenantId) throw tenantViolation(`operations.${i}.tenantId`, op.tenantId);
    });
    const answer = fromReply(
      (await actorOf(c).reconcile(tenantId, {
        requestId: body.requestId,
        clientId: body.clientId,
        lastKnownVersion: body.lastKnownVersion,
        operations: body.operations as Operation[],
      })) as Reply<ReconcileAnswer>,
    );
    return c.json(answer as z.infer<typeof ReconcileAnswerSchema>, 200);
  })
  .openapi(snapshotRoute, async (c) => {
    const { entityType, entityId } = c.req.valid('param');
    const snapshot = await actorOf(c).snapshot(c.get('identity').tenantId, entityType, entityId);
    if (!snapshot) {
      throw new ApiError('NOT_FOUND', `No ${entityType} "${entityId}"`, { details: { entityType, entityId } });
    }
    return c.json(snapshot as z.infer<typeof SnapshotSchema>, 200);
  })
  .openapi(policyRoute, async (c) => {
    const { entityType } = c.req.valid('param');
    const { policy } = c.req.valid('json');
    await actorOf(c).setPolicy(entityType, policy);
    return c.json({ entityType, policy }, 200);
  });
