import { describe, expect, it } from 'vitest';
import {
  advanceCheckpoint,
  checkReportedSpeed,
  checkSpeed,
  formatRaceTime,
  newProgress,
  parseRaceTime,
  parseVehicleType,
  positionFor,
  type RaceProgress,
  rankLeaderboard,
  tryFinish,
  VEHICLE_PROFILES,
  verifyResult,
} from '../../src/domain/racing';
import { RING_CIRCUMFERENCE } from '../../src/domain/ring';
import { errorOf } from '../support/domain';

const C = RING_CIRCUMFERENCE;

describe('race time strings', () => {
  it('parses and formats HH:MM:SS.mmm', () => {
    expect(parseRaceTime('00:05:30.123')).toBe(330_123);
    expect(parseRaceTime('99:59:59.999')).toBe(359_999_999);
    expect(formatRaceTime(330_123)).toBe('00:05:30.123');
    expect(formatRaceTime(0)).toBe('00:00:00.000');
    expect(formatRaceTime(3_600_000 + 1.9)).toBe('01:00:00.001');
    expect(parseRaceTime(formatRaceTime(7_654_321))).toBe(7_654_321);
  });

  it('rejects anything else', () => {
    for (const bad of [
      '5:30.123',
      '00:05:30',
      '00:05:30.12',
      '00:60:00.000',
      '00:00:60.000',
      '100:00:00.000',
      ' 00:05:30.123',
      330123,
    ]) {
      expect(errorOf(() => parseRaceTime(bad)).details, String(bad)).toEqual({ field: 'finish_time', issue: 'bad_format' });
    }
    expect(errorOf(() => formatRaceTime(-1)).details.issue).toBe('out_of_range');
    expect(errorOf(() => formatRaceTime(360_000_000)).details.issue).toBe('out_of_range');
  });
});

describe('vehicles and speed plausibility', () => {
  it('knows the seed vehicle and defaults to it', () => {
    expect(parseVehicleType('sports_car')).toBe('sports_car');
    expect(parseVehicleType(undefined)).toBe('sports_car');
    expect(errorOf(() => parseVehicleType('rocket')).details.issue).toBe('unknown_vehicle');
    expect(errorOf(() => parseVehicleType('toString')).details.issue).toBe('unknown_vehicle');
  });

  it('accepts plausible moves, across the wrap too', () => {
    const r = checkSpeed({ position: { x: 1000, y: 0 }, at: 0 }, { position: { x: 1900, y: 0 }, at: 10_000 }, 'sports_car');
    expect(r.ok && Math.round(r.value.speed)).toBe(89);
    expect(checkSpeed({ position: { x: C - 100, y: 0 }, at: 0 }, { position: { x: 100, y: 0 }, at: 5_000 }, 'car').ok).toBe(true);
    expect(checkSpeed({ position: { x: 5, y: 0 }, at: 0 }, { position: { x: 10, y: 0 }, at: 0 }, 'on_foot').ok).toBe(true);
  });

  it('rejects teleports', () => {
    const r = checkSpeed({ position: { x: 1000, y: 0 }, at: 0 }, { position: { x: 5000, y: 0 }, at: 10_000 }, 'sports_car');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.details).toMatchObject({ field: 'position', issue: 'implausible_speed', speed: 399 });
    expect(checkSpeed({ position: { x: 0, y: 0 }, at: 0 }, { position: { x: 100, y: 0 }, at: 0 }, 'car').ok).toBe(false);
    const bike = checkSpeed({ position: { x: 0, y: 0 }, at: 0 }, { position: { x: 300, y: 0 }, at: 10_000 }, 'bicycle');
    expect(bike.ok).toBe(false);
  });

  it('checks the reported speed in km/h', () => {
    expect(checkReportedSpeed(120, 'sports_car')).toEqual({ ok: true, value: 120 });
    expect(checkReportedSpeed(500, 'sports_car').ok).toBe(false);
    expect(checkReportedSpeed(-1, 'car').ok).toBe(false);
    expect(checkReportedSpeed('fast', 'car').ok).toBe(false);
    expect(VEHICLE_PROFILES.maglev.modes).toEqual(['transit']);
  });
});

describe('checkpoints', () => {
  const cps = [
    { x: 14_000, y: 150 },
    { x: 15_000, y: 0 },
  ];
  const at = (x: number, y: number, n: number, t: number) => ({ checkpointReached: n, position: { x, y }, elapsedMs: t });

  it('accepts checkpoints in order, within the radius, and ignores repeats', () => {
    let p = newProgress();
    const r0 = advanceCheckpoint(p, at(13_000, 0, 0, 1000), cps);
    expect(r0.ok && r0.value).toEqual(p);
    const r1 = advanceCheckpoint(p, at(14_010, 140, 1, 60_000), cps);
    expect(r1.ok).toBe(true);
    if (r1.ok) p = r1.value;
    expect(p).toEqual({ reached: 1, checkpointTimes: [60_000], finishedAt: null });
    const again = advanceCheckpoint(p, at(14_500, 100, 1, 70_000), cps);
    expect(again.ok && again.value).toEqual(p);
    const r2 = advanceCheckpoint(p, at(15_000, 20, 2, 90_000), cps);
    expect(r2.ok && r2.value.checkpointTimes).toEqual([60_000, 90_000]);
  });

  it('rejects skipped, backwards, far-away and malformed checkpoints', () => {
    const skip = advanceCheckpoint(newProgress(), at(15_000, 0, 2, 1000), cps);
    expect(!skip.ok && skip.error.details).toMatchObject({ issue: 'checkpoint_skipped', expected: 1 });
    const one: RaceProgress = { reached: 1, checkpointTimes: [1], finishedAt: null };
    const back = advanceCheckpoint({ ...one, reached: 2, checkpointTimes: [1, 2] }, at(14_000, 150, 1, 3), cps);
    expect(!back.ok && back.error.details.issue).toBe('checkpoint_out_of_order');
    const far = advanceCheckpoint(newProgress(), at(14_100, 150, 1, 1000), cps);
    expect(!far.ok && far.error.details).toMatchObject({ issue: 'checkpoint_not_reached', distance: 100 });
    const bad = advanceCheckpoint(newProgress(), at(14_000, 150, 3, 1000), cps);
    expect(!bad.ok && bad.error.details.issue).toBe('bad_checkpoint');
  });

  it('finishes only after every checkpoint and at the end point', () => {
    const end = { x: 15_678, y: 200 };
    const p: RaceProgress = { reached: 1, checkpointTimes: [60_000], finishedAt: null };
    expect(tryFinish(p, { position: end, elapsedMs: 300_000 }, end, 2)).toBe(p);
    expect(tryFinish(p, { position: { x: 15_000, y: 0 }, elapsedMs: 300_000 }, end, 1)).toBe(p);
    expect(tryFinish(p, { position: { x: 15_670, y: 190 }, elapsedMs: 330_100 }, end, 1).finishedAt).toBe(330_100);
  });
});

describe('result verification', () => {
  const observed: RaceProgress = { reached: 2, checkpointTimes: [110_000, 200_050], finishedAt: 330_100 };
  const opts = { routeLength: 4_000, vehicle: 'sports_car' as const };

  it('accepts times that match what the server saw', () => {
    const r = verifyResult({ finish_time: '00:05:30.123', checkpoint_times: ['00:01:50.000', '00:03:20.100'] }, observed, opts);
    expect(r).toEqual({ ok: true, value: { finishMs: 330_123, checkpointMs: [110_000, 200_100] } });
    expect(verifyResult({ finish_time: '00:05:31.000' }, observed, opts).ok).toBe(true);
  });

  it('rejects impossible, mismatched, unordered and unfinished results', () => {
    const issue = (sub: unknown, obs = observed, o: Parameters<typeof verifyResult>[2] = opts) => {
      const r = verifyResult(sub, obs, o);
      return r.ok ? 'ok' : r.error.details.issue;
    };
    expect(issue({ finish_time: '00:00:10.000' }, { ...observed, finishedAt: 10_000 })).toBe('impossible_finish_time');
    expect(issue({ finish_time: '00:04:00.000' })).toBe('time_mismatch');
    expect(issue({ finish_time: '00:05:30.100' }, { ...observed, finishedAt: null })).toBe('not_finished');
    expect(issue({ finish_time: '00:05:30.100', checkpoint_times: ['00:01:50.000'] })).toBe('count_mismatch');
    expect(issue({ finish_time: '00:05:30.100', checkpoint_times: ['00:03:20.000', '00:01:50.000'] })).toBe('not_monotonic');
    expect(issue({ finish_time: '00:05:30.100', checkpoint_times: ['00:01:40.000', '00:03:20.000'] })).toBe('time_mismatch');
    expect(issue({ finish_time: '5:30' })).toBe('bad_format');
    expect(issue({ finish_time: '00:05:30.100', checkpoint_times: '00:01:50.000' })).toBe('bad_type');
    expect(issue({ finish_time: '00:05:30.100', checkpoint_times: ['x', '00:03:20.000'] })).toBe('bad_format');
  });
});

describe('leaderboard', () => {
  it('orders by time with shared positions for ties', () => {
    const board = rankLeaderboard([
      { player_id: 3, username: 'c', finish_ms: 330_000 },
      { player_id: 1, username: 'a', finish_ms: 320_000, submitted_at: 5 },
      { player_id: 2, username: 'b', finish_ms: 320_000, submitted_at: 1 },
      { player_id: 4, username: 'd', finish_ms: 400_000 },
    ]);
    expect(board).toEqual([
      { player_id: 2, username: 'b', finish_time: '00:05:20.000', position: 1 },
      { player_id: 1, username: 'a', finish_time: '00:05:20.000', position: 1 },
      { player_id: 3, username: 'c', finish_time: '00:05:30.000', position: 3 },
      { player_id: 4, username: 'd', finish_time: '00:06:40.000', position: 4 },
    ]);
    expect(rankLeaderboard([])).toEqual([]);
  });

  it('finds the position a new time takes', () => {
    const rows = [
      { player_id: 1, username: 'a', finish_ms: 100 },
      { player_id: 2, username: 'b', finish_ms: 200 },
    ];
    expect(positionFor(rows, 50)).toBe(1);
    expect(positionFor(rows, 200)).toBe(2);
    expect(positionFor(rows, 300)).toBe(3);
  });
});
