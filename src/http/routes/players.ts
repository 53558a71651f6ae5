import { createRoute, z } from '@hono/zod-openapi';
import { relocateLivePlayer } from '../../actors/chunk-calls';
import type { Identity } from '../../auth/identity';
import { findPlayer, profileFromRow, setPlayerPosition } from '../../db/players';
import { ID_PATTERN } from '../../domain/input';
import { parseFloor, parsePosition, RING_CIRCUMFERENCE } from '../../domain/ring';
import { ApiError } from '../../errors';
import { requireAuth } from '../middleware/auth';
import { errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
import { router } from '../validation';

/**
 * Seed 000's Player Management. A player reads their own profile; an admin may read any profile of the
 * tenant. Only the player moves themself; a move reaches their live game sockets through the chunk actor.
 */

const Position = z.object({ x: z.number(), y: z.number() }).openapi({ example: { x: 12345, y: 0 } });

const PlayerProfile = z
  .object({
    id: z.number().int().openapi({ example: 123 }),
    username: z.string().openapi({ example: 'player1' }),
    level: z.number().int(),
    experience_points: z.number().int(),
    currency_amount: z.number().int(),
    current_position: Position,
    current_floor: z.number().int(),
    created_at: z.string(),
    last_login: z.string().nullable(),
  })
  .openapi('PlayerProfile');

const PlayerIdParam = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, 'must be a positive integer player id')
    .openapi({ param: { name: 'id', in: 'path' }, example: '123' }),
});

/** Documents the body; `parsePosition`/`parseFloor` validate it (seed ranges, one source of truth). */
const PositionRequest = z
  .object({
    position: z.unknown().openapi({
      type: 'object',
      description: `{x, y}: x from 0 to ${RING_CIRCUMFERENCE} m, y any finite number`,
      example: { x: 12345, y: 0 },
    }),
    floor: z.unknown().openapi({ type: 'integer', description: 'Floor −2..15', example: 0 }),
  })
  .partial()
  .loose()
  .openapi('PlayerPositionRequest', { required: ['position', 'floor'] });

const PositionResponse = z
  .object({ success: z.literal(true), position: Position, floor: z.number().int() })
  .openapi('PlayerPositionResponse');

const meRoute = createRoute({
  method: 'get',
  path: '/me',
  summary: "The caller's player profile",
  security,
  middleware: [requireAuth] as const,
  responses: {
    200: ok(PlayerProfile, 'Profile'),
    401: error('Not authenticated'),
    404: error('The caller has no player profile (service accounts)'),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'A player profile (own; admins: any in the tenant)',
  security,
  middleware: [requireAuth] as const,
  request: { params: PlayerIdParam },
  responses: {
    200: ok(PlayerProfile, 'Profile'),
    400: error('Bad id'),
    401: error('Not authenticated'),
    403: error("Another player's profile"),
    404: error('No such player in this tenant'),
  },
});

const positionRoute = createRoute({
  method: 'put',
  path: '/{id}/position',
  summary: "Update the caller's own position",
  security,
  middleware: [requireAuth] as const,
  request: { params: PlayerIdParam, body: { required: true, content: { 'application/json': { schema: PositionRequest } } } },
  responses: {
    200: ok(PositionResponse, 'Moved'),
    400: error('Position or floor out of range'),
    401: error('Not authenticated'),
    403: error("Another player's position"),
    404: error('No such player in this tenant'),
  },
});

const isSelf = (identity: Identity, id: number) => identity.userId === String(id);

function forbidden(action: string): ApiError {
  return new ApiError('AUTHORIZATION_FAILED', `You can only ${action} your own player`, { details: { field: 'id' } });
}

async function loadProfile(db: D1Database, tenantId: string, id: number) {
  const row = await findPlayer(db, tenantId, id);
  if (!row) throw new ApiError('NOT_FOUND', `No player ${id}`, { details: { field: 'id' } });
  return profileFromRow(row);
}

export const players = router();

players
  .openapi(meRoute, async (c) => {
    const identity = c.get('identity');
    return c.json(await loadProfile(c.env.DB, identity.tenantId, Number(identity.userId)), 200);
  })
  .openapi(getRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').id);
    if (!isSelf(identity, id) && identity.role !== 'admin') throw forbidden('view');
    return c.json(await loadProfile(c.env.DB, identity.tenantId, id), 200);
  })
  .openapi(positionRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').id);
    if (!isSelf(identity, id)) throw forbidden('move');
    const body = c.req.valid('json');
    const position = parsePosition(body.position);
    const floor = parseFloor(body.floor);
    // The previous position names the chunk actor holding the player's live sockets, if any.
    const previous = await findPlayer(c.env.DB, identity.tenantId, id);
    if (!previous || !(await setPlayerPosition(c.env.DB, identity.tenantId, id, position, floor))) {
      throw new ApiError('NOT_FOUND', `No player ${id}`, { details: { field: 'id' } });
    }
    await relocateLivePlayer(
      c.env,
      identity.tenantId,
      id,
      { x: previous.current_position_x, floor: previous.current_floor },
      { position, floor },
    );
    return c.json({ success: true as const, position, floor }, 200);
  });
