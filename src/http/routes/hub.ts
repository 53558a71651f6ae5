import { createRoute, z } from '@hono/zod-openapi';
import { hubActor } from '../../actors/keys';
import {
  mergePresencePages,
  PRESENCE_PAGE_DEFAULT,
  PRESENCE_PAGE_MAX,
  ROOM_ID_PATTERN,
  shardCount,
  USER_ID_PATTERN,
} from '../../domain/hub';
import { requireAuth } from '../middleware/auth';
import { rateLimitBy } from '../middleware/rate-limit';
import { bearer, errorContent as error, jsonContent } from '../openapi';
import { router } from '../validation';

/**
 * Seed 003's hub over REST: the paged read of a room's presence. A user's presence and room counts live on the
 * user's home shard, so each shard answers for its own users (one RPC per shard, in parallel) and the pages are
 * merged by user id. Scoped to the token's tenant: another tenant's room of the same name is another room.
 */

const RoomParam = z.object({
  roomId: z
    .string()
    .regex(ROOM_ID_PATTERN, 'must be 1-128 letters, digits, or _ . : -')
    .openapi({ param: { name: 'roomId', in: 'path' }, example: 'lobby' }),
});

const PresenceQuery = z.object({
  cursor: z
    .string()
    .regex(USER_ID_PATTERN, 'must be a nextCursor from a previous page')
    .optional()
    .openapi({ description: 'The nextCursor of the previous page; omit for the first page' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(PRESENCE_PAGE_MAX)
    .optional()
    .openapi({ description: `1..${PRESENCE_PAGE_MAX}, default ${PRESENCE_PAGE_DEFAULT}` }),
});

const PresenceEntry = z.object({
  userId: z.string(),
  status: z.enum(['online', 'away', 'offline']),
  metadata: z.record(z.string(), z.unknown()),
  updatedAt: z.string().nullable().openapi({ description: 'When the user last sent presence_update (null: never)' }),
  connections: z.number().int().openapi({ description: "The user's connected sockets in the room" }),
});

const PresenceAnswer = z
  .object({
    roomId: z.string(),
    presence: z.array(PresenceEntry),
    nextCursor: z.string().nullable().openapi({ description: 'Pass as cursor for the next page; null on the last one' }),
  })
  .openapi('HubRoomPresence');

const presenceRoute = createRoute({
  method: 'get',
  path: '/rooms/{roomId}/presence',
  summary: "Who is in a Socket.IO hub room now, with each user's presence (seed 003), by user id, paged",
  description:
    "Users with at least one connected socket in the room, in the caller's tenant. Status is what the user last " +
    'sent with presence_update (online when never sent). 500 requests a minute per user.',
  security: bearer,
  request: { params: RoomParam, query: PresenceQuery },
  responses: {
    200: jsonContent(PresenceAnswer, 'A page of present users'),
    400: error('INVALID_REQUEST: bad room id, cursor or limit'),
    401: error('AUTH_FAILED: no valid access token'),
    429: error('RATE_LIMIT'),
  },
});

export const hub = router();

hub.use('*', requireAuth);
hub.use('*', rateLimitBy('USER', 'user'));

hub.openapi(presenceRoute, async (c) => {
  const { roomId } = c.req.valid('param');
  const { cursor, limit = PRESENCE_PAGE_DEFAULT } = c.req.valid('query');
  const { tenantId } = c.get('identity');
  const total = shardCount(c.env.HUB_SHARDS);
  const pages = await Promise.all(
    Array.from({ length: total }, (_, i) => hubActor(c.env, i).presencePage(tenantId, roomId, cursor ?? '', limit + 1)),
  );
  return c.json({ roomId, ...mergePresencePages(pages, limit) }, 200);
});
