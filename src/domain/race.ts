import { ApiError, invalid, unwrapResult } from '../errors';
import { asObject, playerIdOf } from './input';
import {
  advanceCheckpoint,
  checkReportedSpeed,
  checkSpeed,
  formatRaceTime,
  type LeaderboardEntry,
  lapCheckpoints,
  MAX_RACE_TIME_MS,
  type RaceProgress,
  rankLeaderboard,
  routeEnd,
  routeStart,
  tryFinish,
  type VehicleType,
  verifySubmission,
} from './racing';
import { type Floor, type Point, parsePosition, ringDistance } from './ring';
import { type LineString, parseLineString, WAYPOINT_RADIUS } from './routes';

/**
 * A race (seed 000's racing event) as one plain-JSON state and a reducer, so the Race actor is a thin shell:
 *
 *   const r = applyRaceCommand(state, caller, { kind: 'update', input }, now);   // throws ApiError on bad input
 *   state = r.state; store.save(prev, state); publish(r.events); relay(r.relay); reply(r.answer);
 *   // and at nextDeadline(state) (a scheduled start): ({ state, events, relay } = tick(state, now)), the same.
 *
 * Nothing is mutated and a throw changes nothing. The checks themselves (speed, checkpoint order, finish, result
 * verification, time strings) are racing.ts's; this module decides who may do what when, and which events follow.
 * Times: `now` and `startAt` are server clock ms; progress times are ms since the start.
 */

export type RaceStatus = 'pending' | 'active' | 'finished';
export type RouteGeneration = 'auto' | 'manual';

/** Everything fixed when a race is created: what the actor loads, and what REST shows. */
export interface RaceDefinition {
  id: number;
  tenantId: string;
  creatorId: number;
  name: string;
  floor: Floor;
  startPoint: Point;
  endPoint: Point;
  /** The checkpoints as requested. */
  checkpoints: Point[];
  routeGeneration: RouteGeneration;
  route: LineString;
  /** Metres of one lap. */
  routeLength: number;
  /** The requested checkpoints as points on the route: where the 30 m reach check applies (one lap's worth). */
  raceCheckpoints: Point[];
  properties: Record<string, unknown>;
  vehicleType: VehicleType;
  laps: number;
  trackKey: string;
  /** ISO time the race starts by itself, or null for a start by its creator. */
  scheduledStart: string | null;
  createdAt: string;
}

/** A verified result: the observed finish is what ranks; the claim and telemetry are kept beside it. */
export interface RaceResult {
  finishMs: number;
  claimedMs: number;
  submittedAt: string;
  checkpointTimes: string[];
  vehicleData: unknown;
}

export interface Racer {
  /** The user id (seed 000 player ids are numbers; they travel as strings in actors). */
  playerId: string;
  username: string;
  joinedAt: string;
  progress: RaceProgress;
  last: Point | null;
  /** Server clock of the last accepted update. */
  lastAt: number | null;
  result: RaceResult | null;
}

export interface RaceState {
  def: RaceDefinition;
  status: RaceStatus;
  startAt: number | null;
  /** In join order (join time, then player id), as every participants list shows them. */
  racers: Racer[];
}

/** Who is acting: from a verified token (or the relaying chunk's connection), never from the payload. */
export interface RaceCaller {
  tenantId: string;
  userId: string;
  username: string;
  role: string;
}

export type RaceEventType = 'racing_joined' | 'racing_started' | 'racing_update' | 'racing_result' | 'racing_finished';

export interface RaceEvent {
  type: RaceEventType;
  data: Record<string, unknown>;
}

/**
 * The race events a participant's game socket gets. racing_joined stays on the race's own channels: it is lobby
 * chatter before the start, and seed 000's `/ws` has no such frame.
 */
export const PLAYER_EVENTS: ReadonlySet<string> = new Set<RaceEventType>([
  'racing_started',
  'racing_update',
  'racing_result',
  'racing_finished',
]);

/** A race's participants are bounded so its frames and state stay small. */
export const MAX_PARTICIPANTS = 100;
/** `vehicle_data` in a result is kept as the racer's own telemetry, up to this size. */
export const MAX_VEHICLE_DATA_BYTES = 4096;

export interface ParticipantView {
  player_id: number;
  username: string;
  checkpoint_reached: number;
  position: Point | null;
  /** Race time of the last accepted update. */
  time: string | null;
  finished: boolean;
  finish_time: string | null;
  result_submitted: boolean;
}

export interface RaceView {
  id: number;
  name: string;
  status: RaceStatus;
  floor: number;
  route_generation: RouteGeneration;
  route_geometry: LineString;
  /** Metres of the whole race (one lap × laps). */
  route_length: number;
  start_point: Point;
  end_point: Point;
  /** The checkpoints as requested at creation. */
  requested_checkpoints: Point[];
  /** Where `checkpoint_reached` n is counted (points on the route, laps unrolled): n is the index + 1. */
  checkpoints: Point[];
  /** The point on the route where the race ends (the route's last position). */
  finish: Point;
  properties: Record<string, unknown>;
  creator_id: number;
  start_time: string | null;
  scheduled_start_time: string | null;
  created_at: string;
  participants: ParticipantView[];
}

export interface RacingStarted {
  event_id: number;
  start_time: string;
  participants: number[];
  route: LineString;
  checkpoints: Point[];
  finish: Point;
  laps: number;
  vehicle_type: VehicleType;
}

export interface RacingUpdate {
  event_id: number;
  players: Array<{ player_id: number; position: Point; checkpoint_reached: number; time: string; finished: boolean }>;
}

export interface JoinAnswer {
  success: true;
  event_id: number;
  start_time: string | null;
}

export interface ResultAnswer {
  success: true;
  position: number;
  finish_time: string;
  finish_ms: number;
  track_key: string;
}

export type RaceCommand =
  | { kind: 'join' }
  /** `racing_start` / `POST .../start`: `route`/`checkpoints`, when sent, must be the race's. */
  | { kind: 'start'; input: unknown }
  /** `racing_update`: `now` is the server time the frame arrived (never a client's clock). */
  | { kind: 'update'; input: unknown }
  | { kind: 'result'; body: unknown };

interface Answers {
  join: JoinAnswer;
  start: RacingStarted;
  update: RacingUpdate;
  result: ResultAnswer;
}

/** Participants' game sockets get these frames (PLAYER_EVENTS), wherever they stand. */
export interface RaceRelay {
  players: number[];
  frames: RaceEvent[];
}

export interface RaceOutcome<T> {
  state: RaceState;
  answer: T;
  /** To log and deliver on the race's own channels, in this order. */
  events: RaceEvent[];
  relay: RaceRelay | null;
}

export const createRaceState = (def: RaceDefinition): RaceState => ({ def, status: 'pending', startAt: null, racers: [] });

export const playerNumber = (userId: string): number => Number(userId);

/** Applies one command; throws ApiError (and changes nothing) when the rules refuse it. */
export function applyRaceCommand<C extends RaceCommand>(
  state: RaceState,
  caller: RaceCaller,
  command: C,
  now: number,
): RaceOutcome<Answers[C['kind']]> {
  assertTenantOf(caller, state.def);
  const c = command as RaceCommand;
  const r =
    c.kind === 'join'
      ? join(state, caller, now)
      : c.kind === 'start'
        ? start(state, caller, c.input, now)
        : c.kind === 'update'
          ? update(state, caller, c.input, now)
          : submitResult(state, caller, c.body, now);
  return r as RaceOutcome<Answers[C['kind']]>;
}

/** The scheduled start, when due: a race nobody joined stays pending (its creator may still start it later). */
export function tick(state: RaceState, now: number): RaceOutcome<RacingStarted | null> {
  const due = nextDeadline(state);
  if (due === null || now < due || state.racers.length === 0) return { state, answer: null, events: [], relay: null };
  return begin(state, now);
}

/** When `tick` has something to do (ms since the epoch), or null: a pending race's scheduled start. */
export function nextDeadline(state: RaceState): number | null {
  return state.status === 'pending' && state.def.scheduledStart !== null ? Date.parse(state.def.scheduledStart) : null;
}

export function racer(state: RaceState, userId: string): Racer | null {
  return state.racers.find((r) => r.playerId === userId) ?? null;
}

/** The start time a joiner is told: the start, else the scheduled start, else null. */
export const startTimeOf = (state: RaceState): string | null =>
  state.startAt !== null ? new Date(state.startAt).toISOString() : state.def.scheduledStart;

export function raceView(state: RaceState): RaceView {
  const { def, startAt } = state;
  return {
    id: def.id,
    name: def.name,
    status: state.status,
    floor: def.floor,
    route_generation: def.routeGeneration,
    route_geometry: def.route,
    route_length: def.routeLength * def.laps,
    start_point: def.startPoint,
    end_point: def.endPoint,
    requested_checkpoints: def.checkpoints,
    checkpoints: lapCheckpoints(def),
    finish: routeEnd(def.route),
    properties: def.properties,
    creator_id: def.creatorId,
    start_time: startAt === null ? null : new Date(startAt).toISOString(),
    scheduled_start_time: def.scheduledStart,
    created_at: def.createdAt,
    participants: state.racers.map((p) => ({
      player_id: playerNumber(p.playerId),
      username: p.username,
      checkpoint_reached: p.progress.reached,
      position: p.last,
      time: p.lastAt === null || startAt === null ? null : formatRaceTime(p.lastAt - startAt),
      finished: p.progress.finishedAt !== null,
      finish_time: p.progress.finishedAt === null ? null : formatRaceTime(p.progress.finishedAt),
      result_submitted: p.result !== null,
    })),
  };
}

/** The race's own ranking of verified results. */
export const raceLeaderboard = (state: RaceState): LeaderboardEntry[] =>
  rankLeaderboard(
    state.racers.flatMap((p) =>
      p.result ? [{ player_id: playerNumber(p.playerId), username: p.username, finish_ms: p.result.finishMs }] : [],
    ),
  );

// ---- commands ---------------------------------------------------------------------------------------------

function join(state: RaceState, caller: RaceCaller, now: number): RaceOutcome<JoinAnswer> {
  const { def } = state;
  if (playerIdOf(caller.userId) === null) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Only players can race', { details: { field: 'player', issue: 'not_a_player' } });
  }
  const answer: JoinAnswer = { success: true, event_id: def.id, start_time: startTimeOf(state) };
  if (racer(state, caller.userId)) return { state, answer, events: [], relay: null };
  if (state.status !== 'pending') {
    throw new ApiError('INVALID_REQUEST', 'The race has already started', {
      details: { field: 'event_id', issue: 'race_started' },
    });
  }
  if (state.racers.length >= MAX_PARTICIPANTS) {
    throw new ApiError('INVALID_REQUEST', `The race is full (${MAX_PARTICIPANTS} participants)`, {
      details: { field: 'event_id', issue: 'race_full' },
    });
  }
  const joined: Racer = {
    playerId: caller.userId,
    username: caller.username,
    joinedAt: new Date(now).toISOString(),
    progress: { reached: 0, checkpointTimes: [], finishedAt: null },
    last: null,
    lastAt: null,
    result: null,
  };
  const racers = [...state.racers, joined].sort(byJoinOrder);
  const next = { ...state, racers };
  const data = {
    event_id: def.id,
    player_id: playerNumber(caller.userId),
    username: caller.username,
    participants: racers.map((p) => playerNumber(p.playerId)),
  };
  return { state: next, answer, events: [{ type: 'racing_joined', data }], relay: null };
}

function start(state: RaceState, caller: RaceCaller, input: unknown, now: number): RaceOutcome<RacingStarted> {
  const { def } = state;
  const data = asObject(input, 'data', { optional: true });
  assertEventId(data.event_id, def);
  if (caller.role !== 'admin' && caller.userId !== String(def.creatorId)) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Only the creator of the race or an admin may start it', {
      details: { creator_id: def.creatorId },
    });
  }
  if (data.route !== undefined) assertSameRoute(def, data.route);
  if (data.checkpoints !== undefined) assertSameCheckpoints(def, data.checkpoints);
  if (state.status !== 'pending') {
    throw new ApiError('INVALID_REQUEST', 'The race has already started', {
      details: { field: 'event_id', issue: 'race_started' },
    });
  }
  if (state.racers.length === 0) {
    throw new ApiError('INVALID_REQUEST', 'Nobody has joined the race yet', {
      details: { field: 'event_id', issue: 'no_participants' },
    });
  }
  return begin(state, now);
}

function begin(state: RaceState, now: number): RaceOutcome<RacingStarted> {
  const { def } = state;
  const next: RaceState = { ...state, status: 'active', startAt: now };
  const started: RacingStarted = {
    event_id: def.id,
    start_time: new Date(now).toISOString(),
    participants: next.racers.map((p) => playerNumber(p.playerId)),
    route: def.route,
    checkpoints: lapCheckpoints(def),
    finish: routeEnd(def.route),
    laps: def.laps,
    vehicle_type: def.vehicleType,
  };
  return withRelay(next, started, [{ type: 'racing_started', data: { ...started } }]);
}

function update(state: RaceState, caller: RaceCaller, input: unknown, at: number): RaceOutcome<RacingUpdate> {
  const { def } = state;
  const data = asObject(input, 'data', { optional: true });
  assertEventId(data.event_id, def);
  if (state.status !== 'active' || state.startAt === null) {
    const pending = state.status === 'pending';
    throw new ApiError('INVALID_REQUEST', pending ? 'The race has not started' : 'The race is over', {
      details: { field: 'event_id', issue: pending ? 'race_not_started' : 'race_over' },
    });
  }
  const p = racer(state, caller.userId);
  if (!p) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Only participants of the race may send updates', {
      details: { field: 'player', issue: 'not_participant' },
    });
  }
  const position = parsePosition(data.position, 'position');
  if (data.speed !== undefined) unwrapResult(checkReportedSpeed(data.speed, def.vehicleType));
  const prevAt = p.lastAt ?? state.startAt;
  if (!Number.isFinite(at) || at < prevAt) {
    throw new ApiError('INVALID_REQUEST', 'Update is older than the last accepted one', {
      details: { field: 'at', issue: 'stale_update' },
    });
  }
  const elapsedMs = at - state.startAt;
  if (elapsedMs > MAX_RACE_TIME_MS) {
    throw new ApiError('INVALID_REQUEST', 'The race has run longer than a race may', {
      details: { field: 'at', issue: 'race_timeout' },
    });
  }
  // Everyone starts on the start line: the first update is checked against it at the start time.
  unwrapResult(checkSpeed({ position: p.last ?? routeStart(def.route), at: prevAt }, { position, at }, def.vehicleType));
  const cps = lapCheckpoints(def);
  const reached = data.checkpoint_reached ?? p.progress.reached;
  let progress = unwrapResult(advanceCheckpoint(p.progress, { checkpointReached: reached, position, elapsedMs }, cps));
  progress = tryFinish(progress, { position, elapsedMs }, routeEnd(def.route), cps.length);
  const moved: Racer = { ...p, progress, last: position, lastAt: at };
  let next: RaceState = { ...state, racers: state.racers.map((r) => (r === p ? moved : r)) };
  const answer: RacingUpdate = {
    event_id: def.id,
    players: [
      {
        player_id: playerNumber(p.playerId),
        position,
        checkpoint_reached: progress.reached,
        time: formatRaceTime(elapsedMs),
        finished: progress.finishedAt !== null,
      },
    ],
  };
  const events: RaceEvent[] = [{ type: 'racing_update', data: { ...answer } }];
  const justFinished = progress.finishedAt !== null && p.progress.finishedAt === null;
  if (justFinished && next.racers.every((r) => r.progress.finishedAt !== null)) {
    next = { ...next, status: 'finished' };
    events.push({ type: 'racing_finished', data: { event_id: def.id, finished_at: new Date(at).toISOString() } });
  }
  return withRelay(next, answer, events);
}

function submitResult(state: RaceState, caller: RaceCaller, body: unknown, now: number): RaceOutcome<ResultAnswer> {
  const { def } = state;
  const p = racer(state, caller.userId);
  if (!p) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Only participants of the race may submit a result', {
      details: { field: 'player', issue: 'not_participant' },
    });
  }
  if (p.result !== null) {
    throw new ApiError('INVALID_REQUEST', 'A result for this race was already submitted', {
      details: { field: 'finish_time', issue: 'already_submitted' },
    });
  }
  const b = asObject(body, 'body', { optional: true });
  const vehicleData = b.vehicle_data ?? {};
  if (typeof vehicleData !== 'object' || vehicleData === null || Array.isArray(vehicleData)) {
    throw new ApiError('INVALID_REQUEST', 'vehicle_data must be an object', {
      details: { field: 'vehicle_data', issue: 'bad_type' },
    });
  }
  if (JSON.stringify(vehicleData).length > MAX_VEHICLE_DATA_BYTES) {
    throw new ApiError('INVALID_REQUEST', `vehicle_data is larger than ${MAX_VEHICLE_DATA_BYTES} bytes`, {
      details: { field: 'vehicle_data', issue: 'too_large' },
    });
  }
  const verified = unwrapResult(
    verifySubmission(b, p.progress, { routeLength: def.routeLength * def.laps, vehicle: def.vehicleType }),
  );
  // The leaderboard ranks the time the server observed; the claim matched it within the tolerance.
  const finishMs = p.progress.finishedAt as number;
  const result: RaceResult = {
    finishMs,
    claimedMs: verified.finishMs,
    submittedAt: new Date(now).toISOString(),
    checkpointTimes: verified.checkpointMs.map(formatRaceTime),
    vehicleData,
  };
  const next: RaceState = { ...state, racers: state.racers.map((r) => (r === p ? { ...p, result } : r)) };
  const position =
    1 + state.racers.filter((o) => o.playerId !== p.playerId && o.result !== null && o.result.finishMs < finishMs).length;
  const finishTime = formatRaceTime(finishMs);
  const data = { event_id: def.id, player_id: playerNumber(p.playerId), username: p.username, finish_time: finishTime, position };
  return withRelay(next, { success: true, position, finish_time: finishTime, finish_ms: finishMs, track_key: def.trackKey }, [
    { type: 'racing_result', data },
  ]);
}

// ---- helpers ----------------------------------------------------------------------------------------------

/** Every race event but racing_joined also goes to each participant's game socket. */
function withRelay<T>(state: RaceState, answer: T, events: RaceEvent[]): RaceOutcome<T> {
  const frames = events.filter((e) => PLAYER_EVENTS.has(e.type));
  const players = state.racers.map((p) => playerNumber(p.playerId));
  return { state, answer, events, relay: frames.length ? { players, frames } : null };
}

const byJoinOrder = (a: Racer, b: Racer): number =>
  a.joinedAt < b.joinedAt ? -1 : a.joinedAt > b.joinedAt ? 1 : a.playerId < b.playerId ? -1 : a.playerId > b.playerId ? 1 : 0;

/** Another tenant's race does not exist for the caller. */
function assertTenantOf(caller: RaceCaller, def: RaceDefinition): void {
  if (caller.tenantId !== def.tenantId) throw new ApiError('NOT_FOUND', `No race ${def.id}`, { details: { field: 'event_id' } });
}

function assertEventId(value: unknown, def: RaceDefinition): void {
  if (value === undefined) return;
  if (value !== def.id && value !== String(def.id)) {
    throw new ApiError('INVALID_REQUEST', `event_id ${JSON.stringify(value)} is not this race (${def.id})`, {
      details: { field: 'event_id', issue: 'wrong_event' },
    });
  }
}

function assertSameRoute(def: RaceDefinition, value: unknown): void {
  const route = parseLineString(value, 'route');
  const mine = def.route.coordinates;
  const same =
    route.coordinates.length === mine.length &&
    route.coordinates.every(([x, y], i) => ringDistance({ x, y }, { x: mine[i]![0], y: mine[i]![1] }) <= 1);
  if (!same) {
    throw invalid("route is not this race's route (it is fixed when the race is created)", {
      field: 'route',
      issue: 'route_mismatch',
    });
  }
}

function assertSameCheckpoints(def: RaceDefinition, value: unknown): void {
  if (!Array.isArray(value)) {
    throw invalid('checkpoints must be an array of {x, y}', {
      field: 'checkpoints',
      issue: 'bad_type',
    });
  }
  const points = value.map((v, i) => parsePosition(v, `checkpoints[${i}]`));
  const near = (p: Point, i: number) =>
    [def.checkpoints[i], def.raceCheckpoints[i]].some((q) => q !== undefined && ringDistance(p, q) <= WAYPOINT_RADIUS);
  if (points.length !== def.checkpoints.length || !points.every(near)) {
    throw invalid("checkpoints are not this race's checkpoints", {
      field: 'checkpoints',
      issue: 'checkpoint_mismatch',
    });
  }
}
