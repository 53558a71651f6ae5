import { describe, expect, it } from 'vitest';
import { localNetwork, TRANSIT_Y } from '../../src/domain/procgen';
import { CHUNK_LENGTH, RING_CIRCUMFERENCE, ringDistance, wrappedDelta } from '../../src/domain/ring';
import { findRoute, parseLineString, validateManualRoute } from '../../src/domain/routes';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;
const W = 12345;
const seedRace = {
  worldSeed: W,
  floor: 0,
  start: { x: 12345, y: 100 },
  end: { x: 15678, y: 200 },
  checkpoints: [{ x: 14000, y: 150 }],
};

const lineLength = (coords: [number, number][]) =>
  coords.slice(1).reduce((s, p, i) => s + ringDistance({ x: coords[i]![0], y: coords[i]![1] }, { x: p[0], y: p[1] }), 0);

describe('auto routes', () => {
  it("routes the seed's race through its checkpoint, on the network", () => {
    const r = findRoute(seedRace);
    expect(r.route.type).toBe('LineString');
    const c = r.route.coordinates;
    expect(c[0]).toEqual([r.waypoints[0]!.x, r.waypoints[0]!.y]);
    expect(c[c.length - 1]).toEqual([r.waypoints[2]!.x, r.waypoints[2]!.y]);
    expect(r.legs).toHaveLength(2);
    expect(r.length).toBeCloseTo(lineLength(c), 3);
    expect(r.length).toBeGreaterThan(15678 - 12345);
    // Every point of the plan satisfies the manual-route rules.
    expect(validateManualRoute({ ...seedRace, route: r.route }).length).toBeCloseTo(r.length, 3);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(findRoute(seedRace))).toBe(JSON.stringify(findRoute(seedRace)));
  });

  it('takes the short way across the wrap point, both directions', () => {
    const q = { worldSeed: W, floor: 3, start: { x: C - 1500, y: 0 }, end: { x: 1200, y: 50 } };
    for (const query of [q, { ...q, start: q.end, end: q.start }]) {
      const r = findRoute(query);
      expect(r.length).toBeLessThan(6000);
      for (const [x] of r.route.coordinates) expect(x < 4000 || x > C - 4000).toBe(true);
      expect(Math.abs(wrappedDelta(r.route.coordinates[0]![0], query.start.x))).toBeLessThan(260);
      expect(validateManualRoute({ ...query, route: r.route }).length).toBeCloseTo(r.length, 3);
    }
  });

  it('can use the transit line when the vehicle may', () => {
    const q = {
      worldSeed: W,
      floor: 0,
      start: { x: 50_000, y: TRANSIT_Y },
      end: { x: 58_000, y: TRANSIT_Y },
      modes: ['transit' as const],
    };
    const r = findRoute(q);
    expect(r.route.coordinates.every(([, y]) => y === TRANSIT_Y)).toBe(true);
    expect(r.length).toBeCloseTo(8000, 6);
  });

  it('rejects points off the network, routes that are too long, and unreachable legs', () => {
    expect(errorOf(() => findRoute({ ...seedRace, start: { x: 12345, y: 5000 } })).details).toEqual({
      field: 'start_point',
      issue: 'off_network',
    });
    expect(errorOf(() => findRoute({ ...seedRace, checkpoints: [{ x: 14000, y: -9000 }] })).details.field).toBe('checkpoints[0]');
    expect(errorOf(() => findRoute({ ...seedRace, end: { x: 400_000, y: 0 } })).details).toMatchObject({ issue: 'too_long' });
  });
});

describe('manual routes', () => {
  it('rejects a straight line across blocks as off the network, naming the segment', () => {
    const plain = { worldSeed: W, floor: 0, start: seedRace.start, end: seedRace.end };
    const [from, , to] = findRoute({ ...plain, checkpoints: [{ x: 14000, y: 0 }] }).waypoints;
    const straight = {
      type: 'LineString',
      coordinates: [
        [from!.x, from!.y],
        [to!.x, to!.y],
      ],
    };
    const e = errorOf(() => validateManualRoute({ ...plain, route: straight }));
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.details).toMatchObject({ field: 'route', issue: 'off_network', segment: 0 });
  });

  it('rejects a hop between the street grid and the transit line where no connector is', () => {
    let chunk = 100;
    while (localNetwork(W, 0, chunk).stations.length > 0) chunk++;
    const u = localNetwork(W, 0, chunk).streets[0]!;
    const x = chunk * CHUNK_LENGTH + u;
    const q = {
      worldSeed: W,
      floor: 0,
      start: { x, y: 170 },
      end: { x: x + 200, y: TRANSIT_Y },
      modes: ['road' as const, 'transit' as const],
      route: {
        type: 'LineString',
        coordinates: [
          [x, 170],
          [x, TRANSIT_Y],
          [x + 200, TRANSIT_Y],
        ],
      },
    };
    expect(errorOf(() => validateManualRoute(q)).details).toMatchObject({ issue: 'disconnected', segment: 0 });
    // Where a station connects them, the same move is fine.
    let s = 100;
    while (localNetwork(W, 0, s).stations.length === 0) s++;
    const xs = s * CHUNK_LENGTH + localNetwork(W, 0, s).stations[0]![0];
    const ok = {
      ...q,
      start: { x: xs, y: 170 },
      end: { x: xs + 200, y: TRANSIT_Y },
      route: {
        type: 'LineString',
        coordinates: [
          [xs, 170],
          [xs, TRANSIT_Y],
          [xs + 200, TRANSIT_Y],
        ],
      },
    };
    expect(validateManualRoute(ok).length).toBe(215);
  });

  it('requires the checkpoints in order, the right start and the right end', () => {
    const plain = { worldSeed: W, floor: 0, start: seedRace.start, end: seedRace.end };
    const r = findRoute(plain);
    expect(
      errorOf(() => validateManualRoute({ ...plain, checkpoints: [{ x: 17_500, y: 0 }], route: r.route })).details,
    ).toMatchObject({
      issue: 'checkpoint_missed',
      checkpoint: 0,
    });
    const reversed = { type: 'LineString', coordinates: [...r.route.coordinates].reverse() };
    expect(errorOf(() => validateManualRoute({ ...plain, route: reversed })).details.issue).toBe('wrong_start');
    const short = { type: 'LineString', coordinates: r.route.coordinates.slice(0, -1) };
    expect(errorOf(() => validateManualRoute({ ...plain, route: short })).details.issue).toBe('wrong_end');
  });

  it('parses LineStrings strictly', () => {
    expect(
      parseLineString({
        type: 'LineString',
        coordinates: [
          [C, 0],
          [10, 0],
        ],
      }).coordinates,
    ).toEqual([
      [0, 0],
      [10, 0],
    ]);
    const issue = (v: unknown) => errorOf(() => parseLineString(v)).details.issue;
    expect(issue({ type: 'Polygon', coordinates: [] })).toBe('bad_type');
    expect(issue({ type: 'LineString', coordinates: [[0, 0]] })).toBe('too_few_positions');
    expect(issue({ type: 'LineString', coordinates: [[0, 0], [1]] })).toBe('bad_position');
    expect(
      issue({
        type: 'LineString',
        coordinates: [
          [0, 0],
          [1, Number.NaN],
        ],
      }),
    ).toBe('non_finite');
    expect(
      issue({
        type: 'LineString',
        coordinates: [
          [0, 0],
          [-1, 0],
        ],
      }),
    ).toBe('out_of_range');
  });
});
