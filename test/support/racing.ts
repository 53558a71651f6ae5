import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { raceKey } from '../../src/actors/keys';
import type { RaceView } from '../../src/actors/race';
import type { ActorIdentity } from '../../src/core/dialect';
import { type Point, ringDistance } from '../../src/domain/ring';
import type { Reply } from '../../src/errors';
import { type Body, call, type Session } from './api';

/** Seed 000's example race. */
export const seedRace = (extra: Record<string, unknown> = {}) => ({
  name: 'Downtown Street Race',
  start_point: { x: 12345, y: 100 },
  end_point: { x: 15678, y: 200 },
  checkpoints: [{ x: 14000, y: 150 }],
  floor: 0,
  route_generation: 'auto',
  properties: { vehicle_type: 'sports_car', laps: 1 },
  ...extra,
});

export const identityOf = (s: Session, tenant = 'default'): ActorIdentity => ({
  userId: String(s.user_id),
  tenantId: tenant,
  role: s.role as ActorIdentity['role'],
  username: s.username,
});

export const raceStub = (tenant: string, id: number) => env.RACE.getByName(raceKey(tenant, id));

/** Unwraps an actor reply, failing the test with the error when there is one. */
export async function value<T>(p: Promise<unknown>): Promise<T> {
  const r = (await p) as Reply<T>;
  if (!r.ok) throw new Error(`actor refused: ${JSON.stringify(r.error)}`);
  return r.value;
}

export async function createRace(token: string, body: unknown = seedRace()): Promise<Body> {
  const r = await call('/api/racing/events', { token, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

export async function raceView(tenant: string, id: number): Promise<RaceView> {
  return value<RaceView>(raceStub(tenant, id).state());
}

export interface Sample {
  position: Point;
  /** ms since the start. */
  t: number;
  checkpoint: number;
  speedKmh: number;
}

/**
 * A drive along the race's route: positions every ≤ 20 m, checkpoints reported as they come within 15 m, the run
 * ending at the first position within 30 m of the finish (where the server counts it). Times follow `knots`
 * (ms at each checkpoint, then at the finish; linear in distance between them) or a constant speed in m/s.
 */
export function drive(
  view: RaceView,
  timing: { knots: number[] } | { speed: number },
): {
  samples: Sample[];
  checkpointTimes: number[];
  finish: number;
} {
  const coords = view.route_geometry.coordinates.map(([x, y]) => ({ x, y }));
  const pts: Point[] = [coords[0]!];
  const dist: number[] = [0];
  for (let i = 0; i + 1 < coords.length; i++) {
    const a = coords[i]!;
    const b = coords[i + 1]!;
    const len = ringDistance(a, b);
    const n = Math.max(1, Math.ceil(len / 20));
    for (let k = 1; k <= n; k++) {
      pts.push({ x: a.x + ((b.x - a.x) * k) / n, y: a.y + ((b.y - a.y) * k) / n });
      dist.push(dist[dist.length - 1]! + len / n);
    }
  }
  const cps = view.checkpoints;
  const marks: number[] = [];
  let finishIdx = -1;
  for (let i = 0; i < pts.length; i++) {
    if (marks.length < cps.length && ringDistance(pts[i]!, cps[marks.length]!) <= 15) marks.push(i);
    if (marks.length === cps.length && ringDistance(pts[i]!, view.finish) <= 30) {
      finishIdx = i;
      break;
    }
  }
  if (marks.length !== cps.length || finishIdx < 0) throw new Error('the route does not pass its checkpoints and finish');
  const knotIdx = [0, ...marks, finishIdx];
  const time = (i: number): number => {
    if ('speed' in timing) return Math.round((dist[i]! / timing.speed) * 1000);
    const knotT = [0, ...timing.knots];
    let k = 0;
    while (k + 1 < knotIdx.length - 1 && knotIdx[k + 1]! < i) k++;
    const [i0, i1] = [knotIdx[k]!, knotIdx[k + 1]!];
    if (i === i1) return knotT[k + 1]!;
    const f = (dist[i]! - dist[i0]!) / (dist[i1]! - dist[i0]! || 1);
    return Math.round(knotT[k]! + f * (knotT[k + 1]! - knotT[k]!));
  };
  const samples: Sample[] = [];
  for (let i = 0; i <= finishIdx; i++) {
    const t = time(i);
    const prev = samples[samples.length - 1];
    const speed = prev && t > prev.t ? (ringDistance(prev.position, pts[i]!) / ((t - prev.t) / 1000)) * 3.6 : 0;
    samples.push({ position: pts[i]!, t, checkpoint: marks.filter((m) => m <= i).length, speedKmh: Math.round(speed) });
  }
  return { samples, checkpointTimes: marks.map(time), finish: time(finishIdx) };
}

/**
 * The samples a race must see to count a drive: the start, each checkpoint as it is reached, and the finish. A
 * straight line between two of them is never longer than the route between them, so every step stays as plausible
 * as the full drive (the speed check) while the race takes a handful of updates instead of one every 20 m.
 */
export const keySamples = (samples: Sample[]): Sample[] =>
  samples.filter((s, i) => i === 0 || i === samples.length - 1 || s.checkpoint !== samples[i - 1]?.checkpoint);

/** Sends a drive to the race actor as the relaying chunk actor would, with server clock `startAt + t`. */
export async function race(tenant: string, id: number, who: ActorIdentity, startAt: number, samples: Sample[]): Promise<void> {
  const stub = raceStub(tenant, id);
  for (const s of samples) {
    await value(
      stub.update(
        who,
        { event_id: id, position: s.position, speed: s.speedKmh, checkpoint_reached: s.checkpoint },
        { at: startAt + s.t },
      ),
    );
  }
}
