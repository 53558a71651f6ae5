import { ApiError } from '../errors';
import { projectOnSegment, unwrapPath, type Vec } from './geometry';
import { CHECKPOINT_RADIUS, parseVehicleType, routeEnd, routeStart, VEHICLE_PROFILES, type VehicleType } from './racing';
import { type Floor, normalizeX, type Point, parseFloor, parsePosition, ringDistance } from './ring';
import { findRoute, type LineString, validateManualRoute } from './routes';

/**
 * Creating a race (seed 000's `POST /api/racing/events`): the body's rules, the route planned over the generated
 * network (auto) or checked against it (manual), the checkpoints placed on that route, and the track key that
 * groups results on the same course. Pure: the route handler stores what this returns.
 */

export const MAX_CHECKPOINTS = 50;
export const MAX_LAPS = 20;
/** A scheduled start may be at most this far ahead. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3_600_000;
const MAX_PROPERTIES_BYTES = 4096;

// ---- request parsing --------------------------------------------------------------------------------------

export interface RaceDraft {
  name: string;
  floor: Floor;
  startPoint: Point;
  endPoint: Point;
  checkpoints: Point[];
  routeGeneration: 'auto' | 'manual';
  route?: unknown;
  vehicleType: VehicleType;
  laps: number;
  properties: Record<string, unknown>;
  scheduledStart: string | null;
}

const bad = (field: string, issue: string, message: string) =>
  new ApiError('INVALID_REQUEST', message, { details: { field, issue } });

/** The create body as the seed shows it, plus `route` (manual) and an optional future `start_time`. */
export function parseRaceDraft(body: unknown, now: number): RaceDraft {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad('(body)', 'bad_type', 'Body must be a JSON object');
  const b = body as Record<string, unknown>;
  const name = typeof b.name === 'string' ? b.name.trim() : '';
  if (name.length < 1 || name.length > 100) throw bad('name', 'bad_length', 'name must be 1..100 characters');
  const floor = parseFloor(b.floor);
  const startPoint = parsePosition(b.start_point, 'start_point');
  const endPoint = parsePosition(b.end_point, 'end_point');
  let checkpoints: Point[] = [];
  if (b.checkpoints !== undefined && b.checkpoints !== null) {
    if (!Array.isArray(b.checkpoints)) throw bad('checkpoints', 'bad_type', 'checkpoints must be an array of {x, y}');
    if (b.checkpoints.length > MAX_CHECKPOINTS) throw bad('checkpoints', 'too_many', `At most ${MAX_CHECKPOINTS} checkpoints`);
    checkpoints = b.checkpoints.map((p, i) => parsePosition(p, `checkpoints[${i}]`));
  }
  const routeGeneration = b.route_generation ?? 'auto';
  if (routeGeneration !== 'auto' && routeGeneration !== 'manual') {
    throw bad('route_generation', 'bad_value', 'route_generation must be "auto" or "manual"');
  }
  if (routeGeneration === 'manual' && b.route === undefined) {
    throw bad('route', 'missing', 'A manual race needs a route (GeoJSON LineString on roads or transit)');
  }
  if (routeGeneration === 'auto' && b.route !== undefined) {
    throw bad('route', 'unexpected', 'route is only given with route_generation "manual"; "auto" plans it');
  }
  const props = b.properties ?? {};
  if (typeof props !== 'object' || props === null || Array.isArray(props))
    throw bad('properties', 'bad_type', 'properties must be an object');
  const properties = props as Record<string, unknown>;
  if (JSON.stringify(properties).length > MAX_PROPERTIES_BYTES) {
    throw bad('properties', 'too_large', `properties may be at most ${MAX_PROPERTIES_BYTES} bytes`);
  }
  const vehicleType = parseVehicleType(properties.vehicle_type);
  const laps = properties.laps ?? 1;
  if (typeof laps !== 'number' || !Number.isInteger(laps) || laps < 1 || laps > MAX_LAPS) {
    throw bad('properties.laps', 'out_of_range', `laps must be an integer 1..${MAX_LAPS}`);
  }
  let scheduledStart: string | null = null;
  if (b.start_time !== undefined && b.start_time !== null) {
    const t = typeof b.start_time === 'string' ? Date.parse(b.start_time) : Number.NaN;
    if (!Number.isFinite(t)) throw bad('start_time', 'bad_format', 'start_time must be an ISO 8601 time');
    if (t <= now || t > now + MAX_SCHEDULE_AHEAD_MS)
      throw bad('start_time', 'out_of_range', 'start_time must be in the next 30 days');
    scheduledStart = new Date(t).toISOString();
  }
  return {
    name,
    floor,
    startPoint,
    endPoint,
    checkpoints,
    routeGeneration,
    ...(routeGeneration === 'manual' ? { route: b.route } : {}),
    vehicleType,
    laps,
    properties: { ...properties, vehicle_type: vehicleType, laps },
    scheduledStart,
  };
}

/**
 * The checkpoints as points on a route, in order: each the nearest point of the route after the previous one.
 * Coordinates are unwrapped from the route's first position, so a route across x = 0 works the same.
 */
export function pointsOnRoute(route: LineString, checkpoints: readonly Point[]): Point[] {
  const path = unwrapPath(route.coordinates, route.coordinates[0]![0]);
  let from = 0;
  return checkpoints.map((c) => {
    const p: Vec = unwrapPath([[c.x, c.y]], path[0]![0])[0]!;
    let best = { seg: from, point: path[from]!, distance: Number.POSITIVE_INFINITY };
    for (let i = from; i + 1 < path.length; i++) {
      const proj = projectOnSegment(p, path[i]!, path[i + 1]!);
      if (proj.distance < best.distance) best = { seg: i, point: proj.point, distance: proj.distance };
    }
    from = best.seg;
    return { x: normalizeX(best.point[0]), y: best.point[1] };
  });
}

/** The same floor, route, vehicle and laps are the same track: results on it share `leaderboard_position`. */
export async function trackKeyOf(floor: Floor, route: LineString, vehicle: VehicleType, laps: number): Promise<string> {
  const text = JSON.stringify([
    floor,
    vehicle,
    laps,
    route.coordinates.map(([x, y]) => [Math.round(x * 100), Math.round(y * 100)]),
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The route and the checkpoints on it, planned (auto) or checked against the network (manual). */
export function planRace(draft: RaceDraft, worldSeed: number): { route: LineString; length: number; raceCheckpoints: Point[] } {
  const query = {
    worldSeed,
    floor: draft.floor,
    start: draft.startPoint,
    end: draft.endPoint,
    checkpoints: draft.checkpoints,
    modes: [...VEHICLE_PROFILES[draft.vehicleType].modes],
  };
  let plan: { route: LineString; length: number; raceCheckpoints: Point[] };
  if (draft.routeGeneration === 'auto') {
    const r = findRoute(query);
    plan = { route: r.route, length: r.length, raceCheckpoints: r.waypoints.slice(1, -1) };
  } else {
    const r = validateManualRoute({ ...query, route: draft.route });
    plan = { route: r.route, length: r.length, raceCheckpoints: pointsOnRoute(r.route, draft.checkpoints) };
  }
  if (draft.laps > 1 && ringDistance(routeStart(plan.route), routeEnd(plan.route)) > CHECKPOINT_RADIUS) {
    throw bad('properties.laps', 'not_a_circuit', 'A race of more than one lap must end where it starts');
  }
  return plan;
}
