import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { CRAFTING_ID_PATTERN, craftingActor, craftingQueueActor } from '../../actors/keys';
import type { Identity } from '../../auth/identity';
import { actorIdentity, forwardRequest } from '../../core/forward';
import { QUEUE_DIALECT, SESSION_DIALECT, UDP_DIALECT } from '../../dialects/crafting';
import { MATERIAL_IDS, MAX_QUANTITY, RECIPES, STARTER_KIT, totalDurationMs } from '../../domain/crafting';
import { DEFAULT_MAX_RUNNING, MAX_QUEUE_LENGTH } from '../../domain/crafting-queue';
import { ApiError, fromReply, type Reply } from '../../errors';
import type { AppEnv } from '../context';
import { idempotent } from '../idempotency';
import { requireAuth, requireRole } from '../middleware/auth';
import { errorContent as error, jsonContent, jsonRequest } from '../openapi';
import { handshakeIdentity, requireUpgrade } from '../realtime';
import { router } from '../validation';

/**
 * Seed 002's crafting: REST to drive it (`/api/crafting/...`) and the two WebSockets
 * (`/ws/crafting/{session_id}`, `/ws/queue/{player_id}`). A Crafting actor per session (`<tenant>:<session_id>`)
 * and a CraftingQueue actor per player (`<tenant>:<player_id>`, the player's materials and queue).
 */

/** RPC result types cannot express `unknown`; the actors declare `Reply<T>`, read back here. */
export function fromActorReply<T>(reply: unknown): T {
  return fromReply(reply as Reply<T>);
}

const idSchema = (name: string) =>
  z
    .string()
    .regex(CRAFTING_ID_PATTERN, 'must be 1-64 letters, digits, "_" or "-"')
    .openapi({ param: { name, in: 'path' } });
const SessionParams = z.object({ session_id: idSchema('session_id') });
const PlayerParams = z.object({ player_id: idSchema('player_id') });

/** Ids outside the validator (WebSocket paths) get the same 400. */
export function pathId(value: string | undefined, field: string): string {
  if (!CRAFTING_ID_PATTERN.test(value ?? '')) {
    throw new ApiError('INVALID_REQUEST', `Invalid ${field}: must be 1-64 letters, digits, "_" or "-"`, { details: { field } });
  }
  return value as string;
}

export const sessionActor = (c: Context<AppEnv>, tenantId: string, sessionId: string) =>
  craftingActor(c.env, tenantId, sessionId);
const queueActor = (c: Context<AppEnv>, tenantId: string, playerId: string) => craftingQueueActor(c.env, tenantId, playerId);

/** A player's queue and materials: the player, or an admin or service of the tenant. */
function assertPlayerAccess(identity: Identity, playerId: string, roles: Identity['role'][] = ['admin', 'service']): void {
  if (identity.userId !== playerId && !roles.includes(identity.role)) {
    throw new ApiError('AUTHORIZATION_FAILED', "Only the player (or an admin) may see this player's crafting", {
      details: { issue: 'not_your_player' },
    });
  }
}

const MaterialsSchema = z
  .record(z.string(), z.number().int())
  .openapi('CraftingMaterials', { example: { iron_ore: 10, wood: 10 } });
const Progress = z
  .object({
    sessionId: z.string(),
    playerId: z.string(),
    recipeId: z.string(),
    quantity: z.number().int(),
    status: z.enum(['queued', 'running', 'paused', 'completed', 'cancelled', 'failed']),
    stageIndex: z.number().int(),
    stageCount: z.number().int(),
    stageName: z.string().nullable(),
    stageProgress: z.number(),
    progress: z.number(),
    elapsedMs: z.number(),
    remainingMs: z.number(),
    estimatedCompletion: z.string().nullable(),
    quality: z.number().int().nullable(),
    qualityTier: z.string().nullable(),
    output: z.object({ itemId: z.string(), quantity: z.number().int() }).nullable(),
    consumed: MaterialsSchema,
    returned: MaterialsSchema,
  })
  .passthrough()
  .openapi('CraftingProgressData');
const QueueEntry = z
  .object({
    sessionId: z.string(),
    recipeId: z.string(),
    quantity: z.number().int(),
    status: z.enum(['waiting', 'waiting_materials', 'running', 'paused']),
    position: z.number().int(),
    estimatedStart: z.string().nullable(),
    estimatedFinish: z.string().nullable(),
    missing: MaterialsSchema,
  })
  .openapi('QueueStatusData');
const QueueView = z
  .object({
    playerId: z.string(),
    maxRunning: z.number().int(),
    running: z.number().int(),
    length: z.number().int(),
    entries: z.array(QueueEntry),
    materials: MaterialsSchema,
    materialsVersion: z.number().int(),
  })
  .openapi('CraftingQueue');
const MaterialsView = z
  .object({ playerId: z.string(), materials: MaterialsSchema, version: z.number().int() })
  .openapi('PlayerMaterials');

const recipesRoute = createRoute({
  method: 'get',
  path: '/recipes',
  summary: 'The recipe catalogue, the materials, and the starter kit every new player gets',
  security: [{ Bearer: [] }],
  responses: {
    200: jsonContent(z.object({ recipes: z.array(z.unknown()), materials: z.array(z.string()) }).passthrough(), 'The catalogue'),
    401: error('Not authenticated'),
  },
});

const CreateSession = z
  .object({
    recipeId: z.string().min(1).max(64),
    quantity: z.number().int().min(1).max(MAX_QUANTITY).default(1),
  })
  .strict()
  .openapi('CreateCraftingSession');

const createRouteDef = createRoute({
  method: 'post',
  path: '/sessions',
  summary: "Start crafting: the session joins the caller's queue and runs as soon as a slot and its inputs allow",
  security: [{ Bearer: [] }],
  request: { body: jsonRequest(CreateSession) },
  responses: {
    201: jsonContent(z.object({ id: z.string(), session: Progress, queue: QueueView }), 'The session, with its id'),
    400: error('Unknown recipe or bad quantity'),
    401: error('Not authenticated'),
    409: error('Queue full'),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/sessions/{session_id}',
  summary: "A session's progress (any member of the tenant)",
  security: [{ Bearer: [] }],
  request: { params: SessionParams },
  responses: { 200: jsonContent(Progress, 'The progress now'), 401: error('Not authenticated'), 404: error('No such session') },
});

const cancelRoute = createRoute({
  method: 'delete',
  path: '/sessions/{session_id}',
  summary: 'Cancel a session (owner or admin): all inputs back before the first stage ends, half after',
  security: [{ Bearer: [] }],
  request: { params: SessionParams },
  responses: {
    200: jsonContent(Progress, 'Cancelled, with what was returned'),
    401: error('Not authenticated'),
    403: error('Not the owner'),
    404: error('No such session'),
    409: error('Already finished'),
  },
});

const controlRoute = (command: 'pause' | 'resume') =>
  createRoute({
    method: 'post',
    path: `/sessions/{session_id}/${command}`,
    summary: `${command === 'pause' ? 'Pause' : 'Resume'} a session (owner or admin)`,
    security: [{ Bearer: [] }],
    request: { params: SessionParams },
    responses: {
      200: jsonContent(Progress, 'The progress after the command'),
      401: error('Not authenticated'),
      403: error('Not the owner'),
      404: error('No such session'),
      409: error('Not in a state that allows it'),
    },
  });

const queueRoute = createRoute({
  method: 'get',
  path: '/queue/{player_id}',
  summary: "A player's queue: positions, estimated start and finish (the player, an admin or a service)",
  security: [{ Bearer: [] }],
  request: { params: PlayerParams },
  responses: { 200: jsonContent(QueueView, 'The queue'), 401: error('Not authenticated'), 403: error("Another player's queue") },
});

const materialsRoute = createRoute({
  method: 'get',
  path: '/materials/{player_id}',
  summary: "A player's materials (the player, an admin or a service)",
  security: [{ Bearer: [] }],
  request: { params: PlayerParams },
  responses: {
    200: jsonContent(MaterialsView, 'Materials'),
    401: error('Not authenticated'),
    403: error("Another player's materials"),
  },
});

const AdjustMaterials = z
  .object({
    changes: z
      .record(z.string().max(64), z.number().int().min(-1_000_000).max(1_000_000))
      .refine((c) => Object.keys(c).length > 0 && Object.keys(c).length <= 64, {
        message: 'between 1 and 64 materials',
      }),
    reason: z.string().max(200).optional(),
  })
  .strict()
  .openapi('AdjustMaterials', { example: { changes: { iron_ore: 5, herb: -1 }, reason: 'quest reward' } });

const adjustRoute = createRoute({
  method: 'post',
  path: '/materials/{player_id}',
  summary: 'Grant (positive) or take (negative) materials: service and admin tokens only; sessions and queues are notified',
  security: [{ Bearer: [] }],
  request: { params: PlayerParams, body: jsonRequest(AdjustMaterials) },
  responses: {
    200: jsonContent(MaterialsView, 'Materials after the change'),
    400: error('Unknown material or bad quantity'),
    401: error('Not authenticated'),
    403: error('Not a service or admin token'),
    409: error('Would take more than the player holds'),
  },
});

const api = router();
api.use('*', requireAuth);
api.on('POST', '/sessions', idempotent());
api.post('/materials/:player_id', requireRole('service', 'admin'));

api
  .openapi(recipesRoute, (c) =>
    c.json(
      {
        recipes: RECIPES.map((r) => ({ ...r, totalDurationMs: totalDurationMs(r, 1) })),
        materials: [...MATERIAL_IDS],
        starterKit: STARTER_KIT,
        maxQuantity: MAX_QUANTITY,
        maxRunning: DEFAULT_MAX_RUNNING,
        maxQueueLength: MAX_QUEUE_LENGTH,
      },
      200,
    ),
  )
  .openapi(createRouteDef, async (c) => {
    const identity = c.get('identity');
    const body = c.req.valid('json');
    const sessionId = `cs_${crypto.randomUUID().replaceAll('-', '')}`;
    const queue = fromActorReply<z.infer<typeof QueueView>>(
      await queueActor(c, identity.tenantId, identity.userId).enqueue(actorIdentity(identity), {
        sessionId,
        recipeId: body.recipeId,
        quantity: body.quantity,
      }),
    );
    const session = fromActorReply<z.infer<typeof Progress>>(
      await sessionActor(c, identity.tenantId, sessionId).view(actorIdentity(identity)),
    );
    return c.json({ id: sessionId, session, queue }, 201);
  })
  .openapi(getRoute, async (c) => {
    const identity = c.get('identity');
    const { session_id } = c.req.valid('param');
    return c.json(
      fromActorReply<z.infer<typeof Progress>>(
        await sessionActor(c, identity.tenantId, session_id).view(actorIdentity(identity)),
      ),
      200,
    );
  })
  .openapi(cancelRoute, async (c) => {
    const identity = c.get('identity');
    const { session_id } = c.req.valid('param');
    const r = await sessionActor(c, identity.tenantId, session_id).control(actorIdentity(identity), 'cancel');
    return c.json(fromActorReply<z.infer<typeof Progress>>(r), 200);
  })
  .openapi(controlRoute('pause'), async (c) => {
    const identity = c.get('identity');
    const { session_id } = c.req.valid('param');
    const r = await sessionActor(c, identity.tenantId, session_id).control(actorIdentity(identity), 'pause');
    return c.json(fromActorReply<z.infer<typeof Progress>>(r), 200);
  })
  .openapi(controlRoute('resume'), async (c) => {
    const identity = c.get('identity');
    const { session_id } = c.req.valid('param');
    const r = await sessionActor(c, identity.tenantId, session_id).control(actorIdentity(identity), 'resume');
    return c.json(fromActorReply<z.infer<typeof Progress>>(r), 200);
  })
  .openapi(queueRoute, async (c) => {
    const identity = c.get('identity');
    const { player_id } = c.req.valid('param');
    assertPlayerAccess(identity, player_id);
    return c.json(
      fromActorReply<z.infer<typeof QueueView>>(
        await queueActor(c, identity.tenantId, player_id).queueView(actorIdentity(identity)),
      ),
      200,
    );
  })
  .openapi(materialsRoute, async (c) => {
    const identity = c.get('identity');
    const { player_id } = c.req.valid('param');
    assertPlayerAccess(identity, player_id);
    const r = await queueActor(c, identity.tenantId, player_id).materials(actorIdentity(identity));
    return c.json(fromActorReply<z.infer<typeof MaterialsView>>(r), 200);
  })
  .openapi(adjustRoute, async (c) => {
    const identity = c.get('identity');
    const { player_id } = c.req.valid('param');
    const { changes, reason } = c.req.valid('json');
    const r = await queueActor(c, identity.tenantId, player_id).adjust(actorIdentity(identity), changes, reason);
    return c.json(fromActorReply<z.infer<typeof MaterialsView>>(r), 200);
  });

export const crafting = router();
crafting.route('/api/crafting', api);

// ---- WebSockets -----------------------------------------------------------------------------------------------

/** Subprotocols, best first: what each means for the connection. */
const SESSION_PROTOCOLS: Record<string, { dialect: string; codec: 'json' | 'lz4' }> = {
  'crafting-udp.v1': { dialect: UDP_DIALECT, codec: 'json' },
  'crafting.v1.lz4': { dialect: SESSION_DIALECT, codec: 'lz4' },
  'crafting.v1': { dialect: SESSION_DIALECT, codec: 'json' },
};
const QUEUE_PROTOCOLS: Record<string, { dialect: string; codec: 'json' | 'lz4' }> = {
  'crafting-queue.v1.lz4': { dialect: QUEUE_DIALECT, codec: 'lz4' },
  'crafting-queue.v1': { dialect: QUEUE_DIALECT, codec: 'json' },
};

/**
 * Picks the connection's dialect and codec: the first offered subprotocol we speak (echoed in the 101), else the
 * query (`?compression=lz4`, `?mode=udp`), else JSON. Offering only protocols we do not speak is a 400.
 */
function negotiate(
  c: Context<AppEnv>,
  table: Record<string, { dialect: string; codec: 'json' | 'lz4' }>,
  fallback: string,
): { dialect: string; codec: 'json' | 'lz4'; protocol: string | null } {
  const offered = (c.req.header('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (offered.length) {
    const chosen = offered.find((p) => p in table);
    if (!chosen) {
      throw new ApiError(
        'INVALID_REQUEST',
        `Unsupported WebSocket protocol: this endpoint speaks ${Object.keys(table).join(', ')}`,
        {
          details: { field: 'Sec-WebSocket-Protocol', issue: 'unsupported_protocol', supported: Object.keys(table) },
        },
      );
    }
    return { ...(table[chosen] as { dialect: string; codec: 'json' | 'lz4' }), protocol: chosen };
  }
  const compression = c.req.query('compression');
  if (compression !== undefined && compression !== 'lz4' && compression !== 'none') {
    throw new ApiError('INVALID_REQUEST', 'compression must be lz4 or none', {
      details: { field: 'compression', issue: 'unsupported_compression' },
    });
  }
  const dialect = c.req.query('mode') === 'udp' && table === SESSION_PROTOCOLS ? UDP_DIALECT : fallback;
  return { dialect, codec: compression === 'lz4' ? 'lz4' : 'json', protocol: null };
}

/** The upgrade handed to the actor, with the codec the negotiation chose; the 101 echoes the subprotocol. */
async function forwardUpgrade(
  c: Context<AppEnv>,
  actor: { fetch(r: Request): Promise<Response> },
  identity: Identity,
  chosen: { dialect: string; codec: 'json' | 'lz4'; protocol: string | null },
): Promise<Response> {
  const url = new URL(c.req.url);
  url.searchParams.set('codec', chosen.codec);
  const res = await actor.fetch(
    forwardRequest(new Request(url, { headers: c.req.raw.headers }), actorIdentity(identity), chosen.dialect),
  );
  if (res.status !== 101 || !res.webSocket || !chosen.protocol) return res;
  return new Response(null, { status: 101, webSocket: res.webSocket, headers: { 'Sec-WebSocket-Protocol': chosen.protocol } });
}

crafting.get('/ws/crafting/:session_id', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const sessionId = pathId(c.req.param('session_id'), 'session_id');
  const identity = await handshakeIdentity(c);
  const chosen = negotiate(c, SESSION_PROTOCOLS, SESSION_DIALECT);
  const actor = sessionActor(c, identity.tenantId, sessionId);
  fromActorReply(await actor.admitWatcher(actorIdentity(identity)));
  return forwardUpgrade(c, actor, identity, chosen);
});

crafting.get('/ws/queue/:player_id', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const playerId = pathId(c.req.param('player_id'), 'player_id');
  const identity = await handshakeIdentity(c);
  assertPlayerAccess(identity, playerId, ['admin']);
  const chosen = negotiate(c, QUEUE_PROTOCOLS, QUEUE_DIALECT);
  const actor = queueActor(c, identity.tenantId, playerId);
  fromActorReply(await actor.admitWatcher(actorIdentity(identity)));
  return forwardUpgrade(c, actor, identity, chosen);
});
