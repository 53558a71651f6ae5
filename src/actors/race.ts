import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import type { EventInput } from '../core/event-log';
import type { PollParams } from '../core/polling';
import type { LoggedEvent } from '../core/protocol';
import {
  definitionFromRow,
  findRace,
  type ParticipantRow,
  participantStatement,
  type RaceDefinition,
  type RaceStatus,
  type RaceStatusRow,
  type ResultWrite,
  raceStatusStatement,
  resultStatement,
} from '../db/races';
import { createRaceDialect, DIALECT } from '../dialects/earthring-race';
import { asObject, parseId, playerIdOf } from '../domain/input';
import {
  advanceCheckpoint,
  checkReportedSpeed,
  checkSpeed,
  formatRaceTime,
  type LeaderboardEntry,
  MAX_RACE_TIME_MS,
  parseRaceTime,
  type RaceProgress,
  RESULT_TOLERANCE_MS,
  rankLeaderboard,
  tryFinish,
  type VehicleType,
  verifyResult,
} from '../domain/racing';
import { type Point, parsePosition, ringDistance } from '../domain/ring';
import { parseLineString, WAYPOINT_RADIUS } from '../domain/routes';
import type { Env } from '../env';
import { ApiError, fail, isFieldError, ok, type Reply, type Result, toReply, unwrapResult } from '../errors';
import { relayToPlayers } from './chunk-calls';

/**
 * A race (seed 000's racing event), one actor per tenant and race: `<tenantId>:<raceId>`. It owns the
 * participants, the start, every racer's progress (checkpoints in order, plausible speed, the finish as the
 * server saw it), the verified results and the race's own leaderboard. Everything is in its SQLite; D1 gets
 * status and progress by write-behind and results at once (REST reads them there).
 *
 * Events in its log, delivered to its sockets, SSE streams and polls (and to anyone relaying them):
 *   racing_joined   {event_id, player_id, username, participants}
 *   racing_started  {event_id, start_time, participants, route, checkpoints, finish, laps, vehicle_type}
 *   racing_update   {event_id, players: [{player_id, position, checkpoint_reached, time, finished}]}
 *   racing_result   {event_id, player_id, username, finish_time, position}
 *   racing_finished {event_id, finished_at}   (every participant reached the finish)
 *
 * All but racing_joined also go to every participant's game socket (`/ws`, see PLAYER_EVENTS), whoever drove
 * the race (REST, the scheduled start, `/ws/racing/{id}` or `/ws`): this actor is the one place that fans them out.
 *
 * RPC methods answer `Reply<T>` values: an exception crossing RPC would lose its code and details.
 */

/** A race's participants are bounded so its frames and state stay small. */
export const MAX_PARTICIPANTS = 100;
/** `vehicle_data` in a result is kept as the racer's own telemetry, up to this size. */
export const MAX_VEHICLE_DATA_BYTES = 4096;

const SCOPE = 'race';
const START_TIMER = 'race:start';
const OUTBOX_PARTICIPANT = 'race_participant';
const OUTBOX_STATUS = 'race_status';
const OUTBOX_RESULT = 'race_result';

/**
 * The race events a participant's game socket gets. racing_joined stays on the race's own channels: it is lobby
 * chatter before the start, and seed 000's `/ws` has no such frame.
 */
export const PLAYER_EVENTS: ReadonlySet<string> = new Set([
  'racing_started',
  'racing_update',
  'racing_result',
  'racing_finished',
]);

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
  route_generation: 'auto' | 'manual';
  route_geometry: RaceDefinition['route'];
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
  route: RaceDefinition['route'];
  checkpoints: Point[];
  finish: Point;
  laps: number;
  vehicle_type: VehicleType;
}

export interface RacingUpdate {
  event_id: number;
  players: Array<{
    player_id: number;
    position: Point;
    checkpoint_reached: number;
    time: string;
    finished: boolean;
  }>;
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

interface PlayerRecord {
  playerId: string;
  username: string;
  joinedAt: string;
  progress: RaceProgress;
  last: Point | null;
  lastAt: number | null;
  resultMs: number | null;
}

interface PlayerSql extends Record<string, SqlStorageValue> {
  player_id: string;
  username: string;
  joined_at: string;
  reached: number;
  checkpoint_times: string;
  finished_at: number | null;
  last_x: number | null;
  last_y: number | null;
  last_at: number | null;
  result_ms: number | null;
}

interface RunState {
  status: RaceStatus;
  startAt: number | null;
}

// ---- pure rules the actor adds around src/domain/racing.ts ------------------------------------------------

/** The checkpoints racers reach in order, laps unrolled: each lap's checkpoints, then the finish line between laps. */
export function lapCheckpoints(def: Pick<RaceDefinition, 'raceCheckpoints' | 'laps' | 'route'>): Point[] {
  const out: Point[] = [];
  const finish = routeEnd(def.route);
  for (let lap = 1; lap <= def.laps; lap++) {
    out.push(...def.raceCheckpoints);
    if (lap < def.laps) out.push(finish);
  }
  return out;
}

export const routeStart = (route: RaceDefinition['route']): Point => {
  const [x, y] = route.coordinates[0]!;
  return { x, y };
};

export const routeEnd = (route: RaceDefinition['route']): Point => {
  const [x, y] = route.coordinates[route.coordinates.length - 1]!;
  return { x, y };
};

/**
 * `POST .../result` against the server's observations. `checkpoint_times` may list
 *   - one time per checkpoint (checked by verifyResult), or
 *   - more: the first N are the checkpoints (checked), the last is the finish (checked against the observed finish),
 *     and any between are the racer's own splits, which must only keep the order.
 * The seed's example (three times for its one checkpoint, the last ~the finish) is the second form. Fewer times
 * than checkpoints is `count_mismatch`. Omitting `checkpoint_times` is fine.
 */
export function verifySubmission(
  body: unknown,
  observed: RaceProgress,
  opts: { routeLength: number; vehicle: VehicleType; toleranceMs?: number },
): Result<{ finishMs: number; checkpointMs: number[] }> {
  const tol = opts.toleranceMs ?? RESULT_TOLERANCE_MS;
  const s = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const times = s.checkpoint_times;
  const n = observed.checkpointTimes.length;
  if (!Array.isArray(times) || times.length <= n || observed.finishedAt === null) return verifyResult(s, observed, opts);
  const head = verifyResult({ ...s, checkpoint_times: times.slice(0, n) }, observed, opts);
  if (!head.ok) return head;
  let all: number[];
  try {
    all = times.map((t, i) => parseRaceTime(t, `checkpoint_times[${i}]`));
  } catch (e) {
    if (isFieldError(e)) return { ok: false, error: e };
    throw e;
  }
  for (let i = n; i < all.length; i++) {
    if (i > 0 && all[i]! < all[i - 1]!) {
      return fail('INVALID_REQUEST', 'Checkpoint times must increase', {
        field: `checkpoint_times[${i}]`,
        issue: 'not_monotonic',
      });
    }
  }
  const last = all.length - 1;
  if (all[last]! > head.value.finishMs + tol || Math.abs(all[last]! - observed.finishedAt) > tol) {
    return fail('INVALID_REQUEST', 'The last checkpoint time (the finish) does not match the finish the server observed', {
      field: `checkpoint_times[${last}]`,
      issue: 'time_mismatch',
      observed: formatRaceTime(observed.finishedAt),
    });
  }
  return ok({ finishMs: head.value.finishMs, checkpointMs: all });
}

/** Seed 000 player ids are numbers; user ids travel as strings in actors. */
const playerNumber = (userId: string): number => Number(userId);

// ---- the actor --------------------------------------------------------------------------------------------

export class Race extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [DIALECT]: createRaceDialect({
      start: (identity, data) => this.doStart(identity, data),
      update: (identity, data) => this.doUpdate(identity, data),
    }),
  };
  /** Cached definition (immutable once stored). */
  private def: RaceDefinition | null = null;
  /** Relays to game sockets run one after another, so each player's chunk gets the race's events in log order. */
  private relayChain: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec('CREATE TABLE IF NOT EXISTS race_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.sql.exec(`CREATE TABLE IF NOT EXISTS race_players (
      player_id TEXT PRIMARY KEY, username TEXT NOT NULL, joined_at TEXT NOT NULL, reached INTEGER NOT NULL DEFAULT 0,
      checkpoint_times TEXT NOT NULL DEFAULT '[]', finished_at INTEGER, last_x REAL, last_y REAL, last_at INTEGER,
      result_ms INTEGER, claimed_ms INTEGER, submitted_at TEXT, seq INTEGER NOT NULL DEFAULT 0)`);
    this.outbox.register(OUTBOX_PARTICIPANT, (db, r) => participantStatement(db, r as ParticipantRow));
    this.outbox.register(OUTBOX_STATUS, (db, r) => raceStatusStatement(db, r as RaceStatusRow));
    this.outbox.register(OUTBOX_RESULT, (db, r) => resultStatement(db, r as ResultWrite));
  }

  // ---- RPC ------------------------------------------------------------------------------------------------

  /** Stores the definition REST just wrote to D1 (idempotent) and arms a scheduled start. */
  async create(def: RaceDefinition): Promise<Reply<RaceView>> {
    return toReply(async () => {
      this.assertKey(def.tenantId, def.id);
      await this.store(def);
      return this.view(def);
    });
  }

  async join(identity: ActorIdentity): Promise<Reply<JoinAnswer>> {
    return toReply(() => this.doJoin(identity));
  }

  /** `racing_start` / `POST .../start`: the creator or an admin; `route`/`checkpoints`, when sent, must be the race's. */
  async start(identity: ActorIdentity, input: { route?: unknown; checkpoints?: unknown; event_id?: unknown } = {}) {
    return toReply(() => this.doStart(identity, input));
  }

  /**
   * `racing_update` of a participant. `clock.at` is the server time the relaying actor received the frame (the
   * chunk actor passes its own `Date.now()` reading); it is never taken from a client frame. Default: now.
   */
  async update(identity: ActorIdentity, input: unknown, clock: { at?: number } = {}): Promise<Reply<RacingUpdate>> {
    return toReply(() => this.doUpdate(identity, input, clock.at));
  }

  async submitResult(identity: ActorIdentity, body: unknown): Promise<Reply<ResultAnswer>> {
    return toReply(() => this.doResult(identity, body));
  }

  /** The race's own ranking from its SQLite (REST's leaderboard reads the same results from D1). */
  async leaderboard(): Promise<Reply<LeaderboardEntry[]>> {
    return toReply(async () => {
      await this.definition();
      const rows = this.players().filter((p) => p.resultMs !== null);
      return rankLeaderboard(
        rows.map((p) => ({ player_id: playerNumber(p.playerId), username: p.username, finish_ms: p.resultMs as number })),
      );
    });
  }

  async state(identity?: ActorIdentity): Promise<Reply<RaceView>> {
    return toReply(async () => {
      const def = await this.definition();
      if (identity) this.assertTenantOf(identity, def);
      return this.view(def);
    });
  }

  // ---- core hooks -----------------------------------------------------------------------------------------

  /** Sockets and SSE streams get the race in their first frame: load it before the core answers. */
  override async fetch(request: Request): Promise<Response> {
    await this.definition().catch(() => null);
    return super.fetch(request);
  }

  override async poll(identity: ActorIdentity, dialectName: string, input: Partial<PollParams>) {
    await this.definition().catch(() => null);
    return super.poll(identity, dialectName, input);
  }

  protected override snapshotFor(): unknown {
    return this.def ? this.view(this.def) : {};
  }

  /** Write-behind rows for every logged change, in the append's transaction. */
  protected override applyEvent(event: LoggedEvent): void {
    const def = this.def;
    if (!def) return;
    const data = event.data as Record<string, unknown>;
    if (event.type === 'racing_started' || event.type === 'racing_finished') {
      const run = this.run();
      this.outbox.enqueue(OUTBOX_STATUS, {
        raceId: def.id,
        tenantId: def.tenantId,
        status: run.status,
        startTime: run.startAt === null ? null : new Date(run.startAt).toISOString(),
        updatedAt: event.timestamp,
      } satisfies RaceStatusRow);
      return;
    }
    const ids =
      event.type === 'racing_update'
        ? (data.players as Array<{ player_id: number }>).map((p) => String(p.player_id))
        : event.type === 'racing_joined'
          ? [String(data.player_id)]
          : [];
    for (const id of ids) {
      const p = this.player(id);
      if (!p) continue;
      this.outbox.enqueue(OUTBOX_PARTICIPANT, {
        raceId: def.id,
        tenantId: def.tenantId,
        playerId: playerNumber(p.playerId),
        username: p.username,
        joinedAt: p.joinedAt,
        checkpointReached: p.progress.reached,
        position: p.last,
        finishMs: p.progress.finishedAt,
        seq: event.sequence,
      } satisfies ParticipantRow);
    }
    if (event.type === 'racing_result') {
      const row = this.resultRow(def, String(data.player_id));
      if (row) this.outbox.enqueue(OUTBOX_RESULT, row);
    }
  }

  protected override async onTimer(name: string): Promise<void> {
    if (name !== START_TIMER) return;
    const def = await this.definition();
    // A scheduled race with nobody in it stays pending: its creator may still start it later.
    if (this.run().status === 'pending' && this.players().length > 0) this.begin(def);
  }

  // ---- the rules ------------------------------------------------------------------------------------------

  private async doJoin(identity: ActorIdentity): Promise<JoinAnswer> {
    const def = await this.definition();
    this.assertTenantOf(identity, def);
    if (playerIdOf(identity.userId) === null) {
      throw new ApiError('AUTHORIZATION_FAILED', 'Only players can race', {
        details: { field: 'player', issue: 'not_a_player' },
      });
    }
    const run = this.run();
    const existing = this.player(identity.userId);
    if (!existing) {
      if (run.status !== 'pending') {
        throw new ApiError('INVALID_REQUEST', 'The race has already started', {
          details: { field: 'event_id', issue: 'race_started' },
        });
      }
      const count = this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM race_players').one().n;
      if (count >= MAX_PARTICIPANTS) {
        throw new ApiError('INVALID_REQUEST', `The race is full (${MAX_PARTICIPANTS} participants)`, {
          details: { field: 'event_id', issue: 'race_full' },
        });
      }
      this.sql.exec(
        'INSERT INTO race_players (player_id, username, joined_at) VALUES (?, ?, ?)',
        identity.userId,
        identity.username,
        new Date().toISOString(),
      );
      this.publish([
        {
          scope: SCOPE,
          type: 'racing_joined',
          data: {
            event_id: def.id,
            player_id: playerNumber(identity.userId),
            username: identity.username,
            participants: this.players().map((p) => playerNumber(p.playerId)),
          },
        },
      ]);
    }
    return { success: true, event_id: def.id, start_time: this.startTimeOf(def, run) };
  }

  private async doStart(identity: ActorIdentity, input: unknown): Promise<RacingStarted> {
    const def = await this.definition();
    this.assertTenantOf(identity, def);
    const data = asObject(input, 'data', { optional: true });
    this.assertEventId(data.event_id, def);
    if (identity.role !== 'admin' && identity.userId !== String(def.creatorId)) {
      throw new ApiError('AUTHORIZATION_FAILED', 'Only the creator of the race or an admin may start it', {
        details: { creator_id: def.creatorId },
      });
    }
    if (data.route !== undefined) this.assertSameRoute(def, data.route);
    if (data.checkpoints !== undefined) this.assertSameCheckpoints(def, data.checkpoints);
    if (this.run().status !== 'pending') {
      throw new ApiError('INVALID_REQUEST', 'The race has already started', {
        details: { field: 'event_id', issue: 'race_started' },
      });
    }
    if (this.players().length === 0) {
      throw new ApiError('INVALID_REQUEST', 'Nobody has joined the race yet', {
        details: { field: 'event_id', issue: 'no_participants' },
      });
    }
    return this.begin(def);
  }

  private begin(def: RaceDefinition): RacingStarted {
    const startAt = Date.now();
    this.saveRun({ status: 'active', startAt });
    const started: RacingStarted = {
      event_id: def.id,
      start_time: new Date(startAt).toISOString(),
      participants: this.players().map((p) => playerNumber(p.playerId)),
      route: def.route,
      checkpoints: lapCheckpoints(def),
      finish: routeEnd(def.route),
      laps: def.laps,
      vehicle_type: def.vehicleType,
    };
    this.publishRace(def, [{ scope: SCOPE, type: 'racing_started', data: started }]);
    void this.cancel(START_TIMER);
    return started;
  }

  private async doUpdate(identity: ActorIdentity, input: unknown, atOverride?: number): Promise<RacingUpdate> {
    const def = await this.definition();
    this.assertTenantOf(identity, def);
    const data = asObject(input, 'data', { optional: true });
    this.assertEventId(data.event_id, def);
    const run = this.run();
    if (run.status !== 'active' || run.startAt === null) {
      throw new ApiError('INVALID_REQUEST', run.status === 'pending' ? 'The race has not started' : 'The race is over', {
        details: { field: 'event_id', issue: run.status === 'pending' ? 'race_not_started' : 'race_over' },
      });
    }
    const p = this.player(identity.userId);
    if (!p) {
      throw new ApiError('AUTHORIZATION_FAILED', 'Only participants of the race may send updates', {
        details: { field: 'player', issue: 'not_participant' },
      });
    }
    const position = parsePosition(data.position, 'position');
    if (data.speed !== undefined) unwrapResult(checkReportedSpeed(data.speed, def.vehicleType));
    const at = atOverride ?? Date.now();
    const prevAt = p.lastAt ?? run.startAt;
    if (!Number.isFinite(at) || at < prevAt) {
      throw new ApiError('INVALID_REQUEST', 'Update is older than the last accepted one', {
        details: { field: 'at', issue: 'stale_update' },
      });
    }
    const elapsedMs = at - run.startAt;
    if (elapsedMs > MAX_RACE_TIME_MS) {
      throw new ApiError('INVALID_REQUEST', 'The race has run longer than a race may', {
        details: { field: 'at', issue: 'race_timeout' },
      });
    }
    // Everyone starts on the start line: the first update is checked against it at the start time.
    unwrapResult(checkSpeed({ position: p.last ?? routeStart(def.route), at: prevAt }, { position, at }, def.vehicleType));
    const cps = lapCheckpoints(def);
    let progress = unwrapResult(
      advanceCheckpoint(
        p.progress,
        { checkpointReached: data.checkpoint_reached ?? p.progress.reached, position, elapsedMs },
        cps,
      ),
    );
    progress = tryFinish(progress, { position, elapsedMs }, routeEnd(def.route), cps.length);
    this.sql.exec(
      `UPDATE race_players SET reached = ?, checkpoint_times = ?, finished_at = ?, last_x = ?, last_y = ?, last_at = ?
       WHERE player_id = ?`,
      progress.reached,
      JSON.stringify(progress.checkpointTimes),
      progress.finishedAt,
      position.x,
      position.y,
      at,
      p.playerId,
    );
    const update: RacingUpdate = {
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
    const events: EventInput[] = [{ scope: SCOPE, type: 'racing_update', data: update }];
    if (progress.finishedAt !== null && p.progress.finishedAt === null && this.everyoneFinished()) {
      this.saveRun({ ...run, status: 'finished' });
      events.push({ scope: SCOPE, type: 'racing_finished', data: { event_id: def.id, finished_at: new Date(at).toISOString() } });
    }
    this.publishRace(def, events);
    return update;
  }

  private async doResult(identity: ActorIdentity, body: unknown): Promise<ResultAnswer> {
    const def = await this.definition();
    this.assertTenantOf(identity, def);
    const p = this.player(identity.userId);
    if (!p) {
      throw new ApiError('AUTHORIZATION_FAILED', 'Only participants of the race may submit a result', {
        details: { field: 'player', issue: 'not_participant' },
      });
    }
    if (p.resultMs !== null) {
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
    const submittedAt = new Date().toISOString();
    this.sql.exec(
      'UPDATE race_players SET result_ms = ?, claimed_ms = ?, submitted_at = ? WHERE player_id = ?',
      finishMs,
      verified.finishMs,
      submittedAt,
      p.playerId,
    );
    this.sql.exec(
      'INSERT INTO race_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      `claim:${p.playerId}`,
      JSON.stringify({ checkpointTimes: verified.checkpointMs.map(formatRaceTime), vehicleData }),
    );
    const position =
      1 +
      this.players().filter((o) => o.playerId !== p.playerId && o.resultMs !== null && (o.resultMs as number) < finishMs).length;
    this.publishRace(def, [
      {
        scope: SCOPE,
        type: 'racing_result',
        data: {
          event_id: def.id,
          player_id: playerNumber(p.playerId),
          username: p.username,
          finish_time: formatRaceTime(finishMs),
          position,
        },
      },
    ]);
    // REST reads results from D1 right after this answer: write now; the outbox row covers a failure here.
    const row = this.resultRow(def, p.playerId);
    if (row) {
      try {
        await resultStatement(this.env.DB, row).run();
      } catch (err) {
        console.error('race result: direct D1 write failed; the write-behind will retry', err);
      }
    }
    return { success: true, position, finish_time: formatRaceTime(finishMs), finish_ms: finishMs, track_key: def.trackKey };
  }

  // ---- fan-out --------------------------------------------------------------------------------------------

  /**
   * Logs the events (the race's sockets, SSE streams and polls get them at once), then relays PLAYER_EVENTS to
   * every participant's game socket. The relay runs after the publish and outside the caller's answer: a failing
   * relay is logged and never undoes or delays what was published.
   */
  private publishRace(def: RaceDefinition, inputs: EventInput[]): void {
    const frames = this.publish(inputs)
      .filter((e) => PLAYER_EVENTS.has(e.type))
      .map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));
    if (frames.length === 0) return;
    const participants = this.players().map((p) => playerNumber(p.playerId));
    const next = this.relayChain
      .then(() => relayToPlayers(this.env, def.tenantId, participants, frames))
      .catch((err: unknown) => console.error(`race ${def.id}: relay to game sockets failed`, err));
    this.relayChain = next;
    this.ctx.waitUntil(next);
  }

  // ---- state ----------------------------------------------------------------------------------------------

  /** The definition: from this actor's SQLite, or (first call after REST created it) from D1. */
  private async definition(): Promise<RaceDefinition> {
    if (this.def) return this.def;
    const stored = this.sql.exec<{ value: string }>("SELECT value FROM race_meta WHERE key = 'def'").toArray()[0];
    if (stored) {
      this.def = JSON.parse(stored.value) as RaceDefinition;
      return this.def;
    }
    const { tenantId, raceId } = this.keyParts();
    const row = raceId === null ? null : await findRace(this.env.DB, tenantId, raceId);
    if (!row) throw new ApiError('NOT_FOUND', `No race ${raceId ?? ''}`.trim(), { details: { field: 'event_id' } });
    const def = definitionFromRow(row);
    await this.store(def);
    return def;
  }

  private async store(def: RaceDefinition): Promise<void> {
    const fresh = this.sql.exec<{ value: string }>("SELECT value FROM race_meta WHERE key = 'def'").toArray().length === 0;
    if (fresh) {
      this.sql.exec("INSERT INTO race_meta (key, value) VALUES ('def', ?)", JSON.stringify(def));
      if (def.scheduledStart !== null) await this.schedule(START_TIMER, Date.parse(def.scheduledStart));
    }
    const stored = this.sql.exec<{ value: string }>("SELECT value FROM race_meta WHERE key = 'def'").one();
    this.def = JSON.parse(stored.value) as RaceDefinition;
  }

  private run(): RunState {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM race_meta WHERE key = 'run'").toArray()[0];
    return row ? (JSON.parse(row.value) as RunState) : { status: 'pending', startAt: null };
  }

  private saveRun(run: RunState): void {
    this.sql.exec(
      "INSERT INTO race_meta (key, value) VALUES ('run', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(run),
    );
  }

  private players(): PlayerRecord[] {
    return this.sql.exec<PlayerSql>('SELECT * FROM race_players ORDER BY joined_at, player_id').toArray().map(playerOf);
  }

  private player(id: string): PlayerRecord | null {
    const row = this.sql.exec<PlayerSql>('SELECT * FROM race_players WHERE player_id = ?', id).toArray()[0];
    return row ? playerOf(row) : null;
  }

  private everyoneFinished(): boolean {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM race_players WHERE finished_at IS NULL').one().n === 0;
  }

  private resultRow(def: RaceDefinition, playerId: string): ResultWrite | null {
    const row = this.sql
      .exec<{ username: string; result_ms: number | null; claimed_ms: number | null; submitted_at: string | null }>(
        'SELECT username, result_ms, claimed_ms, submitted_at FROM race_players WHERE player_id = ?',
        playerId,
      )
      .toArray()[0];
    if (!row || row.result_ms === null || row.claimed_ms === null || row.submitted_at === null) return null;
    const claim = this.sql.exec<{ value: string }>('SELECT value FROM race_meta WHERE key = ?', `claim:${playerId}`).toArray()[0];
    const extra = claim ? (JSON.parse(claim.value) as { checkpointTimes: string[]; vehicleData: unknown }) : null;
    return {
      raceId: def.id,
      tenantId: def.tenantId,
      playerId: playerNumber(playerId),
      username: row.username,
      finishMs: row.result_ms,
      claimedMs: row.claimed_ms,
      checkpointTimes: extra?.checkpointTimes ?? [],
      vehicleData: extra?.vehicleData ?? {},
      trackKey: def.trackKey,
      submittedAt: row.submitted_at,
    };
  }

  private startTimeOf(def: RaceDefinition, run: RunState): string | null {
    return run.startAt !== null ? new Date(run.startAt).toISOString() : def.scheduledStart;
  }

  private view(def: RaceDefinition): RaceView {
    const run = this.run();
    return {
      id: def.id,
      name: def.name,
      status: run.status,
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
      start_time: run.startAt === null ? null : new Date(run.startAt).toISOString(),
      scheduled_start_time: def.scheduledStart,
      created_at: def.createdAt,
      participants: this.players().map((p) => ({
        player_id: playerNumber(p.playerId),
        username: p.username,
        checkpoint_reached: p.progress.reached,
        position: p.last,
        time: p.lastAt === null || run.startAt === null ? null : formatRaceTime(p.lastAt - run.startAt),
        finished: p.progress.finishedAt !== null,
        finish_time: p.progress.finishedAt === null ? null : formatRaceTime(p.progress.finishedAt),
        result_submitted: p.resultMs !== null,
      })),
    };
  }

  // ---- checks ---------------------------------------------------------------------------------------------

  private keyParts(): { tenantId: string; raceId: number | null } {
    const name = this.ctx.id.name ?? '';
    const i = name.lastIndexOf(':');
    const id = name.slice(i + 1);
    return { tenantId: name.slice(0, i), raceId: parseId(id) };
  }

  private assertKey(tenantId: string, raceId: number): void {
    const key = this.keyParts();
    if (key.tenantId !== tenantId || key.raceId !== raceId)
      throw new Error(`Race ${tenantId}:${raceId} sent to actor ${this.ctx.id.name}`);
  }

  /** Another tenant's race does not exist for the caller. */
  private assertTenantOf(identity: ActorIdentity, def: RaceDefinition): void {
    if (identity.tenantId !== def.tenantId)
      throw new ApiError('NOT_FOUND', `No race ${def.id}`, { details: { field: 'event_id' } });
  }

  private assertEventId(value: unknown, def: RaceDefinition): void {
    if (value === undefined) return;
    if (value !== def.id && value !== String(def.id)) {
      throw new ApiError('INVALID_REQUEST', `event_id ${JSON.stringify(value)} is not this race (${def.id})`, {
        details: { field: 'event_id', issue: 'wrong_event' },
      });
    }
  }

  private assertSameRoute(def: RaceDefinition, value: unknown): void {
    const route = parseLineString(value, 'route');
    const mine = def.route.coordinates;
    const same =
      route.coordinates.length === mine.length &&
      route.coordinates.every(([x, y], i) => ringDistance({ x, y }, { x: mine[i]![0], y: mine[i]![1] }) <= 1);
    if (!same) {
      throw new ApiError('INVALID_REQUEST', "route is not this race's route (it is fixed when the race is created)", {
        details: {
          field: 'route',
          issue: 'route_mismatch',
        },
      });
    }
  }

  private assertSameCheckpoints(def: RaceDefinition, value: unknown): void {
    if (!Array.isArray(value)) {
      throw new ApiError('INVALID_REQUEST', 'checkpoints must be an array of {x, y}', {
        details: {
          field: 'checkpoints',
          issue: 'bad_type',
        },
      });
    }
    const points = value.map((v, i) => parsePosition(v, `checkpoints[${i}]`));
    const near = (p: Point, i: number) =>
      [def.checkpoints[i], def.raceCheckpoints[i]].some((q) => q !== undefined && ringDistance(p, q) <= WAYPOINT_RADIUS);
    if (points.length !== def.checkpoints.length || !points.every(near)) {
      throw new ApiError('INVALID_REQUEST', "checkpoints are not this race's checkpoints", {
        details: {
          field: 'checkpoints',
          issue: 'checkpoint_mismatch',
        },
      });
    }
  }
}

function playerOf(r: PlayerSql): PlayerRecord {
  return {
    playerId: r.player_id,
    username: r.username,
    joinedAt: r.joined_at,
    progress: { reached: r.reached, checkpointTimes: JSON.parse(r.checkpoint_times) as number[], finishedAt: r.finished_at },
    last: r.last_x === null || r.last_y === null ? null : { x: r.last_x, y: r.last_y },
    lastAt: r.last_at,
    resultMs: r.result_ms,
  };
}
