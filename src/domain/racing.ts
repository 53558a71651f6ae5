import { ApiError, fail, isFieldError, ok, type Result } from '../errors';
import type { EdgeMode } from './procgen';
import { type Point, ringDistance } from './ring';
import type { LineString } from './routes';

/**
 * Race rules that the Race actor and the racing routes apply: vehicle limits, speed plausibility, checkpoint
 * order, finish detection, result verification against server-observed times, the leaderboard, and the
 * seed's "HH:MM:SS.mmm" time strings. Times are integer milliseconds since the race start; clock readings
 * (`at`) are server milliseconds (Date.now()).
 */

// ---- vehicles ---------------------------------------------------------------------------------------------

export interface VehicleProfile {
  /** Top speed in m/s. */
  maxSpeed: number;
  /** Network modes the vehicle may route over. */
  modes: EdgeMode[];
}

/** Top speeds are generous real-world tops (km/h ÷ 3.6): a faster update is a teleport, not driving. */
export const VEHICLE_PROFILES = {
  sports_car: { maxSpeed: 350 / 3.6, modes: ['road'] },
  car: { maxSpeed: 250 / 3.6, modes: ['road'] },
  motorcycle: { maxSpeed: 300 / 3.6, modes: ['road'] },
  bicycle: { maxSpeed: 80 / 3.6, modes: ['road'] },
  on_foot: { maxSpeed: 45 / 3.6, modes: ['road'] },
  maglev: { maxSpeed: 600 / 3.6, modes: ['transit'] },
} as const satisfies Record<string, VehicleProfile>;
export type VehicleType = keyof typeof VEHICLE_PROFILES;
export const DEFAULT_VEHICLE: VehicleType = 'sports_car';

/** Speed checks allow 10 % over the top speed and 10 m of position noise per update (GPS-like jitter). */
export const SPEED_SLACK = 1.1;
export const POSITION_JITTER = 10;
/** A checkpoint or the finish counts as reached within this many metres of it. */
export const CHECKPOINT_RADIUS = 30;
/** Submitted times may differ from the times the server saw by this much (client clocks, latency). */
export const RESULT_TOLERANCE_MS = 1_500;

export function parseVehicleType(value: unknown, field = 'properties.vehicle_type'): VehicleType {
  if (value === undefined || value === null) return DEFAULT_VEHICLE;
  if (typeof value !== 'string' || !Object.hasOwn(VEHICLE_PROFILES, value)) {
    throw new ApiError('INVALID_REQUEST', `vehicle_type must be one of ${Object.keys(VEHICLE_PROFILES).join(', ')}`, {
      details: {
        field,
        issue: 'unknown_vehicle',
      },
    });
  }
  return value as VehicleType;
}

// ---- time strings -----------------------------------------------------------------------------------------

export const MAX_RACE_TIME_MS = ((99 * 60 + 59) * 60 + 59) * 1000 + 999;
const TIME = /^(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})$/;

/** "HH:MM:SS.mmm" (two-digit hours up to 99, minutes and seconds below 60, exactly three ms digits) → ms. */
export function parseRaceTime(value: unknown, field = 'finish_time'): number {
  const m = typeof value === 'string' ? TIME.exec(value) : null;
  if (!m) {
    throw new ApiError('INVALID_REQUEST', `${field} must look like "HH:MM:SS.mmm"`, { details: { field, issue: 'bad_format' } });
  }
  const [, h, min, s, ms] = m.map(Number) as [number, number, number, number, number];
  return ((h * 60 + min) * 60 + s) * 1000 + ms;
}

/** ms → "HH:MM:SS.mmm"; fractions of a millisecond are truncated. */
export function formatRaceTime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_RACE_TIME_MS) {
    throw new ApiError('INVALID_REQUEST', `A race time must be 0..${MAX_RACE_TIME_MS} ms`, {
      details: {
        field: 'time',
        issue: 'out_of_range',
      },
    });
  }
  const t = Math.floor(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
}

// ---- the course -------------------------------------------------------------------------------------------

export const routeStart = (route: LineString): Point => {
  const [x, y] = route.coordinates[0]!;
  return { x, y };
};

export const routeEnd = (route: LineString): Point => {
  const [x, y] = route.coordinates[route.coordinates.length - 1]!;
  return { x, y };
};

/** The checkpoints racers reach in order, laps unrolled: each lap's checkpoints, then the finish line between laps. */
export function lapCheckpoints(course: { raceCheckpoints: readonly Point[]; laps: number; route: LineString }): Point[] {
  const out: Point[] = [];
  const finish = routeEnd(course.route);
  for (let lap = 1; lap <= course.laps; lap++) {
    out.push(...course.raceCheckpoints);
    if (lap < course.laps) out.push(finish);
  }
  return out;
}

// ---- live checks ------------------------------------------------------------------------------------------

export interface PositionSample {
  position: Point;
  /** Server clock, ms. */
  at: number;
}

/**
 * Whether moving between two updates was possible for the vehicle: distance (across the wrap, less the
 * jitter allowance) over elapsed time must not exceed top speed × SPEED_SLACK. Returns the observed m/s.
 */
export function checkSpeed(prev: PositionSample, next: PositionSample, vehicle: VehicleType): Result<{ speed: number }> {
  const max = VEHICLE_PROFILES[vehicle].maxSpeed * SPEED_SLACK;
  const dist = Math.max(0, ringDistance(prev.position, next.position) - POSITION_JITTER);
  const seconds = (next.at - prev.at) / 1000;
  if (dist === 0) return ok({ speed: 0 });
  const speed = seconds > 0 ? dist / seconds : Number.POSITIVE_INFINITY;
  if (speed > max) {
    return fail('INVALID_REQUEST', `Moved ${Math.round(dist)} m in ${seconds} s: faster than a ${vehicle} can go`, {
      field: 'position',
      issue: 'implausible_speed',
      speed: Number.isFinite(speed) ? Math.round(speed * 10) / 10 : null,
      max_speed: Math.round(max * 10) / 10,
    });
  }
  return ok({ speed });
}

/** The `speed` a client reports in racing_update is km/h (the seed's example says 120). */
export function checkReportedSpeed(speedKmh: unknown, vehicle: VehicleType): Result<number> {
  const maxKmh = VEHICLE_PROFILES[vehicle].maxSpeed * 3.6 * SPEED_SLACK;
  if (typeof speedKmh !== 'number' || !Number.isFinite(speedKmh) || speedKmh < 0) {
    return fail('INVALID_REQUEST', 'speed must be a non-negative number (km/h)', { field: 'speed', issue: 'bad_type' });
  }
  if (speedKmh > maxKmh) {
    return fail('INVALID_REQUEST', `speed ${speedKmh} km/h exceeds what a ${vehicle} can do`, {
      field: 'speed',
      issue: 'implausible_speed',
      max_speed: Math.round(maxKmh),
    });
  }
  return ok(speedKmh);
}

/** A participant's progress as the Race actor observed it. */
export interface RaceProgress {
  /** Checkpoints reached so far (the seed's `checkpoint_reached`, 1-based; 0 = none). */
  reached: number;
  /** ms since start at which each reached checkpoint was accepted. */
  checkpointTimes: number[];
  /** ms since start at which the finish was reached, or null. */
  finishedAt: number | null;
}

export const newProgress = (): RaceProgress => ({ reached: 0, checkpointTimes: [], finishedAt: null });

/**
 * Applies a `racing_update`'s `checkpoint_reached`. Repeating the current number is a no-op (updates carry
 * it every time); the next number is accepted only within CHECKPOINT_RADIUS of that checkpoint; any other
 * number is out of order (a skip or a step back).
 */
export function advanceCheckpoint(
  progress: RaceProgress,
  report: { checkpointReached: unknown; position: Point; elapsedMs: number },
  checkpoints: readonly Point[],
  radius = CHECKPOINT_RADIUS,
): Result<RaceProgress> {
  const n = report.checkpointReached;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > checkpoints.length) {
    return fail('INVALID_REQUEST', `checkpoint_reached must be an integer 0..${checkpoints.length}`, {
      field: 'checkpoint_reached',
      issue: 'bad_checkpoint',
    });
  }
  if (progress.finishedAt !== null || n === progress.reached) return ok(progress);
  if (n !== progress.reached + 1) {
    return fail('INVALID_REQUEST', `Checkpoint ${n} reported, but the next one is ${progress.reached + 1}`, {
      field: 'checkpoint_reached',
      issue: n > progress.reached ? 'checkpoint_skipped' : 'checkpoint_out_of_order',
      expected: progress.reached + 1,
    });
  }
  const d = ringDistance(report.position, checkpoints[n - 1]!);
  if (d > radius) {
    return fail('INVALID_REQUEST', `Checkpoint ${n} is ${Math.round(d)} m away`, {
      field: 'checkpoint_reached',
      issue: 'checkpoint_not_reached',
      distance: Math.round(d),
    });
  }
  return ok({ reached: n, checkpointTimes: [...progress.checkpointTimes, report.elapsedMs], finishedAt: null });
}

/** Marks the finish when every checkpoint is done and the position is within `radius` of the end point. */
export function tryFinish(
  progress: RaceProgress,
  at: { position: Point; elapsedMs: number },
  end: Point,
  checkpointCount: number,
  radius = CHECKPOINT_RADIUS,
): RaceProgress {
  if (progress.finishedAt !== null || progress.reached < checkpointCount) return progress;
  if (ringDistance(at.position, end) > radius) return progress;
  return { ...progress, finishedAt: at.elapsedMs };
}

// ---- result verification ----------------------------------------------------------------------------------

export interface VerifiedResult {
  finishMs: number;
  checkpointMs: number[];
}

/**
 * Checks `POST .../result` `{finish_time, checkpoint_times}` against what the server observed: the race must
 * be finished, the finish no faster than the route at top speed, each submitted time within `toleranceMs` of
 * the observed one, checkpoint times in order and as many as the checkpoints. checkpoint_times may be omitted.
 */
export function verifyResult(
  submission: unknown,
  observed: RaceProgress,
  opts: { routeLength: number; vehicle: VehicleType; toleranceMs?: number },
): Result<VerifiedResult> {
  const tol = opts.toleranceMs ?? RESULT_TOLERANCE_MS;
  const s = (typeof submission === 'object' && submission !== null ? submission : {}) as Record<string, unknown>;
  let finishMs: number;
  let checkpointMs: number[] = [];
  try {
    finishMs = parseRaceTime(s.finish_time, 'finish_time');
    if (s.checkpoint_times !== undefined) {
      if (!Array.isArray(s.checkpoint_times)) {
        return fail('INVALID_REQUEST', 'checkpoint_times must be an array of "HH:MM:SS.mmm"', {
          field: 'checkpoint_times',
          issue: 'bad_type',
        });
      }
      checkpointMs = s.checkpoint_times.map((t, i) => parseRaceTime(t, `checkpoint_times[${i}]`));
    }
  } catch (e) {
    if (isFieldError(e)) return { ok: false, error: e };
    throw e;
  }
  if (observed.finishedAt === null) {
    return fail('INVALID_REQUEST', 'The server has not seen you reach the finish', {
      field: 'finish_time',
      issue: 'not_finished',
    });
  }
  const fastest = Math.floor((opts.routeLength / VEHICLE_PROFILES[opts.vehicle].maxSpeed) * 1000);
  if (finishMs < fastest) {
    return fail('INVALID_REQUEST', `finish_time is faster than the route allows (${formatRaceTime(fastest)})`, {
      field: 'finish_time',
      issue: 'impossible_finish_time',
    });
  }
  if (Math.abs(finishMs - observed.finishedAt) > tol) {
    return fail('INVALID_REQUEST', 'finish_time does not match the time the server observed', {
      field: 'finish_time',
      issue: 'time_mismatch',
      observed: formatRaceTime(observed.finishedAt),
    });
  }
  if (s.checkpoint_times !== undefined) {
    if (checkpointMs.length !== observed.checkpointTimes.length) {
      return fail('INVALID_REQUEST', `Expected ${observed.checkpointTimes.length} checkpoint times`, {
        field: 'checkpoint_times',
        issue: 'count_mismatch',
      });
    }
    // Order first: an unordered list is malformed whatever the server saw.
    for (let i = 0; i < checkpointMs.length; i++) {
      const t = checkpointMs[i]!;
      if ((i > 0 && t < checkpointMs[i - 1]!) || t > finishMs) {
        return fail('INVALID_REQUEST', 'Checkpoint times must increase and not pass the finish time', {
          field: `checkpoint_times[${i}]`,
          issue: 'not_monotonic',
        });
      }
    }
    for (let i = 0; i < checkpointMs.length; i++) {
      if (Math.abs(checkpointMs[i]! - observed.checkpointTimes[i]!) > tol) {
        return fail('INVALID_REQUEST', `Checkpoint ${i + 1} time does not match the time the server observed`, {
          field: `checkpoint_times[${i}]`,
          issue: 'time_mismatch',
          observed: formatRaceTime(observed.checkpointTimes[i]!),
        });
      }
    }
  }
  return ok({ finishMs, checkpointMs });
}

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
): Result<VerifiedResult> {
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

// ---- leaderboard ------------------------------------------------------------------------------------------

export interface ResultRow {
  player_id: number;
  username: string;
  finish_ms: number;
  /** Tie-break for the listing order only (earlier submission first); ties share a position regardless. */
  submitted_at?: number;
}

export interface LeaderboardEntry {
  player_id: number;
  username: string;
  finish_time: string;
  position: number;
}

/** Fastest first; equal times share a position and the next one skips (1, 1, 3: standard competition). */
export function rankLeaderboard(rows: readonly ResultRow[]): LeaderboardEntry[] {
  const sorted = [...rows].sort(
    (a, b) => a.finish_ms - b.finish_ms || (a.submitted_at ?? 0) - (b.submitted_at ?? 0) || a.player_id - b.player_id,
  );
  let position = 0;
  return sorted.map((r, i) => {
    if (i === 0 || r.finish_ms !== sorted[i - 1]!.finish_ms) position = i + 1;
    return { player_id: r.player_id, username: r.username, finish_time: formatRaceTime(r.finish_ms), position };
  });
}

/** The position a finish time takes among existing rows (ties share), e.g. for the result response. */
export const positionFor = (rows: readonly ResultRow[], finishMs: number): number =>
  1 + rows.filter((r) => r.finish_ms < finishMs).length;
