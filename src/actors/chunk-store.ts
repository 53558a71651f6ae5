import type { StandingPlayer } from '../dialects/earthring';
import { playerIdOf } from '../domain/input';
import type { Point } from '../domain/ring';

/**
 * The Chunk actor's own SQLite tables, beside the actor: the players standing in the chunk, where personal
 * deliveries of players who left are forwarded, the far chunks players here watch and who watches this chunk
 * from afar, and the chunk's version. Connection state is not here: the core keeps it on each connection.
 */

export interface PlayerRow extends Record<string, SqlStorageValue> {
  user_id: string;
  username: string;
  x: number;
  y: number;
  floor: number;
  rotation: number;
  updated_at: number;
}

export class ChunkStore {
  /**
   * The players' rows as in SQLite, read once: a move reads and writes its player's row, and the table has no
   * other writer than this store. `forget()` drops it after a failed transaction (SQLite rolled back, the map not).
   */
  private rows: Map<string, PlayerRow> | null = null;
  /** Players whose row was moved in memory (`stagePlayer`) and not yet written (`writeStaged`). */
  private readonly staged = new Set<string>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS chunk_players (
      user_id TEXT PRIMARY KEY, username TEXT NOT NULL, x REAL NOT NULL, y REAL NOT NULL, floor INTEGER NOT NULL,
      rotation REAL NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL)`);
    sql.exec(
      'CREATE TABLE IF NOT EXISTS chunk_forward (user_id TEXT PRIMARY KEY, to_chunk TEXT NOT NULL, until INTEGER NOT NULL)',
    );
    sql.exec(`CREATE TABLE IF NOT EXISTS chunk_watching (
      user_id TEXT NOT NULL, chunk_id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (user_id, chunk_id))`);
    sql.exec('CREATE TABLE IF NOT EXISTS chunk_watchers (user_id TEXT PRIMARY KEY, watcher TEXT NOT NULL)');
    sql.exec('CREATE TABLE IF NOT EXISTS chunk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    // Hand-off state of earlier versions; it now lives on each connection.
    sql.exec('DROP TABLE IF EXISTS chunk_conns');
  }

  // ---- players standing here ------------------------------------------------------------------------------

  private cached(): Map<string, PlayerRow> {
    if (this.rows === null) {
      const rows = this.sql.exec<PlayerRow>('SELECT * FROM chunk_players ORDER BY user_id').toArray();
      this.rows = new Map(rows.map((r) => [r.user_id, { ...r }]));
    }
    return this.rows;
  }

  /** Drops the cached rows (after a transaction that failed): the next read goes to SQLite. */
  forget(): void {
    this.rows = null;
    this.staged.clear();
  }

  player(userId: string): PlayerRow | null {
    return this.cached().get(userId) ?? null;
  }

  players(): PlayerRow[] {
    return [...this.cached().values()].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
  }

  /** The players standing here whose user is among `online`, in the seed's shape. */
  standing(online: ReadonlySet<string>): StandingPlayer[] {
    return this.players()
      .filter((r) => online.has(r.user_id))
      .map((r) => ({
        player_id: Number(r.user_id),
        username: r.username,
        position: { x: r.x, y: r.y },
        floor: r.floor,
        rotation: r.rotation,
      }));
  }

  putPlayer(p: { userId: string; username: string; position: Point; floor: number; rotation: number }, now: number): void {
    this.sql.exec(
      `INSERT INTO chunk_players (user_id, username, x, y, floor, rotation, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(user_id) DO UPDATE SET username = excluded.username, x = excluded.x, y = excluded.y,
         floor = excluded.floor, rotation = excluded.rotation, updated_at = excluded.updated_at`,
      p.userId,
      p.username,
      p.position.x,
      p.position.y,
      p.floor,
      p.rotation,
      now,
    );
    const row: PlayerRow = {
      user_id: p.userId,
      username: p.username,
      x: p.position.x,
      y: p.position.y,
      floor: p.floor,
      rotation: p.rotation,
      updated_at: now,
    };
    this.cached().set(p.userId, row);
  }

  /** A move applied in memory at once (every read sees it); `writeStaged` writes it with the movement tick. */
  stagePlayer(p: { userId: string; username: string; position: Point; floor: number; rotation: number }, now: number): void {
    const { x, y } = p.position;
    this.cached().set(p.userId, {
      user_id: p.userId,
      username: p.username,
      x,
      y,
      floor: p.floor,
      rotation: p.rotation,
      updated_at: now,
    });
    this.staged.add(p.userId);
  }

  /** Writes the staged rows (each player's latest) and answers whose they were. */
  writeStaged(): string[] {
    const written: string[] = [];
    for (const userId of this.staged) {
      const r = this.cached().get(userId);
      if (!r) continue;
      this.putPlayer(
        { userId, username: r.username, position: { x: r.x, y: r.y }, floor: r.floor, rotation: r.rotation },
        r.updated_at,
      );
      written.push(userId);
    }
    this.staged.clear();
    return written;
  }

  /** A player without a row here (first connect, or a stale D1 row) stands where D1 says. */
  placeIfAbsent(p: { userId: string; username: string; position: Point; floor: number }, now: number): void {
    this.sql.exec(
      'INSERT OR IGNORE INTO chunk_players (user_id, username, x, y, floor, rotation, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)',
      p.userId,
      p.username,
      p.position.x,
      p.position.y,
      p.floor,
      now,
    );
    const rows = this.cached();
    if (!rows.has(p.userId)) {
      const { x, y } = p.position;
      rows.set(p.userId, { user_id: p.userId, username: p.username, x, y, floor: p.floor, rotation: 0, updated_at: now });
    }
  }

  setPosition(userId: string, position: Point, floor: number): void {
    this.sql.exec('UPDATE chunk_players SET x = ?, y = ?, floor = ? WHERE user_id = ?', position.x, position.y, floor, userId);
    const row = this.cached().get(userId);
    if (row) this.cached().set(userId, { ...row, x: position.x, y: position.y, floor });
  }

  /**
   * The write-behind of a player's position: the row as it is now (a player who left has a new owner and no row
   * here, so nothing is written).
   */
  positionFlush(db: D1Database, tenantId: string, userId: string): D1PreparedStatement {
    const row = this.player(userId);
    const playerId = playerIdOf(userId);
    if (!row || playerId === null) return db.prepare('SELECT 1');
    return db
      .prepare(
        'UPDATE players SET current_position_x = ?3, current_position_y = ?4, current_floor = ?5 WHERE tenant_id = ?1 AND user_id = ?2',
      )
      .bind(tenantId, playerId, row.x, row.y, row.floor);
  }

  removePlayer(userId: string): void {
    this.sql.exec('DELETE FROM chunk_players WHERE user_id = ?', userId);
    this.cached().delete(userId);
    this.staged.delete(userId);
  }

  // ---- forwarding after a hand-off ------------------------------------------------------------------------

  forwardOf(userId: string): { to_chunk: string; until: number } | null {
    return (
      this.sql
        .exec<{ to_chunk: string; until: number }>('SELECT to_chunk, until FROM chunk_forward WHERE user_id = ?', userId)
        .toArray()[0] ?? null
    );
  }

  setForward(userId: string, toChunk: string, until: number): void {
    this.sql.exec(
      'INSERT INTO chunk_forward (user_id, to_chunk, until) VALUES (?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET to_chunk = excluded.to_chunk, until = excluded.until',
      userId,
      toChunk,
      until,
    );
  }

  clearForward(userId: string): void {
    this.sql.exec('DELETE FROM chunk_forward WHERE user_id = ?', userId);
  }

  // ---- far chunks watched by players here, and far watchers of this chunk --------------------------------

  /** The chunks a player watches, most recent first. */
  watching(userId: string): string[] {
    return this.sql
      .exec<{ chunk_id: string }>('SELECT chunk_id FROM chunk_watching WHERE user_id = ? ORDER BY at DESC', userId)
      .toArray()
      .map((r) => r.chunk_id);
  }

  /** Notes a watched chunk (refreshing its time when `touch`); answers whether it was watched already. */
  watch(userId: string, chunkId: string, at: number, touch: boolean): boolean {
    const known =
      this.sql.exec('SELECT 1 FROM chunk_watching WHERE user_id = ? AND chunk_id = ?', userId, chunkId).toArray().length > 0;
    this.sql.exec(
      touch
        ? 'INSERT INTO chunk_watching (user_id, chunk_id, at) VALUES (?, ?, ?) ON CONFLICT(user_id, chunk_id) DO UPDATE SET at = excluded.at'
        : 'INSERT INTO chunk_watching (user_id, chunk_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      userId,
      chunkId,
      at,
    );
    return known;
  }

  /** Drops a player's watches beyond the `keep` most recent; answers the dropped chunk ids. */
  trimWatching(userId: string, keep: number): string[] {
    const dropped = this.sql
      .exec<{ chunk_id: string }>(
        'SELECT chunk_id FROM chunk_watching WHERE user_id = ? ORDER BY at DESC LIMIT -1 OFFSET ?',
        userId,
        keep,
      )
      .toArray()
      .map((r) => r.chunk_id);
    for (const id of dropped) this.sql.exec('DELETE FROM chunk_watching WHERE user_id = ? AND chunk_id = ?', userId, id);
    return dropped;
  }

  clearWatching(userId: string): void {
    this.sql.exec('DELETE FROM chunk_watching WHERE user_id = ?', userId);
  }

  /** Players watching this chunk from afar, grouped by the chunk they stand in. */
  watchersByChunk(): Map<string, string[]> {
    const byWatcher = new Map<string, string[]>();
    for (const w of this.sql.exec<{ user_id: string; watcher: string }>('SELECT user_id, watcher FROM chunk_watchers')) {
      byWatcher.set(w.watcher, [...(byWatcher.get(w.watcher) ?? []), w.user_id]);
    }
    return byWatcher;
  }

  setWatcher(userId: string, watcher: string | null): void {
    if (watcher === null) this.sql.exec('DELETE FROM chunk_watchers WHERE user_id = ?', userId);
    else
      this.sql.exec(
        'INSERT INTO chunk_watchers (user_id, watcher) VALUES (?, ?) ON CONFLICT(user_id) DO UPDATE SET watcher = excluded.watcher',
        userId,
        watcher,
      );
  }

  dropWatcher(userId: string, watcher: string): void {
    this.sql.exec('DELETE FROM chunk_watchers WHERE user_id = ? AND watcher = ?', userId, watcher);
  }

  // ---- the chunk's version --------------------------------------------------------------------------------

  version(): number {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM chunk_meta WHERE key = 'version'").toArray()[0];
    return row ? Number(row.value) : 1;
  }

  setVersion(version: number): void {
    this.sql.exec(
      "INSERT INTO chunk_meta (key, value) VALUES ('version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      String(version),
    );
  }
}
