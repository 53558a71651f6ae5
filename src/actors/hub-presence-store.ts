/**
 * A hub shard's SQLite for the users whose home shard it is (`homeShard`): their presence and how many sockets
 * each has in each room (`*`: all of them), which decide the first-in / last-out `presence_update`.
 */
import { announcesPresence, type PresenceState, presenceChanged, type RoomPresenceEntry } from '../domain/hub';

type Row = Record<string, SqlStorageValue>;

export class HubPresenceStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_user_rooms (
      tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, room_id TEXT NOT NULL, sockets INTEGER NOT NULL,
      PRIMARY KEY (tenant_id, user_id, room_id))`);
    // The room's presence read (`GET /api/hub/rooms/{roomId}/presence`) pages by user id within a room.
    sql.exec('CREATE INDEX IF NOT EXISTS hub_user_rooms_room ON hub_user_rooms (tenant_id, room_id, user_id)');
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_presence (
      tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL,
      updated_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, user_id))`);
  }

  /** Counts the user's sockets per room (`*`: all of them); whether members should be told, and the user's presence. */
  userRoomChange(
    tenantId: string,
    userId: string,
    roomId: string,
    delta: number,
  ): { announce: boolean; presence: PresenceState } {
    const count = this.userRoomDelta(tenantId, userId, roomId, delta);
    const presence = this.presence(tenantId, userId);
    if (roomId === '*' && count === 0) this.clearPresence(tenantId, userId);
    return { announce: announcesPresence(roomId, delta, count), presence };
  }

  /** Records a presence change; `changed` is false when nothing changed (one announcement per change). */
  presenceChange(tenantId: string, userId: string, next: PresenceState, now: number): { changed: boolean; rooms: string[] } {
    const changed = presenceChanged(this.presence(tenantId, userId), next);
    if (changed) this.setPresence(tenantId, userId, next, now);
    return { changed, rooms: this.userRooms(tenantId, userId).filter((r) => r !== '*') };
  }

  /** Adds `delta` to the user's sockets in a room; the new count (one statement, and a second when it reaches 0). */
  userRoomDelta(tenantId: string, userId: string, roomId: string, delta: number): number {
    const next =
      this.sql
        .exec<{ sockets: number }>(
          `INSERT INTO hub_user_rooms (tenant_id, user_id, room_id, sockets) VALUES (?, ?, ?, max(0, ?))
           ON CONFLICT (tenant_id, user_id, room_id) DO UPDATE SET sockets = max(0, sockets + ?)
           RETURNING sockets`,
          tenantId,
          userId,
          roomId,
          delta,
          delta,
        )
        .toArray()[0]?.sockets ?? 0;
    if (next === 0) {
      this.sql.exec('DELETE FROM hub_user_rooms WHERE tenant_id = ? AND user_id = ? AND room_id = ?', tenantId, userId, roomId);
    }
    return next;
  }

  userRooms(tenantId: string, userId: string): string[] {
    return this.sql
      .exec<{ room_id: string }>('SELECT room_id FROM hub_user_rooms WHERE tenant_id = ? AND user_id = ?', tenantId, userId)
      .toArray()
      .map((r) => r.room_id);
  }

  /** This home shard's users in a room, after user id `after`, by user id, with their presence. */
  roomPresence(tenantId: string, roomId: string, after: string, limit: number): RoomPresenceEntry[] {
    return this.sql
      .exec<Row>(
        `SELECT r.user_id, r.sockets, p.status, p.metadata, p.updated_at FROM hub_user_rooms r
         LEFT JOIN hub_presence p ON p.tenant_id = r.tenant_id AND p.user_id = r.user_id
         WHERE r.tenant_id = ? AND r.room_id = ? AND r.user_id > ? ORDER BY r.user_id LIMIT ?`,
        tenantId,
        roomId,
        after,
        limit,
      )
      .toArray()
      .map((r) => ({
        userId: r.user_id as string,
        status: (r.status ?? 'online') as PresenceState['status'],
        metadata: r.metadata ? (JSON.parse(r.metadata as string) as Record<string, unknown>) : {},
        updatedAt: typeof r.updated_at === 'number' ? new Date(r.updated_at).toISOString() : null,
        connections: r.sockets as number,
      }));
  }

  presence(tenantId: string, userId: string): PresenceState {
    const r = this.sql
      .exec<Row>('SELECT status, metadata FROM hub_presence WHERE tenant_id = ? AND user_id = ?', tenantId, userId)
      .toArray()[0];
    return r
      ? { status: r.status as PresenceState['status'], metadata: JSON.parse(r.metadata as string) as Record<string, unknown> }
      : { status: 'online', metadata: {} };
  }

  setPresence(tenantId: string, userId: string, state: PresenceState, now: number): void {
    this.sql.exec(
      'INSERT OR REPLACE INTO hub_presence (tenant_id, user_id, status, metadata, updated_at) VALUES (?, ?, ?, ?, ?)',
      tenantId,
      userId,
      state.status,
      JSON.stringify(state.metadata),
      now,
    );
  }

  clearPresence(tenantId: string, userId: string): void {
    this.sql.exec('DELETE FROM hub_presence WHERE tenant_id = ? AND user_id = ?', tenantId, userId);
  }
}
