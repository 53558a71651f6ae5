import type { ParticipantRow, RaceStatusRow, ResultWrite } from '../db/races';
import type { RaceStatus } from '../domain/race';
import { playerNumber, type RaceDefinition, type RaceResult, type Racer, type RaceState } from '../domain/race';

/**
 * A race's state in the Race actor's SQLite: the definition and the run (status, start) as `race_meta` rows, one
 * `race_players` row per racer, and each verified result's claim (submitted split times, telemetry) as a
 * `claim:<playerId>` meta row. Domain states are immutable, so a save writes only the racers whose objects
 * changed since the last save (or load).
 */

interface PlayerSql extends Record<string, SqlStorageValue> {
  player_id: string;
  username: string;
  joined_at: string;
  reached: number;
  checkpoint_times: string;
  finished_at: number | null;
  last_x: number | null;
  last_y: number | null;
  last_at: number | null;
  result_ms: number | null;
  claimed_ms: number | null;
  submitted_at: string | null;
}

interface RunState {
  status: RaceStatus;
  startAt: number | null;
}

interface Claim {
  checkpointTimes: string[];
  vehicleData: unknown;
}

export class RaceStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS race_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    sql.exec(`CREATE TABLE IF NOT EXISTS race_players (
      player_id TEXT PRIMARY KEY, username TEXT NOT NULL, joined_at TEXT NOT NULL, reached INTEGER NOT NULL DEFAULT 0,
      checkpoint_times TEXT NOT NULL DEFAULT '[]', finished_at INTEGER, last_x REAL, last_y REAL, last_at INTEGER,
      result_ms INTEGER, claimed_ms INTEGER, submitted_at TEXT, seq INTEGER NOT NULL DEFAULT 0)`);
  }

  /** The stored race, or null before its definition arrived. */
  load(): RaceState | null {
    const def = this.meta<RaceDefinition>('def');
    if (!def) return null;
    const run = this.meta<RunState>('run') ?? { status: 'pending', startAt: null };
    const racers = this.sql
      .exec<PlayerSql>('SELECT * FROM race_players ORDER BY joined_at, player_id')
      .toArray()
      .map((r) => racerOf(r, r.result_ms === null ? null : this.meta<Claim>(`claim:${r.player_id}`)));
    return { def, status: run.status, startAt: run.startAt, racers };
  }

  /** Writes `next`, given the state of the last save (or load). Call inside the turn of the change. */
  save(prev: RaceState | null, next: RaceState): void {
    // The definition is fixed when the race is created: a second create keeps the first.
    if (!prev)
      this.sql.exec("INSERT INTO race_meta (key, value) VALUES ('def', ?) ON CONFLICT(key) DO NOTHING", JSON.stringify(next.def));
    if (prev ? prev.status !== next.status || prev.startAt !== next.startAt : next.status !== 'pending') {
      this.putMeta('run', { status: next.status, startAt: next.startAt } satisfies RunState);
    }
    const before = new Map((prev?.racers ?? []).map((r) => [r.playerId, r]));
    for (const r of next.racers) {
      const old = before.get(r.playerId);
      if (old === r) continue;
      this.sql.exec(
        `INSERT INTO race_players (player_id, username, joined_at, reached, checkpoint_times, finished_at, last_x, last_y,
           last_at, result_ms, claimed_ms, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(player_id) DO UPDATE SET reached = excluded.reached, checkpoint_times = excluded.checkpoint_times,
           finished_at = excluded.finished_at, last_x = excluded.last_x, last_y = excluded.last_y, last_at = excluded.last_at,
           result_ms = excluded.result_ms, claimed_ms = excluded.claimed_ms, submitted_at = excluded.submitted_at`,
        r.playerId,
        r.username,
        r.joinedAt,
        r.progress.reached,
        JSON.stringify(r.progress.checkpointTimes),
        r.progress.finishedAt,
        r.last?.x ?? null,
        r.last?.y ?? null,
        r.lastAt,
        r.result?.finishMs ?? null,
        r.result?.claimedMs ?? null,
        r.result?.submittedAt ?? null,
      );
      if (r.result && r.result !== old?.result) {
        this.putMeta(`claim:${r.playerId}`, {
          checkpointTimes: r.result.checkpointTimes,
          vehicleData: r.result.vehicleData,
        } satisfies Claim);
      }
    }
  }

  private meta<T>(key: string): T | null {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM race_meta WHERE key = ?', key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : null;
  }

  private putMeta(key: string, value: unknown): void {
    this.sql.exec(
      'INSERT INTO race_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      key,
      JSON.stringify(value),
    );
  }
}

function racerOf(r: PlayerSql, claim: Claim | null): Racer {
  const result: RaceResult | null =
    r.result_ms === null
      ? null
      : {
          finishMs: r.result_ms,
          claimedMs: r.claimed_ms ?? r.result_ms,
          submittedAt: r.submitted_at ?? '',
          checkpointTimes: claim?.checkpointTimes ?? [],
          vehicleData: claim?.vehicleData ?? {},
        };
  return {
    playerId: r.player_id,
    username: r.username,
    joinedAt: r.joined_at,
    progress: { reached: r.reached, checkpointTimes: JSON.parse(r.checkpoint_times) as number[], finishedAt: r.finished_at },
    last: r.last_x === null || r.last_y === null ? null : { x: r.last_x, y: r.last_y },
    lastAt: r.last_at,
    result,
  };
}

// ---- D1 write-behind rows ---------------------------------------------------------------------------------

export const statusRow = (s: RaceState, updatedAt: string): RaceStatusRow => ({
  raceId: s.def.id,
  tenantId: s.def.tenantId,
  status: s.status,
  startTime: s.startAt === null ? null : new Date(s.startAt).toISOString(),
  updatedAt,
});

export const participantRow = (s: RaceState, r: Racer, seq: number): ParticipantRow => ({
  raceId: s.def.id,
  tenantId: s.def.tenantId,
  playerId: playerNumber(r.playerId),
  username: r.username,
  joinedAt: r.joinedAt,
  checkpointReached: r.progress.reached,
  position: r.last,
  finishMs: r.progress.finishedAt,
  seq,
});

export const resultRow = (s: RaceState, r: Racer): ResultWrite | null =>
  r.result === null
    ? null
    : {
        raceId: s.def.id,
        tenantId: s.def.tenantId,
        playerId: playerNumber(r.playerId),
        username: r.username,
        finishMs: r.result.finishMs,
        claimedMs: r.result.claimedMs,
        checkpointTimes: r.result.checkpointTimes,
        vehicleData: r.result.vehicleData,
        trackKey: s.def.trackKey,
        submittedAt: r.result.submittedAt,
      };
