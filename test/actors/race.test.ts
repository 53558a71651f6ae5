import { env, evictDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { formatRaceTime, lapCheckpoints, type RaceProgress, routeEnd, verifySubmission } from '../../src/domain/racing';
import { findRoute } from '../../src/domain/routes';
import { call, registerUser } from '../support/api';
import { createRace, drive, identityOf, race, raceStub, raceView, seedRace } from '../support/racing';
import { SseReader, sleep } from '../support/sockets';

const finished: RaceProgress = { reached: 1, checkpointTimes: [110_000], finishedAt: 330_123 };
const opts = { routeLength: 4000, vehicle: 'sports_car' as const };

describe('verifySubmission (result bodies a seed-following client sends)', () => {
  it("accepts the seed's example: a time per checkpoint, own splits, then the finish", () => {
    const body = {
      finish_time: '00:05:30.123',
      checkpoint_times: ['00:01:50.000', '00:03:20.100', '00:05:30.023'],
      vehicle_data: {},
    };
    const r = verifySubmission(body, finished, opts);
    expect(r).toEqual({ ok: true, value: { finishMs: 330_123, checkpointMs: [110_000, 200_100, 330_023] } });
    // Exactly one per checkpoint, or none at all, are fine too.
    expect(verifySubmission({ finish_time: '00:05:30.123', checkpoint_times: ['00:01:50.900'] }, finished, opts).ok).toBe(true);
    expect(verifySubmission({ finish_time: '00:05:31.000' }, finished, opts).ok).toBe(true);
  });

  it('refuses splits out of order, a last time that is not the finish, and missing checkpoints', () => {
    const issue = (checkpoint_times: unknown, finish_time = '00:05:30.123') => {
      const r = verifySubmission({ finish_time, checkpoint_times }, finished, opts);
      return r.ok ? null : r.error.details;
    };
    expect(issue(['00:01:50.000', '00:04:00.000', '00:03:00.000'])).toMatchObject({
      field: 'checkpoint_times[2]',
      issue: 'not_monotonic',
    });
    expect(issue(['00:01:50.000', '00:03:20.100', '00:04:30.000'])).toMatchObject({
      field: 'checkpoint_times[2]',
      issue: 'time_mismatch',
    });
    expect(issue(['00:09:50.000', '00:03:20.100', '00:05:30.023'])).toMatchObject({ issue: 'not_monotonic' });
    expect(issue(['00:01:50.000', 'soon'])).toMatchObject({ field: 'checkpoint_times[1]', issue: 'bad_format' });
    expect(
      verifySubmission(
        { finish_time: '00:05:30.123', checkpoint_times: ['00:01:50.000'] },
        { ...finished, reached: 2, checkpointTimes: [110_000, 200_000] },
        opts,
      ),
    ).toMatchObject({ ok: false, error: { details: { issue: 'count_mismatch' } } });
    expect(verifySubmission({ finish_time: '00:05:30.123' }, { ...finished, finishedAt: null }, opts)).toMatchObject({
      ok: false,
      error: { details: { issue: 'not_finished' } },
    });
  });

  it('unrolls laps: each lap’s checkpoints, with the finish line between laps', () => {
    const route = {
      type: 'LineString' as const,
      coordinates: [
        [0, 0],
        [500, 0],
        [0, 1],
      ] as [number, number][],
    };
    const cp = { x: 500, y: 0 };
    expect(lapCheckpoints({ raceCheckpoints: [cp], laps: 3, route })).toEqual([cp, routeEnd(route), cp, routeEnd(route), cp]);
    expect(lapCheckpoints({ raceCheckpoints: [], laps: 1, route })).toEqual([]);
  });
});

describe('Race actor', () => {
  it('keeps participants, progress and the event log across eviction, then finishes and records the result', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const id = (await createRace(creator.access_token)).id as number;
    await call(`/api/racing/events/${id}/join`, { token: racer.access_token });
    const startAt = Date.parse((await call(`/api/racing/events/${id}/start`, { token: creator.access_token })).body.start_time);
    const stub = raceStub('default', id);
    const plan = drive(await raceView('default', id), { speed: 70 });
    const half = Math.floor(plan.samples.length / 2);
    await race('default', id, identityOf(racer), startAt, plan.samples.slice(0, half));
    const before = await raceView('default', id);

    await evictDurableObject(stub);
    const after = await raceView('default', id);
    expect(after).toEqual(before);
    expect(after.status).toBe('active');
    expect(after.participants[0]).toMatchObject({
      player_id: racer.user_id,
      checkpoint_reached: plan.samples[half - 1]!.checkpoint,
    });

    // A repeated (older) update is refused after the restart as before it.
    const stale = (await stub.update(
      identityOf(racer),
      { event_id: id, position: plan.samples[0]!.position, checkpoint_reached: 0 },
      { at: startAt },
    )) as { ok: boolean; error?: { details?: { issue?: string } } };
    expect(stale).toMatchObject({ ok: false, error: { details: { issue: 'stale_update' } } });

    await race('default', id, identityOf(racer), startAt, plan.samples.slice(half));
    const done = await raceView('default', id);
    expect(done.status).toBe('finished');
    expect(done.participants[0]).toMatchObject({ finished: true, finish_time: formatRaceTime(plan.finish) });

    const poll = await call(`/api/racing/events/${id}/events?lastSequence=0&limit=100`, {
      method: 'GET',
      token: racer.access_token,
    });
    const seqs = poll.body.events.map((e: { sequence: number }) => e.sequence);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => i + 1)); // gapless across the eviction
    expect(poll.body.events[0].type).toBe('racing_joined');

    const r = await call(`/api/racing/events/${id}/result`, {
      token: racer.access_token,
      body: { finish_time: formatRaceTime(plan.finish) },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ success: true, position: 1 });

    // Progress and status reach D1 by write-behind.
    let row: Record<string, unknown> | null = null;
    for (let i = 0; i < 40 && row?.finish_ms !== plan.finish; i++) {
      await sleep(100);
      row = await env.DB.prepare(
        `SELECT p.checkpoint_reached, p.finish_ms, r.status FROM race_participants p JOIN races r ON r.id = p.race_id
         WHERE p.race_id = ?1`,
      )
        .bind(id)
        .first();
    }
    expect(row).toEqual({ checkpoint_reached: 1, finish_ms: plan.finish, status: 'finished' });
  });

  it('streams the race over SSE, and takes frames over HTTP like socket frames', async () => {
    const creator = await registerUser();
    const racer = await registerUser();
    const outsider = await registerUser();
    const created = await createRace(creator.access_token, seedRace({ properties: { vehicle_type: 'car' } }));
    const id = created.id as number;
    await call(`/api/racing/events/${id}/join`, { token: racer.access_token });
    const res = await SELF.fetch(`https://edge.test/sse/racing/${id}?token=${outsider.access_token}`);
    expect(res.status).toBe(200);
    const sse = new SseReader(res);
    expect((await sse.next()).event).toBe('connected');

    const send = (token: string, frame: unknown) =>
      call(`/api/racing/events/${id}/messages`, {
        token,
        raw: JSON.stringify(frame),
        headers: { 'Content-Type': 'application/json' },
      });
    const started = await send(creator.access_token, { type: 'racing_start', id: 's1', data: { event_id: id } });
    expect(started.status).toBe(200);
    expect(started.body).toEqual([]);
    const msg = await sse.next();
    expect(msg.event).toBe('racing_started');
    expect(JSON.parse(msg.data)).toMatchObject({ type: 'racing_started', data: { event_id: id, vehicle_type: 'car' } });

    const [x, y] = created.route_geometry.coordinates[0] as [number, number];
    expect(
      (
        await send(racer.access_token, {
          type: 'racing_update',
          data: { event_id: id, position: { x, y }, speed: 50, checkpoint_reached: 0 },
        })
      ).body,
    ).toEqual([]);
    expect(JSON.parse((await sse.next()).data).data.players[0]).toMatchObject({ player_id: racer.user_id, position: { x, y } });

    const refused = await send(outsider.access_token, {
      type: 'racing_update',
      id: 'o1',
      data: { event_id: id, position: { x, y } },
    });
    expect(refused.body).toEqual([
      expect.objectContaining({
        type: 'error',
        id: 'o1',
        code: 'AUTHORIZATION_FAILED',
        data: expect.objectContaining({ details: { field: 'player', issue: 'not_participant' } }),
      }),
    ]);
    const wrong = await send(racer.access_token, {
      type: 'racing_update',
      id: 'w',
      data: { event_id: id + 1, position: { x, y } },
    });
    expect(wrong.body[0]).toMatchObject({ id: 'w', data: { details: { field: 'event_id', issue: 'wrong_event' } } });
    const malformed = await send(racer.access_token, ['not', 'a', 'frame']);
    expect(malformed.body[0]).toMatchObject({ type: 'error', code: 'INVALID_REQUEST' });
    const ping = await send(racer.access_token, { type: 'ping', id: 'p1' });
    expect(ping.body).toEqual([{ type: 'pong', id: 'p1' }]);
    await sse.cancel();
  });

  it('unrolls laps for a circuit and counts the whole distance', async () => {
    const creator = await registerUser();
    const body = seedRace({ end_point: { x: 12345, y: 100 }, properties: { vehicle_type: 'sports_car', laps: 2 } });
    const created = await createRace(creator.access_token, body);
    const view = await raceView('default', created.id);
    expect(view.checkpoints).toEqual([...created.checkpoints.slice(0, 1), view.finish, created.checkpoints[0]]);
    expect(created.checkpoints).toEqual(view.checkpoints);
    const lap = findRoute({
      worldSeed: 12345,
      floor: 0,
      start: { x: 12345, y: 100 },
      end: { x: 12345, y: 100 },
      checkpoints: [{ x: 14000, y: 150 }],
    });
    expect(view.route_length).toBeCloseTo(2 * lap.length, 6);
    expect(view.route_geometry).toEqual(lap.route);
  });
});
