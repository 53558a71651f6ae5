import type { RaceDefinition, RaceStatus, RouteGeneration } from '../domain/race';
import type { LeaderboardEntry, ResultRow, VehicleType } from '../domain/racing';
import { rankLeaderboard } from '../domain/racing';
import type { Point } from '../domain/ring';
import type { LineString } from '../domain/routes';

/**
 * D1 side of racing (migrations/0007_racing.sql). REST creates races here first; the Race actor then owns the
 * live state and writes status, progress and results back with the idempotent statements below.
 */

export type { RaceDefinition, RaceStatus, RouteGeneration } from '../domain/race';

/** A row of `races`. */
export interface RaceRow {
  id: number;
  tenant_id: string;
  creator_id: number;
  name: string;
  floor: number;
  start_x: number;
  start_y: number;
  end_x: number;
  end_y: number;
  checkpoints: string;
  route_generation: RouteGeneration;
  route_geometry: string;
  route_length: number;
  race_checkpoints: string;
  properties: string;
  vehicle_type: VehicleType;
  laps: number;
  track_key: string;
  status: RaceStatus;
  scheduled_start: string | null;
  start_time: string | null;
  created_at: string;
  updated_at: string;
}

export const definitionFromRow = (r: RaceRow): RaceDefinition => ({
  id: r.id,
  tenantId: r.tenant_id,
  creatorId: r.creator_id,
  name: r.name,
  floor: r.floor,
  startPoint: { x: r.start_x, y: r.start_y },
  endPoint: { x: r.end_x, y: r.end_y },
  checkpoints: JSON.parse(r.checkpoints) as Point[],
  routeGeneration: r.route_generation,
  route: JSON.parse(r.route_geometry) as LineString,
  routeLength: r.route_length,
  raceCheckpoints: JSON.parse(r.race_checkpoints) as Point[],
  properties: JSON.parse(r.properties) as Record<string, unknown>,
  vehicleType: r.vehicle_type,
  laps: r.laps,
  trackKey: r.track_key,
  scheduledStart: r.scheduled_start,
  createdAt: r.created_at,
});

/** Tenant-scoped: another tenant's race is simply not found. */
export function findRace(db: D1Database, tenantId: string, id: number): Promise<RaceRow | null> {
  return db.prepare('SELECT * FROM races WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id).first<RaceRow>();
}

/** Inserts a new race (status pending) and returns its definition with the id D1 assigned. */
export async function insertRace(db: D1Database, draft: Omit<RaceDefinition, 'id'>): Promise<RaceDefinition> {
  const row = await db
    .prepare(
      `INSERT INTO races (tenant_id, creator_id, name, floor, start_x, start_y, end_x, end_y, checkpoints, route_generation,
         route_geometry, route_length, race_checkpoints, properties, vehicle_type, laps, track_key, status, scheduled_start,
         created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 'pending', ?18, ?19, ?19)
       RETURNING id`,
    )
    .bind(
      draft.tenantId,
      draft.creatorId,
      draft.name,
      draft.floor,
      draft.startPoint.x,
      draft.startPoint.y,
      draft.endPoint.x,
      draft.endPoint.y,
      JSON.stringify(draft.checkpoints),
      draft.routeGeneration,
      JSON.stringify(draft.route),
      draft.routeLength,
      JSON.stringify(draft.raceCheckpoints),
      JSON.stringify(draft.properties),
      draft.vehicleType,
      draft.laps,
      draft.trackKey,
      draft.scheduledStart,
      draft.createdAt,
    )
    .first<{ id: number }>();
  if (!row) throw new Error('INSERT INTO races returned no id');
  return { ...draft, id: row.id };
}

// ---- write-behind rows (the actor's outbox) ---------------------------------------------------------------

export interface RaceStatusRow {
  raceId: number;
  tenantId: string;
  status: RaceStatus;
  startTime: string | null;
  updatedAt: string;
}

/** Status only moves forward (pending → active → finished): a replayed flush never moves it back. */
export const raceStatusStatement = (db: D1Database, r: RaceStatusRow): D1PreparedStatement =>
  db
    .prepare(
      `UPDATE races SET status = ?3, start_time = COALESCE(?4, start_time), updated_at = ?5
       WHERE id = ?1 AND tenant_id = ?2
         AND (CASE status WHEN 'pending' THEN 0 WHEN 'active' THEN 1 ELSE 2 END)
          <= (CASE ?3 WHEN 'pending' THEN 0 WHEN 'active' THEN 1 ELSE 2 END)`,
    )
    .bind(r.raceId, r.tenantId, r.status, r.startTime, r.updatedAt);

export interface ParticipantRow {
  raceId: number;
  tenantId: string;
  playerId: number;
  username: string;
  joinedAt: string;
  checkpointReached: number;
  position: Point | null;
  finishMs: number | null;
  /** The actor's event sequence of this change (0 for the join). */
  seq: number;
}

export const participantStatement = (db: D1Database, r: ParticipantRow): D1PreparedStatement =>
  db
    .prepare(
      `INSERT INTO race_participants (race_id, tenant_id, player_id, username, joined_at, checkpoint_reached, position_x,
         position_y, finish_ms, seq)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
       ON CONFLICT (race_id, player_id) DO UPDATE SET checkpoint_reached = excluded.checkpoint_reached,
         position_x = excluded.position_x, position_y = excluded.position_y, finish_ms = excluded.finish_ms,
         seq = excluded.seq
       WHERE excluded.seq >= race_participants.seq`,
    )
    .bind(
      r.raceId,
      r.tenantId,
      r.playerId,
      r.username,
      r.joinedAt,
      r.checkpointReached,
      r.position?.x ?? null,
      r.position?.y ?? null,
      r.finishMs,
      r.seq,
    );

export interface ResultWrite {
  raceId: number;
  tenantId: string;
  playerId: number;
  username: string;
  finishMs: number;
  claimedMs: number;
  checkpointTimes: string[];
  vehicleData: unknown;
  trackKey: string;
  submittedAt: string;
}

/** One result per player and race: a replay writes the same row again. */
export const resultStatement = (db: D1Database, r: ResultWrite): D1PreparedStatement =>
  db
    .prepare(
      `INSERT INTO race_results (race_id, tenant_id, player_id, username, finish_ms, claimed_ms, checkpoint_times,
         vehicle_data, track_key, submitted_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
       ON CONFLICT (race_id, player_id) DO NOTHING`,
    )
    .bind(
      r.raceId,
      r.tenantId,
      r.playerId,
      r.username,
      r.finishMs,
      r.claimedMs,
      JSON.stringify(r.checkpointTimes),
      JSON.stringify(r.vehicleData ?? {}),
      r.trackKey,
      r.submittedAt,
    );

// ---- reads ------------------------------------------------------------------------------------------------

/** The race's leaderboard (seed shape), fastest first, ties sharing a position. */
export async function raceLeaderboard(db: D1Database, tenantId: string, raceId: number): Promise<LeaderboardEntry[]> {
  const { results } = await db
    .prepare(
      'SELECT player_id, username, finish_ms, submitted_at FROM race_results WHERE tenant_id = ?1 AND race_id = ?2 ORDER BY finish_ms',
    )
    .bind(tenantId, raceId)
    .all<{ player_id: number; username: string; finish_ms: number; submitted_at: string }>();
  const rows: ResultRow[] = results.map((r) => ({
    player_id: r.player_id,
    username: r.username,
    finish_ms: r.finish_ms,
    submitted_at: Date.parse(r.submitted_at),
  }));
  return rankLeaderboard(rows);
}

/** Rank of a time among every result on the same track in the tenant (this race and earlier ones), ties sharing. */
export async function trackPosition(db: D1Database, tenantId: string, trackKey: string, finishMs: number): Promise<number> {
  const row = await db
    .prepare('SELECT COUNT(*) AS n FROM race_results WHERE tenant_id = ?1 AND track_key = ?2 AND finish_ms < ?3')
    .bind(tenantId, trackKey, finishMs)
    .first<{ n: number }>();
  return 1 + (row?.n ?? 0);
}
