import { describe, expect, it } from 'vitest';
import {
  applyRaceCommand,
  createRaceState,
  MAX_PARTICIPANTS,
  nextDeadline,
  type RaceCaller,
  type RaceDefinition,
  type RaceState,
  raceLeaderboard,
  raceView,
  tick,
} from '../../src/domain/race';
import { ApiError } from '../../src/errors';

/** A straight 1 km course along the ring, one checkpoint halfway, one lap, sports cars (97 m/s top speed). */
const def: RaceDefinition = {
  id: 7,
  tenantId: 't1',
  creatorId: 1,
  name: 'Straight',
  floor: 0,
  startPoint: { x: 1000, y: 0 },
  endPoint: { x: 2000, y: 0 },
  checkpoints: [{ x: 1500, y: 0 }],
  routeGeneration: 'manual',
  route: {
    type: 'LineString',
    coordinates: [
      [1000, 0],
      [2000, 0],
    ],
  },
  routeLength: 1000,
  raceCheckpoints: [{ x: 1500, y: 0 }],
  properties: { vehicle_type: 'sports_car', laps: 1 },
  vehicleType: 'sports_car',
  laps: 1,
  trackKey: 'track',
  scheduledStart: null,
  createdAt: '2026-01-01T00:00:00.000Z',
};

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const creator: RaceCaller = { tenantId: 't1', userId: '1', username: 'creator', role: 'player' };
const ann: RaceCaller = { tenantId: 't1', userId: '2', username: 'ann', role: 'player' };
const bob: RaceCaller = { tenantId: 't1', userId: '3', username: 'bob', role: 'player' };

/** The ApiError a command throws; fails the test when it throws nothing or something else. */
function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

const joined = (...callers: RaceCaller[]): RaceState =>
  callers.reduce((s, c, i) => applyRaceCommand(s, c, { kind: 'join' }, T0 - 10_000 + i).state, createRaceState(def));

const started = (...callers: RaceCaller[]): RaceState =>
  applyRaceCommand(joined(...callers), creator, { kind: 'start', input: {} }, T0).state;

const drive = (s: RaceState, who: RaceCaller, x: number, reached: number, at: number) =>
  applyRaceCommand(s, who, { kind: 'update', input: { position: { x, y: 0 }, checkpoint_reached: reached } }, at);

describe('race reducer: joining', () => {
  it('adds a racer once, announces racing_joined on the race channel only, and tells the start time', () => {
    const s0 = createRaceState(def);
    const r = applyRaceCommand(s0, ann, { kind: 'join' }, T0);
    expect(r.answer).toEqual({ success: true, event_id: 7, start_time: null });
    expect(r.events).toEqual([
      { type: 'racing_joined', data: { event_id: 7, player_id: 2, username: 'ann', participants: [2] } },
    ]);
    expect(r.relay).toBeNull();
    expect(s0.racers).toEqual([]);
    const again = applyRaceCommand(r.state, ann, { kind: 'join' }, T0 + 5);
    expect(again.state).toBe(r.state);
    expect(again.events).toEqual([]);
  });

  it('refuses non-players, other tenants, a full race and a started race, changing nothing', () => {
    const s = joined(ann);
    expect(refusal(() => applyRaceCommand(s, { ...bob, userId: 'svc_x' }, { kind: 'join' }, T0)).details).toEqual({
      field: 'player',
      issue: 'not_a_player',
    });
    expect(refusal(() => applyRaceCommand(s, { ...bob, tenantId: 't2' }, { kind: 'join' }, T0)).code).toBe('NOT_FOUND');
    let full = createRaceState(def);
    for (let i = 0; i < MAX_PARTICIPANTS; i++) {
      full = applyRaceCommand(full, { ...bob, userId: String(100 + i) }, { kind: 'join' }, T0).state;
    }
    expect(refusal(() => applyRaceCommand(full, bob, { kind: 'join' }, T0)).details).toMatchObject({ issue: 'race_full' });
    expect(refusal(() => applyRaceCommand(started(ann), bob, { kind: 'join' }, T0 + 1)).details).toMatchObject({
      issue: 'race_started',
    });
    expect(s.racers.map((r) => r.playerId)).toEqual(['2']);
  });
});

describe('race reducer: starting', () => {
  it('starts for the creator: racing_started to the race channel and every participant’s game socket', () => {
    const r = applyRaceCommand(joined(ann, bob), creator, { kind: 'start', input: {} }, T0);
    expect(r.state.status).toBe('active');
    expect(r.state.startAt).toBe(T0);
    expect(r.answer).toMatchObject({ event_id: 7, start_time: new Date(T0).toISOString(), participants: [2, 3], laps: 1 });
    expect(r.events).toEqual([{ type: 'racing_started', data: r.answer }]);
    expect(r.relay).toEqual({ players: [2, 3], frames: r.events });
  });

  it('refuses others, an empty race, a second start and a route that is not the race’s', () => {
    const s = joined(ann);
    expect(refusal(() => applyRaceCommand(s, ann, { kind: 'start', input: {} }, T0)).code).toBe('AUTHORIZATION_FAILED');
    expect(
      refusal(() => applyRaceCommand(createRaceState(def), creator, { kind: 'start', input: {} }, T0)).details,
    ).toMatchObject({ issue: 'no_participants' });
    expect(refusal(() => applyRaceCommand(started(ann), creator, { kind: 'start', input: {} }, T0)).details).toMatchObject({
      issue: 'race_started',
    });
    const otherRoute = {
      type: 'LineString',
      coordinates: [
        [1000, 0],
        [3000, 0],
      ],
    };
    const wrong = refusal(() => applyRaceCommand(s, creator, { kind: 'start', input: { route: otherRoute } }, T0));
    expect([wrong.code, wrong.details]).toEqual(['INVALID_REQUEST', { field: 'route', issue: 'route_mismatch' }]);
    expect(refusal(() => applyRaceCommand(s, creator, { kind: 'start', input: { event_id: 8 } }, T0)).details).toMatchObject({
      issue: 'wrong_event',
    });
    const admin = applyRaceCommand(s, { ...bob, role: 'admin' }, { kind: 'start', input: { route: def.route } }, T0);
    expect(admin.state.status).toBe('active');
  });

  it('starts by itself at the scheduled time, but only with racers, and then has no deadline left', () => {
    const at = T0 + 60_000;
    const scheduled = createRaceState({ ...def, scheduledStart: new Date(at).toISOString() });
    expect(nextDeadline(scheduled)).toBe(at);
    expect(tick(scheduled, at).state).toBe(scheduled);
    const withAnn = applyRaceCommand(scheduled, ann, { kind: 'join' }, T0).state;
    expect(applyRaceCommand(withAnn, ann, { kind: 'join' }, T0).answer.start_time).toBe(new Date(at).toISOString());
    expect(tick(withAnn, at - 1).events).toEqual([]);
    const due = tick(withAnn, at + 3);
    expect(due.state).toMatchObject({ status: 'active', startAt: at + 3 });
    expect(due.events.map((e) => e.type)).toEqual(['racing_started']);
    expect(due.relay?.players).toEqual([2]);
    expect(nextDeadline(due.state)).toBeNull();
  });
});

describe('race reducer: updates, checkpoints and the finish', () => {
  it('tracks checkpoints in order and finishes the race when everyone has reached the finish', () => {
    const s = started(ann, bob);
    const a1 = drive(s, ann, 1500, 1, T0 + 6_000);
    expect(a1.answer).toEqual({
      event_id: 7,
      players: [{ player_id: 2, position: { x: 1500, y: 0 }, checkpoint_reached: 1, time: '00:00:06.000', finished: false }],
    });
    expect(a1.relay?.players).toEqual([2, 3]);
    const a2 = drive(a1.state, ann, 2000, 1, T0 + 12_000);
    expect(a2.answer.players[0]?.finished).toBe(true);
    expect(a2.events.map((e) => e.type)).toEqual(['racing_update']);
    const b1 = drive(a2.state, bob, 1500, 1, T0 + 7_000 + 500);
    const b2 = drive(b1.state, bob, 2000, 1, T0 + 13_000);
    expect(b2.events.map((e) => e.type)).toEqual(['racing_update', 'racing_finished']);
    expect(b2.events[1]?.data).toEqual({ event_id: 7, finished_at: new Date(T0 + 13_000).toISOString() });
    expect(b2.state.status).toBe('finished');
    expect(refusal(() => drive(b2.state, ann, 2000, 1, T0 + 14_000)).details).toMatchObject({ issue: 'race_over' });
    const view = raceView(b2.state);
    expect(view.participants.map((p) => [p.player_id, p.finish_time])).toEqual([
      [2, '00:00:12.000'],
      [3, '00:00:13.000'],
    ]);
  });

  it('refuses updates before the start, from outsiders, skipped checkpoints, teleports, stale and overlong ones', () => {
    expect(refusal(() => drive(joined(ann), ann, 1100, 0, T0)).details).toMatchObject({ issue: 'race_not_started' });
    const s = started(ann);
    expect(refusal(() => drive(s, bob, 1100, 0, T0 + 1000)).details).toMatchObject({ issue: 'not_participant' });
    expect(refusal(() => drive(s, ann, 1500, 2, T0 + 6000)).details).toMatchObject({ issue: 'bad_checkpoint' });
    expect(refusal(() => drive(s, ann, 1400, 1, T0 + 6000)).details).toMatchObject({ issue: 'checkpoint_not_reached' });
    expect(refusal(() => drive(s, ann, 1900, 0, T0 + 1000)).details).toMatchObject({ issue: 'implausible_speed' });
    const moved = drive(s, ann, 1100, 0, T0 + 2000).state;
    expect(refusal(() => drive(moved, ann, 1150, 0, T0 + 1000)).details).toMatchObject({ issue: 'stale_update' });
    expect(refusal(() => drive(moved, ann, 1150, 0, T0 + 100 * 3_600_000)).details).toMatchObject({ issue: 'race_timeout' });
    const speeding = { position: { x: 1100, y: 0 }, speed: 900 };
    expect(refusal(() => applyRaceCommand(s, ann, { kind: 'update', input: speeding }, T0 + 2000)).details).toMatchObject({
      field: 'speed',
      issue: 'implausible_speed',
    });
    expect(refusal(() => applyRaceCommand(s, ann, { kind: 'update', input: [1] }, T0 + 2000)).details).toEqual({
      field: 'data',
      issue: 'bad_type',
    });
    expect(s.racers[0]?.lastAt).toBeNull();
  });
});

describe('race reducer: results', () => {
  const finishedRace = () => {
    let s = started(ann, bob);
    s = drive(s, ann, 1500, 1, T0 + 6_000).state;
    s = drive(s, ann, 2000, 1, T0 + 12_000).state;
    s = drive(s, bob, 1500, 1, T0 + 6_000).state;
    return drive(s, bob, 2000, 1, T0 + 11_000).state;
  };

  it('records a result matching the observed times, ranks it, and relays racing_result', () => {
    const s = finishedRace();
    const r = applyRaceCommand(
      s,
      ann,
      { kind: 'result', body: { finish_time: '00:00:12.300', checkpoint_times: ['00:00:06.100'], vehicle_data: { rpm: 1 } } },
      T0 + 20_000,
    );
    expect(r.answer).toEqual({ success: true, position: 1, finish_time: '00:00:12.000', finish_ms: 12_000, track_key: 'track' });
    expect(r.events).toEqual([
      { type: 'racing_result', data: { event_id: 7, player_id: 2, username: 'ann', finish_time: '00:00:12.000', position: 1 } },
    ]);
    expect(r.relay?.players).toEqual([2, 3]);
    expect(r.state.racers[0]?.result).toEqual({
      finishMs: 12_000,
      claimedMs: 12_300,
      submittedAt: new Date(T0 + 20_000).toISOString(),
      checkpointTimes: ['00:00:06.100'],
      vehicleData: { rpm: 1 },
    });
    const b = applyRaceCommand(r.state, bob, { kind: 'result', body: { finish_time: '00:00:11.000' } }, T0 + 21_000);
    expect(b.answer.position).toBe(1);
    expect(raceLeaderboard(b.state).map((e) => [e.player_id, e.position])).toEqual([
      [3, 1],
      [2, 2],
    ]);
    expect(
      refusal(() => applyRaceCommand(b.state, bob, { kind: 'result', body: { finish_time: '00:00:11.000' } }, T0)).details,
    ).toMatchObject({ issue: 'already_submitted' });
  });

  it('refuses outsiders, bad bodies, oversized telemetry and times the server did not observe', () => {
    const s = finishedRace();
    const result = (who: RaceCaller, body: unknown) => applyRaceCommand(s, who, { kind: 'result', body }, T0 + 20_000);
    expect(refusal(() => result(creator, { finish_time: '00:00:12.000' })).code).toBe('AUTHORIZATION_FAILED');
    expect(refusal(() => result(ann, 'fast')).details).toEqual({ field: 'body', issue: 'bad_type' });
    expect(refusal(() => result(ann, { finish_time: '12s' })).details).toMatchObject({ issue: 'bad_format' });
    expect(refusal(() => result(ann, { finish_time: '00:00:12.000', vehicle_data: [] })).details).toMatchObject({
      field: 'vehicle_data',
    });
    const big = { blob: 'x'.repeat(5000) };
    expect(refusal(() => result(ann, { finish_time: '00:00:12.000', vehicle_data: big })).details).toMatchObject({
      issue: 'too_large',
    });
    expect(refusal(() => result(ann, { finish_time: '00:00:15.000' })).details).toMatchObject({ issue: 'time_mismatch' });
    expect(refusal(() => result(ann, { finish_time: '00:00:05.000' })).details).toMatchObject({
      issue: 'impossible_finish_time',
    });
    const unfinished = started(ann);
    expect(
      refusal(() => applyRaceCommand(unfinished, ann, { kind: 'result', body: { finish_time: '00:00:12.000' } }, T0)).details,
    ).toMatchObject({ issue: 'not_finished' });
    expect(s.racers.every((r) => r.result === null)).toBe(true);
  });
});
