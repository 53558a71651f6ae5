import { env, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatRaceTime } from '../../src/domain/racing';
import { findRoute, validateManualRoute } from '../../src/domain/routes';
import { call, expectError, PASSWORD, registerUser, type Session, uniqueTenant } from '../support/api';
import { createRace, drive, identityOf, keySamples, race, raceStub, raceView, seedRace, value } from '../support/racing';
import { type Frame, sleep, TestSocket } from '../support/sockets';

/** An admin of a fresh tenant: registered as a player, granted the role in D1, then logged in again. */
async function tenantAdmin(tenant: string): Promise<Session> {
  const s = await registerUser({ tenant });
  await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?1").bind(s.user_id).run();
  const r = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD, tenant_id: tenant } });
  return r.body;
}

async function openRaceSocket(id: number, token: string): Promise<TestSocket> {
  const res = await SELF.fetch(`https://edge.test/ws/racing/${id}?token=${token}`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no websocket');
  ws.accept();
  return new TestSocket(ws);
}

const join = (id: number, s: Session) => call(`/api/racing/events/${id}/join`, { token: s.access_token });
const start = (id: number, s: Session, body?: unknown) =>
  call(`/api/racing/events/${id}/start`, { token: s.access_token, ...(body === undefined ? {} : { body }) });

describe('POST /api/racing/events', () => {
  let creator: Session;
  beforeAll(async () => {
    creator = await registerUser();
  });

  it("plans the seed's auto race as a LineString over the generated roads, through its checkpoint", async () => {
    const r = await call('/api/racing/events', { token: creator.access_token, body: seedRace() });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ name: 'Downtown Street Race', status: 'pending', route_geometry: { type: 'LineString' } });
    expect(Number.isInteger(r.body.id)).toBe(true);
    expect(new Date(r.body.created_at).toISOString()).toBe(r.body.created_at);
    const planned = findRoute({
      worldSeed: 12345,
      floor: 0,
      start: { x: 12345, y: 100 },
      end: { x: 15678, y: 200 },
      checkpoints: [{ x: 14000, y: 150 }],
    });
    expect(r.body.route_geometry).toEqual(planned.route);
    // Every point is on the network (the manual-route rules accept it).
    expect(
      validateManualRoute({
        worldSeed: 12345,
        floor: 0,
        start: { x: 12345, y: 100 },
        end: { x: 15678, y: 200 },
        checkpoints: [{ x: 14000, y: 150 }],
        route: r.body.route_geometry,
      }).length,
    ).toBeCloseTo(planned.length, 3);
    expect(r.body.checkpoints).toEqual([planned.waypoints[1]]);

    const details = await call(`/api/racing/events/${r.body.id}`, { method: 'GET', token: creator.access_token });
    expect(details.status).toBe(200);
    expect(details.body).toMatchObject({ id: r.body.id, status: 'pending', creator_id: creator.user_id, participants: [] });
    const row = await env.DB.prepare('SELECT status, route_generation, vehicle_type FROM races WHERE id = ?1')
      .bind(r.body.id)
      .first();
    expect(row).toEqual({ status: 'pending', route_generation: 'auto', vehicle_type: 'sports_car' });
  });

  it('accepts a manual route on the roads, and refuses one that leaves them, naming the segment', async () => {
    const planned = findRoute({
      worldSeed: 12345,
      floor: 0,
      start: { x: 12345, y: 100 },
      end: { x: 15678, y: 200 },
      checkpoints: [{ x: 14000, y: 150 }],
    });
    const good = await call('/api/racing/events', {
      token: creator.access_token,
      body: seedRace({ route_generation: 'manual', route: planned.route }),
    });
    expect(good.status, JSON.stringify(good.body)).toBe(201);
    expect(good.body.route_geometry).toEqual(planned.route);

    const [from, , to] = planned.waypoints;
    const straight = {
      type: 'LineString',
      coordinates: [
        [from!.x, from!.y],
        [to!.x, to!.y],
      ],
    };
    const bad = await call('/api/racing/events', {
      token: creator.access_token,
      body: seedRace({ route_generation: 'manual', route: straight, checkpoints: [] }),
    });
    expectError(bad, 400, 'INVALID_REQUEST');
    expect(bad.body.details).toMatchObject({ field: 'route', issue: 'off_network', segment: 0 });
  });

  it('refuses bad bodies with the failing field', async () => {
    const cases: Array<[unknown, string, string]> = [
      [seedRace({ start_point: { x: 12345, y: 5000 } }), 'start_point', 'off_network'],
      [seedRace({ floor: 99 }), 'floor', 'out_of_range'],
      [seedRace({ end_point: { x: -1, y: 0 } }), 'end_point', 'out_of_range'],
      [seedRace({ route_generation: 'teleport' }), 'route_generation', 'bad_value'],
      [seedRace({ route_generation: 'manual' }), 'route', 'missing'],
      [seedRace({ properties: { vehicle_type: 'rocket' } }), 'properties.vehicle_type', 'unknown_vehicle'],
      [seedRace({ properties: { laps: 0 } }), 'properties.laps', 'out_of_range'],
      [seedRace({ properties: { laps: 3 } }), 'properties.laps', 'not_a_circuit'],
      [seedRace({ name: '' }), 'name', 'bad_length'],
      [seedRace({ start_time: '2001-01-01T00:00:00Z' }), 'start_time', 'out_of_range'],
    ];
    for (const [body, field, issue] of cases) {
      const r = await call('/api/racing/events', { token: creator.access_token, body });
      expectError(r, 400, 'INVALID_REQUEST');
      expect(r.body.details, JSON.stringify(r.body)).toMatchObject({ field, issue });
    }
    expectError(await call('/api/racing/events', { body: seedRace() }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('join, start, live updates over the race socket', () => {
  it('joins, starts by racing_start, broadcasts racing_update, refuses skipped checkpoints, teleports and non-participants', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const spectator = await registerUser();
    const created = await createRace(
      creator.access_token,
      seedRace({
        checkpoints: [
          { x: 13500, y: 150 },
          { x: 14600, y: 150 },
        ],
      }),
    );
    const id = created.id as number;

    const joined = await join(id, racer);
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(joined.body).toEqual({ success: true, event_id: id, start_time: null });
    expect((await join(id, racer)).body).toEqual({ success: true, event_id: id, start_time: null });
    // Not the creator, not an admin.
    expectError(await start(id, racer), 403, 'AUTHORIZATION_FAILED');

    const a = await openRaceSocket(id, racer.access_token);
    const s = await openRaceSocket(id, spectator.access_token);
    const hello = await a.next();
    expect(hello).toMatchObject({ type: 'connected', data: { race: { id, status: 'pending' } } });
    await s.next();
    const c = await openRaceSocket(id, creator.access_token);
    await c.next();

    // The seed's racing_start, with the race's own route and checkpoints echoed back.
    c.send({
      type: 'racing_start',
      id: 'req_1',
      data: {
        event_id: id,
        route: created.route_geometry,
        checkpoints: [
          { x: 13500, y: 150 },
          { x: 14600, y: 150 },
        ],
      },
    });
    const started = await s.nextOf('racing_started');
    expect(started.data).toMatchObject({
      event_id: id,
      participants: [racer.user_id],
      route: created.route_geometry,
      checkpoints: created.checkpoints,
    });
    expect(started.eventId).toMatch(/^e[0-9a-z]+-\d+$/);
    expect((await a.nextOf('racing_started')).data.start_time).toBe(started.data.start_time);
    // A second start is refused.
    c.send({ type: 'racing_start', id: 'req_2', data: { event_id: id } });
    const again = await c.nextOf('error');
    expect(again).toMatchObject({ id: 'req_2', code: 'INVALID_REQUEST', data: { details: { issue: 'race_started' } } });

    const [x0, y0] = created.route_geometry.coordinates[0] as [number, number];
    a.send({ type: 'racing_update', data: { event_id: id, position: { x: x0, y: y0 }, speed: 0, checkpoint_reached: 0 } });
    const update: Frame = await s.nextOf('racing_update');
    expect(update.data).toEqual({
      event_id: id,
      players: [
        {
          player_id: racer.user_id,
          position: { x: x0, y: y0 },
          checkpoint_reached: 0,
          time: expect.stringMatching(/^00:00:\d\d\.\d{3}$/),
          finished: false,
        },
      ],
    });

    a.send({
      type: 'racing_update',
      id: 'u2',
      data: { event_id: id, position: { x: x0, y: y0 }, speed: 10, checkpoint_reached: 2 },
    });
    const skipped = await a.nextOf('error');
    expect(skipped).toMatchObject({
      type: 'error',
      id: 'u2',
      code: 'INVALID_REQUEST',
      data: { code: 'INVALID_REQUEST', details: { field: 'checkpoint_reached', issue: 'checkpoint_skipped', expected: 1 } },
    });

    const finish = created.route_geometry.coordinates.at(-1) as [number, number];
    a.send({
      type: 'racing_update',
      id: 'u3',
      data: { event_id: id, position: { x: finish[0], y: finish[1] }, speed: 100, checkpoint_reached: 0 },
    });
    const teleport = await a.nextOf('error');
    expect(teleport).toMatchObject({ id: 'u3', data: { details: { field: 'position', issue: 'implausible_speed' } } });

    a.send({
      type: 'racing_update',
      id: 'u4',
      data: { event_id: id, position: { x: x0, y: y0 }, speed: 900, checkpoint_reached: 0 },
    });
    expect(await a.nextOf('error')).toMatchObject({
      id: 'u4',
      data: { details: { field: 'speed', issue: 'implausible_speed' } },
    });

    s.send({
      type: 'racing_update',
      id: 'x',
      data: { event_id: id, position: { x: x0, y: y0 }, speed: 0, checkpoint_reached: 0 },
    });
    expect(await s.nextOf('error')).toMatchObject({
      id: 'x',
      code: 'AUTHORIZATION_FAILED',
      data: { details: { issue: 'not_participant' } },
    });
    s.send({ type: 'racing_boost', data: {} });
    expect(await s.nextOf('error')).toMatchObject({ data: { details: { issue: 'unknown_message_type' } } });

    // Refused updates changed nothing: the state has the one accepted update.
    const view = await raceView('default', id);
    expect(view.status).toBe('active');
    expect(view.participants[0]).toMatchObject({ player_id: racer.user_id, checkpoint_reached: 0, position: { x: x0, y: y0 } });
    // Joining after the start is refused.
    expectError(await join(id, spectator), 400, 'INVALID_REQUEST');

    // Polling spectators see the same log: joined, started, update.
    const poll = await call(`/api/racing/events/${id}/events?lastSequence=0`, { method: 'GET', token: spectator.access_token });
    expect(poll.status).toBe(200);
    expect(poll.body.events.map((e: Frame) => e.type)).toEqual(['racing_joined', 'racing_started', 'racing_update']);
    for (const ws of [a, s, c]) ws.ws.close(1000, 'done');
  });

  it('starts over REST (creator), refuses a route that is not the race’s, and writes the status behind to D1', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const created = await createRace(creator.access_token);
    const id = created.id as number;
    expectError(await start(id, creator), 400, 'INVALID_REQUEST'); // nobody joined
    await join(id, racer);
    const wrong = await start(id, creator, {
      route: {
        type: 'LineString',
        coordinates: [
          [1, 1],
          [2, 2],
        ],
      },
    });
    expectError(wrong, 400, 'INVALID_REQUEST');
    expect(wrong.body.details).toMatchObject({ field: 'route', issue: 'route_mismatch' });
    const r = await start(id, creator, { event_id: id });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      event_id: id,
      participants: [racer.user_id],
      route: created.route_geometry,
      checkpoints: created.checkpoints,
    });
    expect((await join(id, racer)).body.start_time).toBe(r.body.start_time);
    let row: Record<string, unknown> | null = null;
    for (let i = 0; i < 40 && row?.status !== 'active'; i++) {
      await sleep(100);
      row = await env.DB.prepare('SELECT status, start_time FROM races WHERE id = ?1').bind(id).first();
    }
    expect(row).toEqual({ status: 'active', start_time: r.body.start_time });
    const p = await env.DB.prepare('SELECT player_id, username FROM race_participants WHERE race_id = ?1').bind(id).first();
    expect(p).toEqual({ player_id: racer.user_id, username: racer.username });
  });

  it('starts by itself at a scheduled start_time, which join reports', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const at = new Date(Date.now() + 1500).toISOString();
    const created = await createRace(creator.access_token, seedRace({ start_time: at }));
    expect(created.start_time).toBe(at);
    expect((await join(created.id, racer)).body).toEqual({ success: true, event_id: created.id, start_time: at });
    let view = await raceView('default', created.id);
    for (let i = 0; i < 50 && view.status === 'pending'; i++) {
      await sleep(100);
      view = await raceView('default', created.id);
    }
    expect(view.status).toBe('active');
    expect(Date.parse(view.start_time as string)).toBeGreaterThanOrEqual(Date.parse(at));
  });
});

describe('results and the leaderboard', () => {
  it("accepts the seed's example result body for the seed's race, checked against the observed times", async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const created = await createRace(creator.access_token);
    const id = created.id as number;
    await join(id, racer);
    const started = await start(id, creator);
    const view = await raceView('default', id);
    // Checkpoint at 1:50.000 and the finish at 5:30.123, as the seed's example says.
    const plan = drive(view, { knots: [110_000, 330_123] });
    expect(plan.checkpointTimes).toEqual([110_000]);
    await race('default', id, identityOf(racer), Date.parse(started.body.start_time), keySamples(plan.samples));
    expect((await raceView('default', id)).participants[0]).toMatchObject({ finished: true, finish_time: '00:05:30.123' });

    const r = await call(`/api/racing/events/${id}/result`, {
      token: racer.access_token,
      headers: { 'Content-Type': 'application/json' },
      raw: '{"finish_time": "00:05:30.123", "checkpoint_times": ["00:01:50.000", "00:03:20.100", "00:05:30.023"], "vehicle_data": {}}',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ success: true, position: 1, leaderboard_position: 1, finish_time: '00:05:30.123' });
    const board = await call(`/api/racing/events/${id}/leaderboard`, { method: 'GET', token: creator.access_token });
    expect(board.body).toEqual({
      event_id: id,
      leaderboard: [{ player_id: racer.user_id, username: racer.username, finish_time: '00:05:30.123', position: 1 }],
    });
    // Once only.
    const twice = await call(`/api/racing/events/${id}/result`, {
      token: racer.access_token,
      body: { finish_time: '00:05:30.123' },
    });
    expect(twice.body.details).toMatchObject({ issue: 'already_submitted' });
  });

  it('refuses an impossible finish time, a time the server did not observe, and a result before the finish', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const slow = await registerUser();
    const outsider = await registerUser();
    const created = await createRace(creator.access_token);
    const id = created.id as number;
    await join(id, racer);
    await join(id, slow);
    const started = await start(id, creator);
    const plan = drive(await raceView('default', id), { speed: 80 });
    await race('default', id, identityOf(racer), Date.parse(started.body.start_time), keySamples(plan.samples));

    const submit = (s: Session, body: unknown) => call(`/api/racing/events/${id}/result`, { token: s.access_token, body });
    const impossible = await submit(racer, { finish_time: '00:00:05.000' });
    expectError(impossible, 400, 'INVALID_REQUEST');
    expect(impossible.body.details).toMatchObject({ field: 'finish_time', issue: 'impossible_finish_time' });
    const mismatch = await submit(racer, { finish_time: formatRaceTime(plan.finish + 5_000) });
    expect(mismatch.body.details).toMatchObject({
      field: 'finish_time',
      issue: 'time_mismatch',
      observed: formatRaceTime(plan.finish),
    });
    const badCp = await submit(racer, {
      finish_time: formatRaceTime(plan.finish),
      checkpoint_times: [formatRaceTime(plan.checkpointTimes[0]! + 4000)],
    });
    expect(badCp.body.details).toMatchObject({ field: 'checkpoint_times[0]', issue: 'time_mismatch' });
    const badFormat = await submit(racer, { finish_time: '5:30' });
    expect(badFormat.body.details).toMatchObject({ field: 'finish_time', issue: 'bad_format' });
    expect((await submit(slow, { finish_time: formatRaceTime(plan.finish) })).body.details).toMatchObject({
      issue: 'not_finished',
    });
    expectError(await submit(outsider, { finish_time: '00:05:00.000' }), 403, 'AUTHORIZATION_FAILED');

    // Times for the checkpoints plus the finish are fine too.
    const good = await submit(racer, {
      finish_time: formatRaceTime(plan.finish + 300),
      checkpoint_times: [formatRaceTime(plan.checkpointTimes[0]! - 200), formatRaceTime(plan.finish + 300)],
    });
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    expect(good.body.finish_time).toBe(formatRaceTime(plan.finish));
  });

  it('ranks the leaderboard fastest first, with equal times sharing a position (1, 1, 3); leaderboard_position spans the track', async () => {
    const tenant = uniqueTenant();
    const creator = await registerUser({ tenant });
    const [a, b, c, d] = [
      await registerUser({ tenant }),
      await registerUser({ tenant }),
      await registerUser({ tenant }),
      await registerUser({ tenant }),
    ];
    const created = await createRace(creator.access_token);
    const id = created.id as number;
    for (const s of [a, b, c]) await join(id, s);
    const startAt = Date.parse((await start(id, creator)).body.start_time);
    const view = await raceView(tenant, id);
    const fast = drive(view, { speed: 60 });
    const slower = drive(view, { speed: 40 });
    await race(tenant, id, identityOf(c, tenant), startAt, keySamples(slower.samples));
    await race(tenant, id, identityOf(a, tenant), startAt, keySamples(fast.samples));
    await race(tenant, id, identityOf(b, tenant), startAt, keySamples(fast.samples));
    expect((await raceView(tenant, id)).status).toBe('finished');

    const submit = async (s: Session, race: number, ms: number) =>
      (await call(`/api/racing/events/${race}/result`, { token: s.access_token, body: { finish_time: formatRaceTime(ms) } }))
        .body;
    expect(await submit(c, id, slower.finish)).toMatchObject({ success: true, position: 1, leaderboard_position: 1 });
    expect(await submit(a, id, fast.finish)).toMatchObject({ success: true, position: 1, leaderboard_position: 1 });
    expect(await submit(b, id, fast.finish)).toMatchObject({ success: true, position: 1, leaderboard_position: 1 });

    const board = await call(`/api/racing/events/${id}/leaderboard`, { method: 'GET', token: a.access_token });
    expect(board.status).toBe(200);
    expect(board.body.leaderboard).toEqual([
      { player_id: a.user_id, username: a.username, finish_time: formatRaceTime(fast.finish), position: 1 },
      { player_id: b.user_id, username: b.username, finish_time: formatRaceTime(fast.finish), position: 1 },
      { player_id: c.user_id, username: c.username, finish_time: formatRaceTime(slower.finish), position: 3 },
    ]);
    expect(await value(raceStub(tenant, id).leaderboard())).toEqual(board.body.leaderboard);

    // The same track raced again: first in its own race, third on the track.
    const second = (await createRace(creator.access_token)).id as number;
    await join(second, d);
    const startAt2 = Date.parse((await start(second, creator)).body.start_time);
    const mid = drive(await raceView(tenant, second), { speed: 50 });
    await race(tenant, second, identityOf(d, tenant), startAt2, keySamples(mid.samples));
    expect(await submit(d, second, mid.finish)).toEqual({
      success: true,
      position: 1,
      leaderboard_position: 3,
      finish_time: formatRaceTime(mid.finish),
    });
  });
});

describe('OpenAPI', () => {
  it('documents the racing routes', async () => {
    const doc = (await call('/openapi.json', { method: 'GET' })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/racing/events',
        '/api/racing/events/{event_id}',
        '/api/racing/events/{event_id}/join',
        '/api/racing/events/{event_id}/start',
        '/api/racing/events/{event_id}/result',
        '/api/racing/events/{event_id}/leaderboard',
        '/api/racing/events/{event_id}/events',
        '/api/racing/events/{event_id}/messages',
      ]),
    );
    expect(doc.components.schemas.RaceCreateRequest.required).toEqual(['name', 'start_point', 'end_point', 'floor']);
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's race on every path", async () => {
    const tenant = uniqueTenant();
    const owner = await registerUser({ tenant });
    const other = await registerUser();
    const created = await createRace(owner.access_token);
    const id = created.id as number;
    for (const [path, method] of [
      [`/api/racing/events/${id}`, 'GET'],
      [`/api/racing/events/${id}/join`, 'POST'],
      [`/api/racing/events/${id}/start`, 'POST'],
      [`/api/racing/events/${id}/leaderboard`, 'GET'],
      [`/api/racing/events/${id}/events`, 'GET'],
    ] as const) {
      expectError(await call(path, { method, token: other.access_token }), 404, 'NOT_FOUND');
    }
    const ws = await SELF.fetch(`https://edge.test/ws/racing/${id}?token=${other.access_token}`, {
      headers: { Upgrade: 'websocket' },
    });
    expect(ws.status).toBe(404);
    // The owner's tenant sees it; an admin of that tenant may start it.
    const racer = await registerUser({ tenant });
    expect((await join(id, racer)).status).toBe(200);
    const admin = await tenantAdmin(tenant);
    expect((await start(id, admin)).status).toBe(200);
    // The actor itself refuses a foreign identity too.
    const refused = (await raceStub(tenant, id).join(identityOf(other))) as { ok: boolean; error?: { error: string } };
    expect(refused).toMatchObject({ ok: false, error: { error: 'NOT_FOUND' } });
  });
});
