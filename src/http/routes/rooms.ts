import { createRoute, z } from '@hono/zod-openapi';
import { collabRoomActor, ROOM_ID_PATTERN } from '../../actors/keys';
import type { Room } from '../../actors/room';
import { actorIdentity } from '../../core/forward';
import { listActivities } from '../../db/activities';
import { DIALECT } from '../../dialects/collab';
import { DEFAULT_PAGE_SIZE, decodeCursor, MAX_PAGE_SIZE } from '../../domain/activity';
import { ApiError } from '../../errors';
import { requireAuth } from '../middleware/auth';
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
 * Seed 001's collaboration rooms: WebSocket `/ws/rooms/{roomId}`, SSE `/sse?room={roomId}`, and under
 * `/api/rooms/{roomId}` long polling, HTTP-sent frames, the activity feed (D1) and the state. One Room actor per
 * tenant and room, keyed `<tenantId>:room:<roomId>`: the same room id in two tenants is two rooms.
 */

const roomIdSchema = z.string().regex(ROOM_ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-"');
const RoomParams = z.object({
  roomId: roomIdSchema.openapi({ param: { name: 'roomId', in: 'path' }, example: 'table-1' }),
});

/** Room ids outside the REST validator (WebSocket path, SSE query) get the same 400. */
function roomIdOf(value: string | undefined, field: string): string {
  const parsed = roomIdSchema.safeParse(value ?? '');
  if (!parsed.success) {
    throw new ApiError('INVALID_REQUEST', `Invalid ${field}: must be 1-64 letters, digits, "_" or "-"`, { details: { field } });
  }
  return parsed.data;
}

const CollabFrame = z
  .object({
    type: z.literal('event'),
    method: z.string(),
    data: z.unknown(),
    timestamp: z.number(),
    eventId: z.string(),
    sequence: z.number().int(),
  })
  .openapi('RoomEvent');
const PollAnswer = pollAnswer(CollabFrame, 'RoomPoll');

const pollRoute = createRoute({
  method: 'get',
  path: '/{roomId}/events',
  summary: "Long polling over the room's event log (same events as the WebSocket and SSE)",
  security: [{ Bearer: [] }],
  request: { params: RoomParams, query: EventsQuery },
  responses: {
    200: {
      description: 'Events after lastEventId, or the room state when it cannot be honoured',
      content: { 'application/json': { schema: PollAnswer } },
    },
    400: error('Invalid room id or query'),
    401: error('Not authenticated'),
  },
});

const messagesRoute = createRoute({
  method: 'post',
  path: '/{roomId}/messages',
  summary: 'Send one request frame over HTTP (SSE and polling clients); answers the frames sent back',
  description:
    'The body is one frame in the WebSocket envelope (`{"type":"request","id":"1","method":"chat.send","params":{"text":"hi"}}`), ' +
    'handled exactly like a WebSocket frame of the caller (connection id `http_<userId>`: call `room.join` first). ' +
    'The answer is the JSON array of frames sent back (a response or an error frame). Bad frames get an error frame, not a 400.',
  security: [{ Bearer: [] }],
  request: { params: RoomParams },
  responses: { ...messagesResponses, 400: error('Invalid room id') },
});

const ActivitySchema = z
  .object({
    id: z.string(),
    type: z.string(),
    userId: z.string(),
    username: z.string(),
    data: z.unknown(),
    timestamp: z.number().int(),
  })
  .openapi('RoomActivity');

const activityRoute = createRoute({
  method: 'get',
  path: '/{roomId}/activity',
  summary: "The room's activity feed, newest first, page by page (from D1, written behind by the room)",
  security: [{ Bearer: [] }],
  request: {
    params: RoomParams,
    query: z.object({
      cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_PAGE_SIZE)
        .optional()
        .openapi({ description: `1..${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}` }),
    }),
  },
  responses: {
    200: {
      description: 'One page; pass nextCursor back for the next (older) one, null on the last',
      content: {
        'application/json': { schema: z.object({ items: z.array(ActivitySchema), nextCursor: z.string().nullable() }) },
      },
    },
    400: error('Invalid room id, limit or cursor'),
    401: error('Not authenticated'),
  },
});

const stateRoute = createRoute({
  method: 'get',
  path: '/{roomId}/state',
  summary: "The room's current state: canvas, presence, recent activity, turns, notes, map",
  security: [{ Bearer: [] }],
  request: { params: RoomParams },
  responses: {
    200: {
      description: 'The snapshot, with the id of the last event it includes',
      content: {
        'application/json': {
          schema: z.object({ roomId: z.string(), lastEventId: z.string(), sequence: z.number().int() }).passthrough(),
        },
      },
    },
    400: error('Invalid room id'),
    401: error('Not authenticated'),
  },
});

export const rooms = router();

rooms.use('/api/rooms/*', requireAuth);

const api = router()
  .openapi(pollRoute, async (c) => {
    const { roomId } = c.req.valid('param');
    const identity = c.get('identity');
    const answer = await pollActor(collabRoomActor(c.env, identity.tenantId, roomId), identity, DIALECT, c.req.valid('query'));
    return c.json(answer as z.infer<typeof PollAnswer>, 200);
  })
  .openapi(messagesRoute, async (c) => {
    const { roomId } = c.req.valid('param');
    const identity = c.get('identity');
    return c.json(await sendFrameTo(c, collabRoomActor(c.env, identity.tenantId, roomId), identity, DIALECT), 200);
  })
  .openapi(activityRoute, async (c) => {
    const { roomId } = c.req.valid('param');
    const q = c.req.valid('query');
    const cursor = q.cursor ? decodeCursor(q.cursor) : null;
    const page = await listActivities(c.env.DB, c.get('identity').tenantId, roomId, {
      cursor,
      limit: q.limit ?? DEFAULT_PAGE_SIZE,
    });
    return c.json(page, 200);
  })
  .openapi(stateRoute, async (c) => {
    const { roomId } = c.req.valid('param');
    const identity = c.get('identity');
    // RPC result types cannot express `unknown`; this is the actor's declared return type.
    const state = (await collabRoomActor(c.env, identity.tenantId, roomId).collabSnapshot(
      actorIdentity(identity),
    )) as unknown as ReturnType<Room['collabSnapshot']>;
    return c.json(state, 200);
  });

rooms.route('/api/rooms', api);

rooms.get('/ws/rooms/:roomId', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const roomId = roomIdOf(c.req.param('roomId'), 'roomId');
  const identity = await handshakeIdentity(c);
  return forwardToActor(c, collabRoomActor(c.env, identity.tenantId, roomId), identity, DIALECT);
});

rooms.get('/sse', async (c) => {
  const roomId = roomIdOf(c.req.query('room'), 'room');
  const identity = await handshakeIdentity(c);
  return forwardToActor(c, collabRoomActor(c.env, identity.tenantId, roomId), identity, DIALECT);
});
