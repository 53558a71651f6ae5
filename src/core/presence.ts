/**
 * Presence: who is connected, coalesced per user. A user's first connection joins and their last one leaves,
 * so two tabs are one presence. Rows live in the actor's SQLite; the live sockets are the truth about who is
 * still there, so rows left behind by a crash (no close event) are never listed and are pruned on sight.
 */

export type PresenceStatus = 'online' | 'away' | 'offline';

export interface PresenceEntry {
  userId: string;
  username: string;
  status: PresenceStatus;
  metadata: Record<string, unknown>;
  /** ms since the epoch */
  joinedAt: number;
  lastSeen: number;
  connections: number;
}

export interface PresencePage {
  users: PresenceEntry[];
  total: number;
  nextCursor: string | null;
}

export type PresenceChange = { kind: 'join' | 'leave' | 'update'; entry: PresenceEntry };

/** Pure: what a connect or disconnect means for the user's presence, given their OTHER live connections. */
export function presenceTransition(event: 'connect' | 'disconnect', otherConnections: number): 'join' | 'leave' | null {
  if (otherConnections > 0) return null;
  return event === 'connect' ? 'join' : 'leave';
}

/** Largest presence page, and the bound on a user's metadata (it is sent to every member). */
export const PRESENCE_PAGE_MAX = 100;
export const PRESENCE_METADATA_MAX_BYTES = 2048;

interface Row extends Record<string, SqlStorageValue> {
  user_id: string;
  username: string;
  status: string;
  metadata: string;
  joined_at: number;
  last_seen: number;
}

export class PresenceStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS _core_presence (
      user_id TEXT PRIMARY KEY, username TEXT NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL,
      joined_at INTEGER NOT NULL, last_seen INTEGER NOT NULL)`);
  }

  join(userId: string, username: string, now: number): PresenceEntry {
    this.sql.exec(
      `INSERT INTO _core_presence (user_id, username, status, metadata, joined_at, last_seen) VALUES (?, ?, 'online', '{}', ?, ?)
       ON CONFLICT(user_id) DO UPDATE SET username = excluded.username, status = 'online', metadata = '{}',
         joined_at = excluded.joined_at, last_seen = excluded.last_seen`,
      userId,
      username,
      now,
      now,
    );
    return this.get(userId, 1)!;
  }

  leave(userId: string, now: number): PresenceEntry | null {
    const entry = this.get(userId, 0);
    this.sql.exec('DELETE FROM _core_presence WHERE user_id = ?', userId);
    return entry ? { ...entry, status: 'offline', lastSeen: now } : null;
  }

  update(
    userId: string,
    patch: { status?: PresenceStatus; metadata?: Record<string, unknown> },
    now: number,
  ): PresenceEntry | null {
    const current = this.get(userId, 0);
    if (!current) return null;
    const metadata = patch.metadata ?? current.metadata;
    this.sql.exec(
      'UPDATE _core_presence SET status = ?, metadata = ?, last_seen = ? WHERE user_id = ?',
      patch.status ?? current.status,
      JSON.stringify(metadata),
      now,
      userId,
    );
    return this.get(userId, current.connections);
  }

  get(userId: string, connections: number): PresenceEntry | null {
    const row = this.sql.exec<Row>('SELECT * FROM _core_presence WHERE user_id = ?', userId).toArray()[0];
    return row ? toEntry(row, connections) : null;
  }

  /**
   * A page of present users ordered by id, after `cursor`. `live` maps each user with an open connection to
   * its connection count; rows of users without one are stale and removed.
   */
  list(live: Map<string, number>, limit: number, cursor?: string): PresencePage {
    const rows = this.sql.exec<Row>('SELECT * FROM _core_presence ORDER BY user_id').toArray();
    const present: Row[] = [];
    for (const row of rows) {
      if (live.has(row.user_id)) present.push(row);
      else this.sql.exec('DELETE FROM _core_presence WHERE user_id = ?', row.user_id);
    }
    const size = Math.max(1, Math.min(PRESENCE_PAGE_MAX, Math.floor(limit)));
    const start = cursor ? present.filter((r) => r.user_id > cursor) : present;
    const page = start.slice(0, size);
    return {
      users: page.map((r) => toEntry(r, live.get(r.user_id) ?? 0)),
      total: present.length,
      nextCursor: start.length > size ? (page[page.length - 1]?.user_id ?? null) : null,
    };
  }
}

function toEntry(row: Row, connections: number): PresenceEntry {
  return {
    userId: row.user_id,
    username: row.username,
    status: row.status as PresenceStatus,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    joinedAt: row.joined_at,
    lastSeen: row.last_seen,
    connections,
  };
}
