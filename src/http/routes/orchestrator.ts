import { createRoute, z } from '@hono/zod-openapi';
import { orchestratorActor } from '../../actors/keys';
import type { Room } from '../../actors/room';
import { actorIdentity } from '../../core/forward';
import { DIALECT } from '../../dialects/orchestrator';
import { EVENT_TYPES, type OrchestratorEventType, PUBLISH_MAX } from '../../domain/orchestrator';
import { fromReply } from '../../errors';
import { idempotencyKeyOf } from '../idempotency';
import { requireAuth, requireRole } from '../middleware/auth';
import { errorContent as error } from '../openapi';
import {
  EventsQuery,
  forwardToActor,
  handshakeIdentity,
  messagesResponses,
  pollActor,
  pollAnswer,
  requireUpgrade,
  sendFrameTo,
} from '../realtime';
import { router } from '../validation';

/**
 * Seed 004's orchestrator stream: WebSocket `/ws/orchestrator` (seed 004's own `/ws` belongs to EarthRing),
 * SSE `/sse/orchestrator`, long polling and publishing under `/api/orchestrator`. One Room actor per tenant,
 * keyed `<tenantId>:orchestrator`.
 */

/** One published event, as `POST /api/orchestrator/events` takes it. */
const PublishItem = z
  .object({
    type: z.enum(EVENT_TYPES as [OrchestratorEventType, ...OrchestratorEventType[]]),
    payload: z.unknown(),
  })
  .openapi('OrchestratorPublishItem');

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

const PollAnswer = pollAnswer(OrchestratorFrame, 'OrchestratorPoll');

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
  responses: messagesResponses,
});

export const orchestrator = router();

orchestrator.use('/api/orchestrator/*', requireAuth);
orchestrator.use('/api/orchestrator/clients', requireRole('admin'));
orchestrator.on('POST', '/api/orchestrator/events', requireRole('service', 'admin'));

const api = router()
  .openapi(pollRoute, async (c) => {
    const identity = c.get('identity');
    const answer = await pollActor(orchestratorActor(c.env, identity.tenantId), identity, DIALECT, c.req.valid('query'));
    return c.json(answer as z.infer<typeof PollAnswer>, 200);
  })
  .openapi(publishRoute, async (c) => {
    const body = c.req.valid('json');
    const items = Array.isArray(body) ? body : [body];
    const identity = c.get('identity');
    // RPC result types cannot express `unknown`; these are the actor's declared return types.
    const result = (await orchestratorActor(c.env, identity.tenantId).publishOrchestrator(
      actorIdentity(identity),
      items,
      idempotencyKeyOf(c),
    )) as unknown as Awaited<ReturnType<Room['publishOrchestrator']>>;
    const events = result.ok ? result.events : fromReply(result);
    const single = !Array.isArray(body) ? events[0] : undefined;
    return c.json({ events, ...(single ? { eventId: single.eventId, sequence: single.sequence } : {}) }, 201);
  })
  .openapi(clientsRoute, async (c) => {
    const q = c.req.valid('query');
    const identity = c.get('identity');
    return c.json(await orchestratorActor(c.env, identity.tenantId).clients({ limit: q.limit, cursor: q.cursor }), 200);
  })
  .openapi(messagesRoute, async (c) => {
    const identity = c.get('identity');
    return c.json(await sendFrameTo(c, orchestratorActor(c.env, identity.tenantId), identity, DIALECT), 200);
  });

orchestrator.route('/api/orchestrator', api);

orchestrator.get('/ws/orchestrator', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const identity = await handshakeIdentity(c);
  return forwardToActor(c, orchestratorActor(c.env, identity.tenantId), identity, DIALECT);
});

orchestrator.get('/sse/orchestrator', async (c) => {
  const identity = await handshakeIdentity(c);
  return forwardToActor(c, orchestratorActor(c.env, identity.tenantId), identity, DIALECT);
});
