import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { raceActor } from '../../actors/keys';
import type { RaceView } from '../../actors/race';
import type { Identity } from '../../auth/identity';
import { actorIdentity } from '../../core/forward';
import { findRace, insertRace, type RaceDefinition, type RaceRow, raceLeaderboard, trackPosition } from '../../db/races';
import { DIALECT } from '../../dialects/earthring-race';
import { parseWorldSeed } from '../../domain/chunks';
import { ID_PATTERN } from '../../domain/input';
import { MAX_CHECKPOINTS, MAX_LAPS, parseRaceDraft, planRace, trackKeyOf } from '../../domain/race-plan';
import { VEHICLE_PROFILES } from '../../domain/racing';
import { ApiError, fromReply, type Reply } from '../../errors';
import type { AppEnv } from '../context';
import { idempotent } from '../idempotency';
import { requireAuth } from '../middleware/auth';
import { documented as doc, errorContent as error, jsonContent as ok, bearer as security } from '../openapi';
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
 * Seed 000's Racing. D1 holds races and results (REST reads them); the Race actor `<tenantId>:<raceId>` holds
 * participants, start, live progress and verification. Streams of one race: WebSocket `/ws/racing/{event_id}`,
 * SSE `/sse/racing/{event_id}`, polling `GET /api/racing/events/{event_id}/events`, HTTP-sent frames
 * `POST /api/racing/events/{event_id}/messages`. Another tenant's race is 404 everywhere.
 */

// ---- helpers ----------------------------------------------------------------------------------------------

/** RPC result types cannot express `unknown`; the actor declares what each method answers. */
async function answer<T>(p: Promise<unknown>): Promise<T> {
  return fromReply((await p) as Reply<T>);
}

function eventIdOf(value: string | undefined): number {
  if (!value || !ID_PATTERN.test(value)) {
    throw new ApiError('INVALID_REQUEST', 'event_id must be a positive integer', {
      details: { field: 'event_id', issue: 'bad_id' },
    });
  }
  return Number(value);
}

async function loadRace(c: Context<AppEnv>, identity: Identity, id: number): Promise<RaceRow> {
  const row = await findRace(c.env.DB, identity.tenantId, id);
  if (!row) throw new ApiError('NOT_FOUND', `No race ${id}`, { details: { field: 'event_id' } });
  return row;
}

// ---- OpenAPI ----------------------------------------------------------------------------------------------

const PointSchema = z.object({ x: z.number(), y: z.number() }).openapi('RingPoint');
const LineStringSchema = z
  .object({ type: z.literal('LineString'), coordinates: z.array(z.tuple([z.number(), z.number()])) })
  .openapi('LineString');

const EventParams = z.object({
  event_id: z
    .string()
    .regex(ID_PATTERN, 'must be a positive integer id')
    .openapi({ param: { name: 'event_id', in: 'path' }, example: '101' }),
});

const RaceCreate = z
  .object({
    name: doc('string', '1..100 characters', 'Downtown Street Race'),
    start_point: doc('object', '{x, y} ring metres', { x: 12345, y: 100 }),
    end_point: doc('object', '{x, y}', { x: 15678, y: 200 }),
    checkpoints: doc('array', `Optional, at most ${MAX_CHECKPOINTS}, reached in order`, [{ x: 14000, y: 150 }]),
    floor: doc('integer', 'Floor −2..15', 0),
    route_generation: doc('string', '"auto" (planned over the generated roads/transit) or "manual"', 'auto'),
    route: doc('object', 'GeoJSON LineString, manual only: must run on the roads (or transit line for maglev)'),
    properties: doc('object', `vehicle_type (${Object.keys(VEHICLE_PROFILES).join(', ')}), laps 1..${MAX_LAPS}`, {
      vehicle_type: 'sports_car',
      laps: 1,
    }),
    start_time: doc('string', 'Optional ISO time within 30 days: the race then starts by itself (if anyone joined)'),
  })
  .partial()
  .loose()
  .openapi('RaceCreateRequest', { required: ['name', 'start_point', 'end_point', 'floor'] });

const RaceCreated = z
  .object({
    id: z.number().int(),
    name: z.string(),
    route_geometry: LineStringSchema,
    status: z.literal('pending'),
    created_at: z.string(),
    route_length: z.number(),
    checkpoints: z.array(PointSchema),
    start_time: z.string().nullable(),
  })
  .openapi('RaceCreated');

const RaceDetails = z
  .object({ id: z.number().int(), name: z.string(), status: z.enum(['pending', 'active', 'finished']) })
  .passthrough()
  .openapi('Race');

const Join = z
  .object({ success: z.literal(true), event_id: z.number().int(), start_time: z.string().nullable() })
  .openapi('RaceJoin');

const Started = z
  .object({
    event_id: z.number().int(),
    start_time: z.string(),
    participants: z.array(z.number().int()),
    route: LineStringSchema,
    checkpoints: z.array(PointSchema),
  })
  .passthrough()
  .openapi('RacingStarted');

const StartBody = z
  .object({
    route: doc('object', "Optional: must be the race's route"),
    checkpoints: doc('array', "Optional: must be the race's"),
  })
  .partial()
  .loose();

const ResultBody = z
  .object({
    finish_time: doc('string', '"HH:MM:SS.mmm" since the start', '00:05:30.123'),
    checkpoint_times: doc(
      'array',
      'Optional: a time per checkpoint; more entries may follow (the last is the finish, those between are your own splits)',
      ['00:01:50.000', '00:03:20.100', '00:05:30.023'],
    ),
    vehicle_data: doc('object', 'Optional telemetry, at most 4 KiB'),
  })
  .partial()
  .loose()
  .openapi('RaceResultRequest', { required: ['finish_time'] });

const ResultAnswer = z
  .object({
    success: z.literal(true),
    position: z.number().int().openapi({ description: 'Place in this race (ties share)' }),
    leaderboard_position: z.number().int().openapi({ description: 'Rank among every result on the same track in the tenant' }),
    finish_time: z.string().openapi({ description: 'The finish time the server observed (what the leaderboard shows)' }),
  })
  .openapi('RaceResult');

const Leaderboard = z
  .object({
    event_id: z.number().int(),
    leaderboard: z.array(
      z.object({ player_id: z.number().int(), username: z.string(), finish_time: z.string(), position: z.number().int() }),
    ),
  })
  .openapi('RaceLeaderboard');

const RaceFrame = z
  .object({ type: z.string(), data: z.unknown(), eventId: z.string(), sequence: z.number().int() })
  .openapi('RaceEvent');
const PollAnswer = pollAnswer(RaceFrame, 'RacePoll');

const createRaceRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Create a racing event: auto-planned over the generated network, or a manual route on it',
  security,
  request: { body: { required: true, content: { 'application/json': { schema: RaceCreate } } } },
  responses: {
    201: ok(RaceCreated, 'Created (pending)'),
    400: error('INVALID_REQUEST with details {field, issue}, e.g. off_network, disconnected, checkpoint_missed'),
    401: error('Not authenticated'),
  },
});

const getRaceRoute = createRoute({
  method: 'get',
  path: '/{event_id}',
  summary: 'A race: route, checkpoints, status, participants and their progress',
  security,
  request: { params: EventParams },
  responses: { 200: ok(RaceDetails, 'Race'), 401: error('Not authenticated'), 404: error('No such race in this tenant') },
});

const joinRoute = createRoute({
  method: 'post',
  path: '/{event_id}/join',
  summary: 'Join a pending race (start_time: the start, the scheduled start, or null)',
  security,
  request: { params: EventParams },
  responses: {
    200: ok(Join, 'Joined (joining twice is the same)'),
    400: error('The race has started or is full'),
    401: error('Not authenticated'),
    404: error('No such race'),
  },
});

const startRoute = createRoute({
  method: 'post',
  path: '/{event_id}/start',
  summary: 'Start the race (creator or admin); everyone following it gets racing_started',
  security,
  request: { params: EventParams, body: { required: false, content: { 'application/json': { schema: StartBody } } } },
  responses: {
    200: ok(Started, 'Started'),
    400: error('Already started, nobody joined, or route/checkpoints that are not the race’s'),
    401: error('Not authenticated'),
    403: error('Not the creator or an admin'),
    404: error('No such race'),
  },
});

const resultRoute = createRoute({
  method: 'post',
  path: '/{event_id}/result',
  summary: 'Submit your result; it must match the times the server observed (1.5 s tolerance)',
  security,
  request: { params: EventParams, body: { required: true, content: { 'application/json': { schema: ResultBody } } } },
  responses: {
    200: ok(ResultAnswer, 'Recorded'),
    400: error('not_finished, impossible_finish_time, time_mismatch, count_mismatch, not_monotonic, already_submitted'),
    401: error('Not authenticated'),
    403: error('Not a participant'),
    404: error('No such race'),
  },
});

const leaderboardRoute = createRoute({
  method: 'get',
  path: '/{event_id}/leaderboard',
  summary: 'The race’s results from D1, fastest first (equal times share a position)',
  security,
  request: { params: EventParams },
  responses: { 200: ok(Leaderboard, 'Leaderboard'), 401: error('Not authenticated'), 404: error('No such race') },
});

const pollRoute = createRoute({
  method: 'get',
  path: '/{event_id}/events',
  summary: 'Long polling over the race’s events (racing_started, racing_update, ...): for spectators',
  security,
  request: { params: EventParams, query: EventsQuery },
  responses: {
    200: ok(PollAnswer, 'Events after lastEventId, or the race state when it cannot be honoured'),
    401: error('Not authenticated'),
    404: error('No such race'),
  },
});

const messagesRoute = createRoute({
  method: 'post',
  path: '/{event_id}/messages',
  summary: 'Send one {type, id, data} frame (racing_start, racing_update, ping) over HTTP; answers the frames sent back',
  security,
  request: { params: EventParams },
  responses: { ...messagesResponses, 404: error('No such race') },
});

// ---- handlers ---------------------------------------------------------------------------------------------

export const racing = router();

racing.use('/api/racing/*', requireAuth);
racing.on('POST', '/api/racing/events', idempotent());

const api = router()
  .openapi(createRaceRoute, async (c) => {
    const identity = c.get('identity');
    const now = Date.now();
    const draft = parseRaceDraft(c.req.valid('json'), now);
    const plan = planRace(draft, parseWorldSeed(c.env.WORLD_SEED, 'WORLD_SEED'));
    const createdAt = new Date(now).toISOString();
    const def = await insertRace(c.env.DB, {
      tenantId: identity.tenantId,
      creatorId: Number(identity.userId),
      name: draft.name,
      floor: draft.floor,
      startPoint: draft.startPoint,
      endPoint: draft.endPoint,
      checkpoints: draft.checkpoints,
      routeGeneration: draft.routeGeneration,
      route: plan.route,
      routeLength: plan.length,
      raceCheckpoints: plan.raceCheckpoints,
      properties: draft.properties,
      vehicleType: draft.vehicleType,
      laps: draft.laps,
      trackKey: await trackKeyOf(draft.floor, plan.route, draft.vehicleType, draft.laps),
      scheduledStart: draft.scheduledStart,
      createdAt,
    } satisfies Omit<RaceDefinition, 'id'>);
    const view = await answer<RaceView>(raceActor(c.env, identity.tenantId, def.id).create(def));
    return c.json(
      {
        id: def.id,
        name: def.name,
        route_geometry: def.route,
        status: 'pending' as const,
        created_at: createdAt,
        route_length: view.route_length,
        checkpoints: view.checkpoints,
        start_time: def.scheduledStart,
      },
      201,
    );
  })
  .openapi(getRaceRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    return c.json(
      await answer<z.infer<typeof RaceDetails>>(raceActor(c.env, identity.tenantId, id).state(actorIdentity(identity))),
      200,
    );
  })
  .openapi(joinRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    return c.json(await answer<z.infer<typeof Join>>(raceActor(c.env, identity.tenantId, id).join(actorIdentity(identity))), 200);
  })
  .openapi(startRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    const text = await c.req.text();
    let body: Record<string, unknown> = {};
    if (text.trim()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ApiError('INVALID_REQUEST', 'Malformed JSON in request body', {
          details: { field: '(body)', issue: 'bad_json' },
        });
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new ApiError('INVALID_REQUEST', 'Body must be a JSON object', { details: { field: '(body)', issue: 'bad_type' } });
      }
      body = parsed as Record<string, unknown>;
    }
    return c.json(
      await answer<z.infer<typeof Started>>(raceActor(c.env, identity.tenantId, id).start(actorIdentity(identity), body)),
      200,
    );
  })
  .openapi(resultRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    const r = await answer<{ position: number; finish_time: string; finish_ms: number; track_key: string }>(
      raceActor(c.env, identity.tenantId, id).submitResult(actorIdentity(identity), c.req.valid('json')),
    );
    const leaderboardPosition = await trackPosition(c.env.DB, identity.tenantId, r.track_key, r.finish_ms);
    return c.json(
      { success: true as const, position: r.position, leaderboard_position: leaderboardPosition, finish_time: r.finish_time },
      200,
    );
  })
  .openapi(leaderboardRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    return c.json({ event_id: id, leaderboard: await raceLeaderboard(c.env.DB, identity.tenantId, id) }, 200);
  })
  .openapi(pollRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    const poll = await pollActor(raceActor(c.env, identity.tenantId, id), identity, DIALECT, c.req.valid('query'));
    return c.json(poll as z.infer<typeof PollAnswer>, 200);
  })
  .openapi(messagesRoute, async (c) => {
    const identity = c.get('identity');
    const id = Number(c.req.valid('param').event_id);
    await loadRace(c, identity, id);
    return c.json(await sendFrameTo(c, raceActor(c.env, identity.tenantId, id), identity, DIALECT), 200);
  });

racing.route('/api/racing/events', api);

/** The race's WebSocket (upgrade) and SSE stream: token checked and race found before the actor sees anything. */
async function openStream(c: Context<AppEnv>): Promise<Response> {
  const id = eventIdOf(c.req.param('event_id'));
  const identity = await handshakeIdentity(c);
  await loadRace(c, identity, id);
  return forwardToActor(c, raceActor(c.env, identity.tenantId, id), identity, DIALECT);
}

racing.get('/ws/racing/:event_id', async (c) => requireUpgrade(c) ?? openStream(c));
racing.get('/sse/racing/:event_id', openStream);
