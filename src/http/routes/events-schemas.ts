import { z } from '@hono/zod-openapi';
import { EVENT_TYPE_FILTER_PATTERN, EVENT_TYPE_PATTERN, GROUP_BOUNDS, GROUP_NAME_PATTERN, LIMITS } from '../../domain/event-bus';

/** Request and answer schemas of seed 003's event routes: they validate requests and feed /openapi.json. */

export const BusEventSchema = z
  .object({
    eventId: z.string(),
    eventType: z.string(),
    tenantId: z.string(),
    timestamp: z.string().openapi({ example: '2026-01-30T12:00:00.000Z' }),
    payload: z.unknown(),
    metadata: z.record(z.string(), z.unknown()),
    schemaVersion: z.string(),
  })
  .openapi('BusEvent');

export const PollQuery = z.object({
  lastEventId: z
    .string()
    .max(LIMITS.eventIdMax)
    .optional()
    .openapi({ description: 'The last nextEventId (or eventId) received; omit to read from the oldest retained event' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(LIMITS.pollMax)
    .optional()
    .openapi({ description: `1..${LIMITS.pollMax}, default ${LIMITS.pollDefault}` }),
});

export const PollAnswer = z
  .object({
    events: z.array(BusEventSchema),
    hasMore: z.boolean(),
    nextEventId: z.string().openapi({ description: 'Pass as lastEventId next time (an eventId, or pos:<n>)' }),
    truncated: z.literal(true).optional().openapi({
      description: 'lastEventId was unknown or older than retention: the page starts at the oldest retained event',
    }),
    reason: z.enum(['unknown_event_id', 'expired']).optional(),
    oldestPosition: z.number().int().optional(),
  })
  .openapi('EventPoll');

export const PublishItemSchema = z
  .object({
    eventId: z
      .string()
      .min(1)
      .max(LIMITS.eventIdMax)
      .optional()
      .openapi({ description: 'Idempotency key (generated when absent)' }),
    eventType: z.string().max(LIMITS.eventTypeMax).regex(EVENT_TYPE_PATTERN).openapi({ example: 'order.placed' }),
    payload: z.unknown().openapi({ example: { orderId: 'order-789' } }),
    metadata: z.record(z.string(), z.unknown()).optional(),
    schemaVersion: z.string().min(1).max(LIMITS.schemaVersionMax).optional().openapi({ example: '1.0' }),
    // The seed's publisher sends the whole event: its tenantId must be the token's, its timestamp is the server's.
    tenantId: z.string().min(1).max(63).optional().openapi({ description: "The token's tenant (else 403 TENANT_VIOLATION)" }),
    timestamp: z
      .string()
      .max(64)
      .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date')
      .optional()
      .openapi({ description: 'Accepted as the seed sends it; the stored event carries the server time of its first publish' }),
    audience: z
      .array(z.string().min(1).max(128))
      .max(LIMITS.audienceMax)
      .optional()
      .openapi({ description: 'User ids that may read it through the poll; absent = the whole tenant' }),
  })
  .strict()
  .openapi('PublishEvent');

export const PublishBody = z.union([
  PublishItemSchema,
  z.object({ events: z.array(PublishItemSchema).min(1).max(LIMITS.batchMax) }).strict(),
]);

export const PublishAnswer = z
  .object({
    events: z.array(z.object({ position: z.number().int(), duplicate: z.boolean(), event: BusEventSchema })),
    eventId: z.string().optional(),
    position: z.number().int().optional(),
  })
  .openapi('PublishResult');

export const GroupParam = z.object({
  group: z
    .string()
    .regex(GROUP_NAME_PATTERN)
    .openapi({ param: { name: 'group', in: 'path' }, example: 'notification-service' }),
});

export const GroupBody = z
  .object({
    eventTypes: z
      .array(z.string().max(LIMITS.eventTypeMax).regex(EVENT_TYPE_FILTER_PATTERN))
      .max(LIMITS.groupTypesMax)
      .optional()
      .openapi({ description: 'Exact types, "prefix.*" or "*"; empty or absent = every type', example: ['order.placed'] }),
    startPosition: z
      .enum(['new', 'beginning'])
      .optional()
      .openapi({ description: 'Default new; fixed when the group is created (a different one on update is 400)' }),
    ackWaitMs: z.number().int().min(GROUP_BOUNDS.ackWaitMsMin).max(GROUP_BOUNDS.ackWaitMsMax).optional(),
    maxDeliveries: z.number().int().min(1).max(GROUP_BOUNDS.maxDeliveriesMax).optional(),
  })
  .strict()
  .openapi('ConsumerGroupSettings');

export const GroupInfoSchema = z
  .object({
    name: z.string(),
    kind: z.enum(['pull', 'handler']),
    eventTypes: z.array(z.string()),
    startPosition: z.enum(['new', 'beginning']),
    ackWaitMs: z.number().int(),
    maxDeliveries: z.number().int(),
    cursor: z.number().int().openapi({ description: 'Highest stream position considered for a first delivery' }),
    pending: z.number().int(),
    deadLetters: z.number().int(),
    subscriptionId: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('ConsumerGroup');

export const PullBody = z
  .object({
    consumer: z.string().min(1).max(128).openapi({ example: 'worker-1' }),
    batchSize: z.number().int().min(1).max(LIMITS.pullBatchMax).optional().openapi({ description: 'Default 10' }),
    leaseMs: z
      .number()
      .int()
      .min(GROUP_BOUNDS.leaseMsMin)
      .max(GROUP_BOUNDS.ackWaitMsMax)
      .optional()
      .openapi({ description: "Default: the group's ackWaitMs" }),
  })
  .strict()
  .openapi('PullRequest');

export const PullAnswer = z
  .object({
    messages: z.array(
      z.object({ leaseId: z.string(), attempts: z.number().int(), position: z.number().int(), event: BusEventSchema }),
    ),
  })
  .openapi('PullResult');

const LeaseId = z.string().min(1).max(128);

export const AckBody = z
  .object({
    acks: z.array(LeaseId).max(1000).optional(),
    nacks: z
      .array(z.object({ leaseId: LeaseId, delayMs: z.number().int().min(0).max(GROUP_BOUNDS.ackWaitMsMax).optional() }).strict())
      .max(1000)
      .optional(),
    terminate: z.array(LeaseId).max(1000).optional().openapi({ description: 'Never redeliver: straight to the dead letters' }),
  })
  .strict()
  .openapi('AckRequest');

export const AckAnswer = z
  .object({
    acked: z.array(z.string()),
    nacked: z.array(z.string()),
    terminated: z.array(z.string()),
    unknown: z
      .array(z.string())
      .openapi({ description: 'Leases no longer held (already settled, or redelivered under a new lease)' }),
  })
  .openapi('AckResult');

export const PendingAnswer = z
  .object({
    pending: z.array(
      z.object({
        position: z.number().int(),
        consumer: z.string().nullable(),
        deliveries: z.number().int(),
        leaseId: z.string().nullable(),
        dueAt: z.string(),
        state: z.enum(['leased', 'waiting']),
      }),
    ),
  })
  .openapi('PendingList');

export const PageQuery = z.object({
  after: z.coerce.number().int().min(0).optional().openapi({ description: 'Stream position to list after' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const DeadLettersAnswer = z
  .object({
    deadLetters: z.array(
      z.object({
        position: z.number().int(),
        event: BusEventSchema,
        deliveries: z.number().int(),
        reason: z.enum(['max_deliveries', 'terminated']),
        deadAt: z.string(),
      }),
    ),
  })
  .openapi('DeadLetters');

export const PositionsBody = z
  .object({
    positions: z
      .array(z.number().int().min(1))
      .max(10_000)
      .optional()
      .openapi({ description: 'Stream positions; absent = every dead letter of the group' }),
  })
  .strict();
