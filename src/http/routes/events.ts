import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { BusAnswer } from '../../actors/event-bus';
import { eventBusActor } from '../../actors/keys';
import type { PublishInput } from '../../domain/event-bus';
import { ApiError, fromReply } from '../../errors';
import type { AppEnv } from '../context';
import { idempotent } from '../idempotency';
import { requireAuth, requireRole } from '../middleware/auth';
import { rateLimitBy, spendLimit } from '../middleware/rate-limit';
import { bearer, errorContent as error, jsonContent, jsonRequest } from '../openapi';
import { router } from '../validation';
import {
  AckAnswer,
  AckBody,
  DeadLettersAnswer,
  GroupBody,
  GroupInfoSchema,
  GroupParam,
  PageQuery,
  PendingAnswer,
  PollAnswer,
  PollQuery,
  PositionsBody,
  PublishAnswer,
  PublishBody,
  PullAnswer,
  PullBody,
} from './events-schemas';

/**
 * Seed 003's event bus over REST: `GET /api/events/poll` (class B fallback, every user), `POST /api/events`
 * (service and admin tokens), pull consumer groups (service and admin) and dead letters (admin). One EventBus
 * actor per tenant; errors in seed 003's words (see `vocabularyFor`).
 */

const busOf = (c: Context<AppEnv>) => eventBusActor(c.env, c.get('identity').tenantId);

const common = {
  401: error('AUTH_FAILED: no valid access token'),
  403: error('AUTHZ_FAILED (role) or TENANT_VIOLATION (X-Tenant-ID is not the token tenant)'),
  429: error('RATE_LIMIT'),
};

const pollRoute = createRoute({
  method: 'get',
  path: '/poll',
  summary: 'Events after lastEventId that the caller may read (class B fallback, seed 003); 60/min per user',
  description:
    "The tenant's events plus class B messages addressed to the caller. An unknown or expired lastEventId is not a " +
    'silent gap: the page starts at the oldest retained event with `truncated: true`, `reason` and `oldestPosition`.',
  security: bearer,
  request: { query: PollQuery },
  responses: { 200: jsonContent(PollAnswer, 'A page of events'), 400: error('INVALID_REQUEST: bad query'), ...common },
});

const publishRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Publish one event or { events: [...] } (service or admin); 1,000 events a second per tenant',
  description:
    'Idempotent on eventId: an id already in the stream answers its stored event with `duplicate: true`. An event ' +
    "may carry the seed's `tenantId` (must be the token's: else 403 TENANT_VIOLATION, nothing stored) and `timestamp` " +
    '(the stored event keeps the server time of its first publish).',
  security: bearer,
  request: { body: jsonRequest(PublishBody) },
  responses: {
    201: jsonContent(PublishAnswer, 'Stored, in order; each with its stream position'),
    200: jsonContent(PublishAnswer, 'Every event was already stored (replay)'),
    400: error('INVALID_REQUEST'),
    ...common,
  },
});

const putGroupRoute = createRoute({
  method: 'put',
  path: '/groups/{group}',
  summary: 'Create or update a pull consumer group (service or admin)',
  description:
    'PUT replaces the settings (what the body leaves out takes its default); the cursor and pending list stay. ' +
    'startPosition is fixed at creation: repeating it is fine, a different one is 400.',
  security: bearer,
  request: { params: GroupParam, body: jsonRequest(GroupBody, false) },
  responses: {
    201: jsonContent(GroupInfoSchema, 'Created'),
    200: jsonContent(GroupInfoSchema, 'Updated (cursor and pending list kept)'),
    400: error('INVALID_REQUEST'),
    ...common,
  },
});

const listGroupsRoute = createRoute({
  method: 'get',
  path: '/groups',
  summary: "The tenant's consumer groups (service or admin)",
  security: bearer,
  responses: { 200: jsonContent(GroupInfoSchema.array(), 'Groups'), ...common },
});

const getGroupRoute = createRoute({
  method: 'get',
  path: '/groups/{group}',
  summary: 'One consumer group (service or admin)',
  security: bearer,
  request: { params: GroupParam },
  responses: { 200: jsonContent(GroupInfoSchema, 'Group'), 404: error('NOT_FOUND'), ...common },
});

const deleteGroupRoute = createRoute({
  method: 'delete',
  path: '/groups/{group}',
  summary: 'Delete a consumer group and its pending list (service or admin)',
  security: bearer,
  request: { params: GroupParam },
  responses: { 204: { description: 'Deleted' }, 404: error('NOT_FOUND'), ...common },
});

const pullRoute = createRoute({
  method: 'post',
  path: '/groups/{group}/pull',
  summary: 'Lease a batch of events to a consumer (service or admin)',
  description:
    'Due redeliveries first, then events the group has not delivered, in stream order. Ack each leaseId before ' +
    'leaseMs runs out, or the event is delivered again (attempts raised); after maxDeliveries it is a dead letter.',
  security: bearer,
  request: { params: GroupParam, body: jsonRequest(PullBody) },
  responses: {
    200: jsonContent(PullAnswer, 'Leased messages (maybe none)'),
    400: error('INVALID_REQUEST'),
    404: error('NOT_FOUND'),
    ...common,
  },
});

const ackRoute = createRoute({
  method: 'post',
  path: '/groups/{group}/ack',
  summary: 'Ack, nack (with delay) or terminate leases (service or admin)',
  security: bearer,
  request: { params: GroupParam, body: jsonRequest(AckBody) },
  responses: {
    200: jsonContent(AckAnswer, 'What each lease id did'),
    400: error('INVALID_REQUEST'),
    404: error('NOT_FOUND'),
    ...common,
  },
});

const pendingRoute = createRoute({
  method: 'get',
  path: '/groups/{group}/pending',
  summary: "A group's pending list: owner, delivery count, lease (service or admin)",
  security: bearer,
  request: { params: GroupParam, query: PageQuery },
  responses: { 200: jsonContent(PendingAnswer, 'Pending entries, oldest first'), 404: error('NOT_FOUND'), ...common },
});

const deadLettersRoute = createRoute({
  method: 'get',
  path: '/groups/{group}/dead-letters',
  summary: "A group's dead letters (admin)",
  security: bearer,
  request: { params: GroupParam, query: PageQuery },
  responses: { 200: jsonContent(DeadLettersAnswer, 'Dead letters, oldest first'), 404: error('NOT_FOUND'), ...common },
});

const replayRoute = createRoute({
  method: 'post',
  path: '/groups/{group}/dead-letters/replay',
  summary: 'Deliver dead letters to the group again, delivery count reset (admin)',
  security: bearer,
  request: { params: GroupParam, body: jsonRequest(PositionsBody, false) },
  responses: {
    200: jsonContent(z.object({ replayed: z.number().int() }), 'How many went back to the pending list'),
    404: error('NOT_FOUND'),
    ...common,
  },
});

const purgeRoute = createRoute({
  method: 'post',
  path: '/groups/{group}/dead-letters/purge',
  summary: 'Delete dead letters for good (admin)',
  security: bearer,
  request: { params: GroupParam, body: jsonRequest(PositionsBody, false) },
  responses: {
    200: jsonContent(z.object({ purged: z.number().int() }), 'How many were deleted'),
    404: error('NOT_FOUND'),
    ...common,
  },
});

export const events = router();

events.use('*', requireAuth);
events.use('/poll', rateLimitBy('EVENTS_POLL', 'user'));
events.on('POST', '/', requireRole('service', 'admin'), idempotent());
events.use('/groups', requireRole('service', 'admin'));
events.use('/groups/:group/dead-letters', requireRole('admin'));
events.use('/groups/:group/dead-letters/*', requireRole('admin'));
events.use('/groups/*', requireRole('service', 'admin'));

/** Optional JSON bodies: an absent body is `{}`. */
const bodyOr = <T>(c: Context<AppEnv>, fallback: T): T => (c.req.valid as (t: 'json') => T | undefined)('json') ?? fallback;

events
  .openapi(pollRoute, async (c) => {
    const q = c.req.valid('query');
    const answer = await busOf(c).poll(c.get('identity').userId, q.lastEventId, q.limit);
    return c.json(answer as z.infer<typeof PollAnswer>, 200);
  })
  .openapi(publishRoute, async (c) => {
    const body = c.req.valid('json');
    const items = 'events' in body ? body.events : [body];
    const { tenantId } = c.get('identity');
    items.forEach((item, i) => {
      if (item.tenantId !== undefined && item.tenantId !== tenantId) {
        const field = 'events' in body ? `events.${i}.tenantId` : 'tenantId';
        throw new ApiError('TENANT_VIOLATION', `${field} "${item.tenantId}" is not the token's tenant`, { details: { field } });
      }
    });
    const inputs = items.map(({ tenantId: _t, timestamp: _ts, ...input }) => input) as PublishInput[];
    await spendLimit(c, 'EVENT_PUBLISH', 'tenant', inputs.length);
    const published = fromReply((await busOf(c).publish(inputs)) as BusAnswer<'publish'>);
    const single = 'events' in body ? undefined : published[0];
    const answer = {
      events: published,
      ...(single ? { eventId: single.event.eventId, position: single.position } : {}),
    } as z.infer<typeof PublishAnswer>;
    return published.every((p) => p.duplicate) ? c.json(answer, 200) : c.json(answer, 201);
  })
  .openapi(listGroupsRoute, async (c) => c.json(await busOf(c).listGroups(), 200))
  .openapi(putGroupRoute, async (c) => {
    const { group } = c.req.valid('param');
    const settings = bodyOr(c, {} as z.infer<typeof GroupBody>);
    const result = fromReply(await busOf(c).putGroup({ name: group, ...settings }));
    return result.created ? c.json(result.group, 201) : c.json(result.group, 200);
  })
  .openapi(getGroupRoute, async (c) => {
    const { group } = c.req.valid('param');
    const info = await busOf(c).groupInfo(group);
    if (!info) throw new ApiError('NOT_FOUND', `No consumer group "${group}"`, { details: { field: 'group' } });
    return c.json(info, 200);
  })
  .openapi(deleteGroupRoute, async (c) => {
    const { group } = c.req.valid('param');
    if (!(await busOf(c).deleteGroup(group))) {
      throw new ApiError('NOT_FOUND', `No consumer group "${group}"`, { details: { field: 'group' } });
    }
    return c.body(null, 204);
  })
  .openapi(pullRoute, async (c) => {
    const { group } = c.req.valid('param');
    const { consumer, batchSize, leaseMs } = c.req.valid('json');
    const answer = fromReply((await busOf(c).pull(group, consumer, batchSize ?? 10, leaseMs)) as BusAnswer<'pull'>);
    return c.json(answer as z.infer<typeof PullAnswer>, 200);
  })
  .openapi(ackRoute, async (c) => {
    const { group } = c.req.valid('param');
    return c.json(fromReply(await busOf(c).ack(group, c.req.valid('json'))), 200);
  })
  .openapi(pendingRoute, async (c) => {
    const { group } = c.req.valid('param');
    const q = c.req.valid('query');
    const rows = fromReply(await busOf(c).pendingList(group, q.limit ?? 100, q.after ?? 0));
    const pending = rows.map((r) => ({
      position: r.position,
      consumer: r.consumer,
      deliveries: r.deliveries,
      leaseId: r.leaseId,
      dueAt: new Date(r.dueAt).toISOString(),
      state: r.state,
    }));
    return c.json({ pending }, 200);
  })
  .openapi(deadLettersRoute, async (c) => {
    const { group } = c.req.valid('param');
    const q = c.req.valid('query');
    const letters = fromReply((await busOf(c).deadLetters(group, q.limit ?? 100, q.after ?? 0)) as BusAnswer<'deadLetters'>);
    return c.json({ deadLetters: letters.map(({ group: _, ...l }) => l) } as z.infer<typeof DeadLettersAnswer>, 200);
  })
  .openapi(replayRoute, async (c) => {
    const { group } = c.req.valid('param');
    const { positions } = bodyOr(c, {} as z.infer<typeof PositionsBody>);
    return c.json(fromReply(await busOf(c).replayDeadLetters(group, positions ?? null)), 200);
  })
  .openapi(purgeRoute, async (c) => {
    const { group } = c.req.valid('param');
    const { positions } = bodyOr(c, {} as z.infer<typeof PositionsBody>);
    return c.json(fromReply(await busOf(c).purgeDeadLetters(group, positions ?? null)), 200);
  });
