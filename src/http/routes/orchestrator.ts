import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Room } from '../../actors/room';
import type { Identity } from '../../auth/identity';
import { tokenFromRequest, verifyAccessToken } from '../../auth/tokens';
import { actorIdentity, forwardRequest } from '../../core/forward';
import { POLL_MAX_WAIT_SECONDS } from '../../core/polling';
import { REPLAY_LIMIT } from '../../core/protocol';
import { parseTypes } from '../../core/sse';
import { DIALECT, PUBLISH_MAX, PublishItem } from '../../dialects/orchestrator';
import type { AppEnv } from '../context';
import { ApiError, type ErrorBody, type ErrorCode } from '../errors';
import { assertTenant, requireAuth, requireRole } from '../middleware/auth';
import { router } from '../validation';

/**
 * Seed 004's orchestrator stream: WebSocket `/ws/orchestrator` (seed 004's own `/ws` belongs to EarthRing),
 * SSE `/sse/orchestrator`, long polling and publishing under `/api/orchestrator`. One Room actor per tenant,
 * keyed `<tenantId>:orchestrator`.
 */

const roomOf = (c: Context<AppEnv>, tenantId: string) => c.env.ROOM.getByName(`${tenantId}:orchestrator`);

const ErrorSchema = z.object({ error: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() });
const error = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });

/** WebSocket and SSE handshakes: the token is checked here, before any upgrade or stream exists. */
async function handshakeIdentity(c: Context<AppEnv>): Promise<Identity> {
  const token = tokenFromRequest(c.req.raw);
  if (!token) {
    throw new ApiError('AUTHENTICATION_REQUIRED', 'Authentication required: ?token= or Authorization: Bearer <access_token>', {
      details: { reason: 'missing' },
    });
  }
  const identity = await verifyAccessToken(c.env, token);
  assertTenant(identity, c.req.header('x-tenant-id'));
  return identity;
}

const EventsQuery = z.object({
  lastEventId: z.string().max(100).optional().openapi({ description: 'Last event id received; omit for the current state' }),
  lastSequence: z.coerce.number().int().min(0).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(REPLAY_LIMIT)
    .optional()
    .openapi({ description: `1..${REPLAY_LIMIT}, default 50` }),
  wait: z.coerce
    .number()
    .min(0)
    .max(POLL_MAX_WAIT_SECONDS)
    .optional()
    .openapi({ description: 'Long-poll: seconds to wait for a new event' }),
  types: z.string().max(2000).optional().openapi({ description: 'Comma-separated event types' }),
});

const OrchestratorFrame = z
  .object({
    type: z.string(),
    payload: z.unknown(),
    timestamp: z.string(),
    eventId: z.string(),
    sequence: z.number(),
    scope: z.string(),
  })
  .openapi('OrchestratorEvent');

const PollAnswer = z
  .object({
    events: z.array(OrchestratorFrame),
    hasMore: z.boolean(),
    nextEventId: z.string().nullable(),
    truncated: z.boolean().optional(),
    snapshot: z.unknown().optional(),
  })
  .openapi('OrchestratorPoll');

const pollRoute = createRoute({
  method: 'get',
  path: '/events',
  summary: 'Long polling over the orchestrator log (seed 004 events, same log as WebSocket and SSE)',
  security: [{ Bearer: [] }],
  request: { query: EventsQuery },
  responses: {
    200: {
      description: 'Events after lastEventId, or the state when it cannot be honoured',
      content: { 'application/json': { schema: PollAnswer } },
    },
    400: error('Invalid query'),
    401: error('Not authenticated'),
  },
});

const Published = z
  .object({ eventId: z.string(), sequence: z.number().int(), type: z.string(), scope: z.string(), timestamp: z.string() })
  .openapi('OrchestratorPublished');

const publishRoute = createRoute({
  method: 'post',
  path: '/events',
  summary: 'Publish typed orchestrator events (service or admin role)',
  security: [{ Bearer: [] }],
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: z.union([PublishItem, z.array(PublishItem).min(1).max(PUBLISH_MAX)]) } },
    },
  },
  responses: {
    201: {
      description: 'Logged and delivered, in order',
      content: {
        'application/json': {
          schema: z.object({ events: z.array(Published), eventId: z.string().optional(), sequence: z.number().int().optional() }),
        },
      },
    },
    400: error('Unknown type or a payload that does not match its type'),
    401: error('Not authenticated'),
    403: error('Not a service or admin'),
  },
});

const clientsRoute = createRoute({
  method: 'get',
  path: '/clients',
  summary: 'Connected clients of the orchestrator stream (admin)',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional(), cursor: z.string().max(200).optional() }),
  },
  responses: {
    200: {
      description: 'Client count, connections and presence (paginated by user)',
      content: { 'application/json': { schema: z.object({ count: z.number().int() }).passthrough() } },
    },
    401: error('Not authenticated'),
    403: error('Not an admin'),
  },
});

const messagesRoute = createRoute({
  method: 'post',
  path: '/messages',
  summary: 'Send one client frame over HTTP (SSE and polling clients); answers the frames sent back',
  description:
    'The body is one frame in the WebSocket envelope (`{"type":"ping","payload":{...}}`, `{"type":"resync",...}`), ' +
    'handled exactly like a WebSocket frame of the caller. The answer is the JSON array of frames the server sent ' +
    'back to the sender (responses and error frames). Malformed frames get an error frame, not a 400.',
  security: [{ Bearer: [] }],
  responses: {
    200: { description: 'Frames sent back to the sender', content: { 'application/json': { schema: z.array(z.unknown()) } } },
    401: error('Not authenticated'),
    413: error('Frame larger than the dialect allows'),
  },
});

export const orchestrator = router();

orchestrator.use('/api/orchestrator/*', requireAuth);
orchestrator.use('/api/orchestrator/clients', requireRole('admin'));
orchestrator.on('POST', '/api/orchestrator/events', requireRole('service', 'admin'));

const api = router()
  .openapi(pollRoute, async (c) => {
    const q = c.req.valid('query');
    const identity = c.get('identity');
    const answer = await roomOf(c, identity.tenantId).poll(actorIdentity(identity), DIALECT, {
      lastEventId: q.lastEventId,
      lastSequence: q.lastSequence,
      limit: q.limit,
      wait: q.wait,
      types: parseTypes(q.types ?? null),
    });
    return c.json(answer as z.infer<typeof PollAnswer>, 200);
  })
  .openapi(publishRoute, async (c) => {
    const body = c.req.valid('json');
    const items = Array.isArray(body) ? body : [body];
    const identity = c.get('identity');
    // RPC result types cannot express `unknown`; these are the actor's declared return types.
    const result = (await roomOf(c, identity.tenantId).publishOrchestrator(actorIdentity(identity), items)) as unknown as Awaited<
      ReturnType<Room['publishOrchestrator']>
    >;
    if (!result.ok) throw apiErrorOf(result.error);
    const single = !Array.isArray(body) ? result.events[0] : undefined;
    return c.json({ events: result.events, ...(single ? { eventId: single.eventId, sequence: single.sequence } : {}) }, 201);
  })
  .openapi(clientsRoute, async (c) => {
    const q = c.req.valid('query');
    const identity = c.get('identity');
    return c.json(await roomOf(c, identity.tenantId).clients({ limit: q.limit, cursor: q.cursor }), 200);
  })
  .openapi(messagesRoute, async (c) => {
    const identity = c.get('identity');
    const text = await c.req.text();
    const result = (await roomOf(c, identity.tenantId).sendFrame(actorIdentity(identity), DIALECT, text)) as unknown as Awaited<
      ReturnType<Room['sendFrame']>
    >;
    if (result.tooLarge) throw new ApiError('PAYLOAD_TOO_LARGE', 'Frame is larger than this stream accepts');
    return c.json(result.frames, 200);
  });

orchestrator.route('/api/orchestrator', api);

orchestrator.get('/ws/orchestrator', async (c) => {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
    const body: ErrorBody = {
      error: 'INVALID_REQUEST',
      message: 'This endpoint speaks WebSocket: send Upgrade: websocket',
      details: { required: 'Upgrade: websocket' },
    };
    return c.json(body, 426, { Upgrade: 'websocket' });
  }
  const identity = await handshakeIdentity(c);
  return roomOf(c, identity.tenantId).fetch(forwardRequest(c.req.raw, actorIdentity(identity), DIALECT));
});

orchestrator.get('/sse/orchestrator', async (c) => {
  const identity = await handshakeIdentity(c);
  return roomOf(c, identity.tenantId).fetch(forwardRequest(c.req.raw, actorIdentity(identity), DIALECT));
});

function apiErrorOf(body: ErrorBody): ApiError {
  return new ApiError(body.error as ErrorCode, body.message, body.details ? { details: body.details } : {});
}
