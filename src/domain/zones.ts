import { ApiError } from '../errors';
import { type Bbox, bboxOf, findCrossing, pointInRing, ringSignedArea, shiftToCanonical, unwrapPath, type Vec } from './geometry';
import { type Floor, MAX_ABS_Y, normalizeX, type Point, parseFloor, RING_CIRCUMFERENCE } from './ring';

/**
 * Zones: GeoJSON Polygon validation on the wrapping ring, area, point-in-zone, and the bounding-box query
 * behind `GET /api/zones/area`.
 *
 * Wrap representation: every x in a zone's GeoJSON is a ring position in [0, 264,000,000] (x = C is stored
 * as 0), and every edge runs the SHORT way round. A zone from x = 263,999,900 to x = 100 is therefore a
 * 200 m wide zone across the wrap point, with no special marker. Internally rings are unwrapped (x made
 * continuous) and shifted so that the zone's smallest x lies in [0, C); its bbox xMax may then exceed C.
 * A ring whose edges add up to a full turn round the ring (a band around the whole ring) is rejected.
 */
export const ZONE_TYPES = [
  'residential',
  'commercial',
  'industrial',
  'mixed_use',
  'agricultural',
  'park',
  'restricted',
  'transit',
] as const;
export type ZoneType = (typeof ZONE_TYPES)[number];

/** Vertex cap over all rings: bounds the self-intersection sweep's worst case (comb shapes are O(n²)). */
export const MAX_ZONE_POSITIONS = 5_000;
export const MAX_ZONE_RINGS = 64;
/** Largest extent of a zone along x (1,000 km, 1,000 chunks): keeps the area query an index range scan. */
export const MAX_ZONE_SPAN_X = 1_000_000;
export const MAX_ZONE_NAME_LENGTH = 100;
export const MAX_PROPERTIES_BYTES = 16_384;

export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: [number, number][][];
}

/** A validated zone shape: canonical GeoJSON to store, unwrapped rings for maths, bbox and area (m²). */
export interface ZoneShape {
  geometry: PolygonGeometry;
  /** Open rings (closing vertex dropped), unwrapped; outer ring first. */
  rings: Vec[][];
  /** xMin ∈ [0, C); xMax = xMin + extent (> C when the zone crosses the wrap point). */
  bbox: Bbox;
  area: number;
}

const zoneError = (issue: string, message: string, extra: Record<string, unknown> = {}) =>
  new ApiError('INVALID_ZONE', message, { details: { field: 'geometry', issue, ...extra } });

/**
 * Validates a GeoJSON Polygon. Issues (details.issue): bad_type, bad_position, non_finite, out_of_range,
 * too_few_positions, not_closed, too_many_positions, degenerate, encircles_ring, too_large,
 * self_intersection (edges of any rings meet or touch), hole_outside, holes_overlap.
 */
export function parseZoneGeometry(value: unknown): ZoneShape {
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'Polygon') {
    throw zoneError('bad_type', 'Zone geometry must be a GeoJSON Polygon');
  }
  const coords = (value as { coordinates?: unknown }).coordinates;
  if (!Array.isArray(coords) || coords.length === 0) {
    throw zoneError('bad_type', 'Polygon coordinates must be a non-empty array of linear rings');
  }
  if (coords.length > MAX_ZONE_RINGS) throw zoneError('too_many_positions', `A zone may have at most ${MAX_ZONE_RINGS} rings`);
  let total = 0;
  const closed: [number, number][][] = coords.map((ring: unknown, r) => {
    if (!Array.isArray(ring)) throw zoneError('bad_type', `Ring ${r} must be an array of positions`, { ring: r });
    total += ring.length;
    if (total > MAX_ZONE_POSITIONS) {
      throw zoneError('too_many_positions', `A zone may have at most ${MAX_ZONE_POSITIONS} positions`);
    }
    return ring.map((pos: unknown, i): [number, number] => {
      if (!Array.isArray(pos) || pos.length !== 2 || typeof pos[0] !== 'number' || typeof pos[1] !== 'number') {
        throw zoneError('bad_position', `Position ${i} of ring ${r} must be [x, y]`, { ring: r, position: i });
      }
      const [x, y] = pos as [number, number];
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        throw zoneError('non_finite', `Position ${i} of ring ${r} is not finite`, { ring: r, position: i });
      }
      if (x < 0 || x > RING_CIRCUMFERENCE || Math.abs(y) > MAX_ABS_Y) {
        throw zoneError('out_of_range', `Position ${i} of ring ${r} is outside the ring (x 0..${RING_CIRCUMFERENCE})`, {
          ring: r,
          position: i,
        });
      }
      return [normalizeX(x), y === 0 ? 0 : y];
    });
  });
  closed.forEach((ring, r) => {
    if (ring.length < 4) {
      throw zoneError('too_few_positions', `Ring ${r} needs at least four positions`, { ring: r });
    }
    const first = ring[0]!;
    const last = ring[ring.length - 1]!;
    if (first[0] !== last[0] || first[1] !== last[1]) {
      throw zoneError('not_closed', `Ring ${r} is not closed: its first and last positions differ`, { ring: r });
    }
  });

  const originX = closed[0]![0]![0];
  const unwrapped = closed.map((ring, r) => {
    const path = unwrapPath(ring, originX);
    if (path[0]![0] !== path[path.length - 1]![0]) {
      throw zoneError('encircles_ring', `Ring ${r} runs all the way round the ring`, { ring: r });
    }
    const open = path.slice(0, -1);
    for (let i = 0; i < open.length; i++) {
      const a = open[i]!;
      const b = open[(i + 1) % open.length]!;
      if (a[0] === b[0] && a[1] === b[1]) {
        throw zoneError('degenerate', `Ring ${r} repeats position ${i + 1}`, { ring: r, position: i + 1 });
      }
    }
    return open;
  });
  const rings = shiftToCanonical(unwrapped);
  const outer = rings[0]!;
  const bbox = bboxOf(outer);
  if (bbox.xMax - bbox.xMin > MAX_ZONE_SPAN_X) {
    throw zoneError('too_large', `A zone may span at most ${MAX_ZONE_SPAN_X} m along the ring`);
  }
  const crossing = findCrossing(rings);
  if (crossing) {
    throw zoneError('self_intersection', 'Zone geometry contains self-intersections', { ...crossing });
  }
  const areas = rings.map((ring) => Math.abs(ringSignedArea(ring)));
  areas.forEach((a, r) => {
    if (!(a > 0)) throw zoneError('degenerate', `Ring ${r} encloses no area`, { ring: r });
  });
  // No edges meet, so each hole is wholly inside or wholly outside the outer ring (and each other hole):
  // one vertex decides.
  for (let h = 1; h < rings.length; h++) {
    if (pointInRing(rings[h]![0]!, outer) !== 'inside') {
      throw zoneError('hole_outside', `Hole ${h} is not inside the outer ring`, { ring: h });
    }
    for (let k = 1; k < rings.length; k++) {
      if (k !== h && pointInRing(rings[h]![0]!, rings[k]!) === 'inside') {
        throw zoneError('holes_overlap', `Hole ${h} lies inside hole ${k}`, { ring: h });
      }
    }
  }
  const area = areas[0]! - areas.slice(1).reduce((s, a) => s + a, 0);
  return { geometry: { type: 'Polygon', coordinates: closed }, rings, bbox, area };
}

/** Point-in-zone across the wrap: boundary counts as inside (a structure on the zone's edge is in it). */
export function pointInZone(shape: ZoneShape, p: Point): boolean {
  // The representative of p.x in [xMin, xMin + C): unique because a zone spans far less than C.
  const x = shape.bbox.xMin + normalizeX(p.x - shape.bbox.xMin);
  if (x > shape.bbox.xMax || p.y < shape.bbox.yMin || p.y > shape.bbox.yMax) return false;
  const q: Vec = [x, p.y];
  if (pointInRing(q, shape.rings[0]!) === 'outside') return false;
  return shape.rings.slice(1).every((hole) => pointInRing(q, hole) !== 'inside');
}

// ---- zone bodies ------------------------------------------------------------------------------------------

export interface ZoneDraft {
  name: string;
  zone_type: ZoneType;
  floor: Floor;
  shape: ZoneShape;
  properties: Record<string, unknown>;
}

export type ZonePatch = Partial<Omit<ZoneDraft, 'floor'>>;

const fieldError = (field: string, issue: string, message: string) =>
  new ApiError('INVALID_ZONE', message, { details: { field, issue } });

export function parseZoneName(value: unknown): string {
  if (typeof value !== 'string') throw fieldError('name', 'bad_type', 'name must be a string');
  const name = value.trim();
  if (name.length === 0 || name.length > MAX_ZONE_NAME_LENGTH) {
    throw fieldError('name', 'bad_length', `name must be 1..${MAX_ZONE_NAME_LENGTH} characters`);
  }
  return name;
}

export function parseZoneType(value: unknown): ZoneType {
  if (typeof value !== 'string' || !(ZONE_TYPES as readonly string[]).includes(value)) {
    throw fieldError('zone_type', 'unknown_type', `zone_type must be one of ${ZONE_TYPES.join(', ')}`);
  }
  return value as ZoneType;
}

/** A plain JSON object of at most MAX_PROPERTIES_BYTES; shared with structures. */
export function parseProperties(
  value: unknown,
  code: 'INVALID_ZONE' | 'INVALID_STRUCTURE' = 'INVALID_ZONE',
): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(code, 'properties must be an object', { details: { field: 'properties', issue: 'bad_type' } });
  }
  if (new TextEncoder().encode(JSON.stringify(value)).length > MAX_PROPERTIES_BYTES) {
    throw new ApiError(code, `properties must be at most ${MAX_PROPERTIES_BYTES} bytes of JSON`, {
      details: {
        field: 'properties',
        issue: 'too_large',
      },
    });
  }
  return value as Record<string, unknown>;
}

/** `POST /api/zones` and the `zone_create` frame (the actor supplies `floor` when the frame has none). */
export function parseZoneDraft(body: unknown): ZoneDraft {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw fieldError('body', 'bad_type', 'Zone body must be an object');
  }
  const b = body as Record<string, unknown>;
  return {
    name: parseZoneName(b.name),
    zone_type: parseZoneType(b.zone_type),
    floor: parseFloor(b.floor, 'floor', 'INVALID_ZONE'),
    shape: parseZoneGeometry(b.geometry),
    properties: parseProperties(b.properties),
  };
}

/** `PUT /api/zones/{id}`: any of name, zone_type, geometry, properties; at least one. Floor is fixed. */
export function parseZonePatch(body: unknown): ZonePatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw fieldError('body', 'bad_type', 'Zone update must be an object');
  }
  const b = body as Record<string, unknown>;
  const patch: ZonePatch = {};
  if (b.name !== undefined) patch.name = parseZoneName(b.name);
  if (b.zone_type !== undefined) patch.zone_type = parseZoneType(b.zone_type);
  if (b.geometry !== undefined) patch.shape = parseZoneGeometry(b.geometry);
  if (b.properties !== undefined) patch.properties = parseProperties(b.properties);
  if (b.floor !== undefined) throw fieldError('floor', 'immutable', 'A zone cannot move to another floor');
  if (Object.keys(patch).length === 0) {
    throw fieldError('body', 'empty', 'Give at least one of name, zone_type, geometry, properties');
  }
  return patch;
}

// ---- GET /api/zones/area ----------------------------------------------------------------------------------

/**
 * One x interval of an area query, phrased for an index on (floor, x_min) over rows that store a zone's
 * bbox as x_min ∈ [0, C), x_max = x_min + extent (may exceed C): a zone matches iff
 * `x_min BETWEEN xMinFrom AND xMinTo AND x_max >= lo` (plus the y and floor conditions).
 */
export interface XInterval {
  lo: number;
  hi: number;
  xMinFrom: number;
  xMinTo: number;
}

export interface AreaQuery {
  floor: Floor;
  yMin: number;
  yMax: number;
  /** 1 or 2 intervals; OR them in one statement (a zone may match both, so dedupe if you run them apart). */
  intervals: XInterval[];
}

const queryError = (field: string, issue: string, message: string) =>
  new ApiError('INVALID_REQUEST', message, { details: { field, issue } });

/** Accepts numbers or the numeric strings of a query string. */
function queryNumber(value: unknown, field: string): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(n)) throw queryError(field, 'bad_type', `${field} must be a finite number`);
  return n;
}

const interval = (lo: number, hi: number): XInterval => ({
  lo,
  hi,
  xMinFrom: Math.max(0, lo - MAX_ZONE_SPAN_X),
  xMinTo: Math.min(hi, RING_CIRCUMFERENCE),
});

/**
 * Turns `?x_min&x_max&y_min&y_max&floor` into index ranges. x_min > x_max means the box crosses x = 0
 * (covers [x_min, C) ∪ [0, x_max]). A zone's [x_min, x_max] is tested against the query on the unwrapped
 * line, so the query is also tried one ring length up, where zones that cross the wrap point reach it.
 */
export function parseZoneAreaQuery(query: Record<string, unknown>): AreaQuery {
  const xMin = queryNumber(query.x_min, 'x_min');
  const xMax = queryNumber(query.x_max, 'x_max');
  const yMin = queryNumber(query.y_min, 'y_min');
  const yMax = queryNumber(query.y_max, 'y_max');
  const floor = parseFloor(typeof query.floor === 'string' ? queryNumber(query.floor, 'floor') : query.floor);
  for (const [field, x] of [
    ['x_min', xMin],
    ['x_max', xMax],
  ] as const) {
    if (x < 0 || x > RING_CIRCUMFERENCE) throw queryError(field, 'out_of_range', `${field} must be 0..${RING_CIRCUMFERENCE}`);
  }
  if (yMin > yMax) throw queryError('y_min', 'inverted_range', 'y_min must not exceed y_max');
  const intervals: XInterval[] = [];
  if (xMin <= xMax) {
    intervals.push(interval(xMin, xMax));
    // Only zones starting within MAX_ZONE_SPAN_X below C can reach one ring length up.
    if (xMin + RING_CIRCUMFERENCE - MAX_ZONE_SPAN_X < RING_CIRCUMFERENCE) {
      intervals.push(interval(xMin + RING_CIRCUMFERENCE, xMax + RING_CIRCUMFERENCE));
    }
  } else {
    intervals.push(interval(0, xMax));
    intervals.push(interval(xMin, xMax + RING_CIRCUMFERENCE));
  }
  return { floor, yMin, yMax, intervals };
}

/** The same test the SQL does, for rows already in memory (actors) and for tests. */
export function bboxMatchesQuery(bbox: Bbox, floor: Floor, q: AreaQuery): boolean {
  if (floor !== q.floor || bbox.yMin > q.yMax || bbox.yMax < q.yMin) return false;
  return q.intervals.some((i) => bbox.xMin >= i.xMinFrom && bbox.xMin <= i.xMinTo && bbox.xMax >= i.lo);
}
