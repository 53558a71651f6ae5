/**
 * The `activities` table: every collaboration room's activity feed (seed 001), written behind by the Room actor
 * and read page by page over REST, newest first. The page query is the one src/domain/activity.ts describes.
 */
import { type Activity, type ActivityCursor, type ActivityPage, type ActivityType, encodeCursor } from '../domain/activity';

/** One outbox row of the Room actor: an activity and the room it happened in. */
export interface ActivityRow {
  tenantId: string;
  roomId: string;
  activity: Activity;
}

/** Idempotent by (tenant, room, activity id): a replayed flush changes nothing. */
export function upsertActivity(db: D1Database, row: ActivityRow): D1PreparedStatement {
  const a = row.activity;
  return db
    .prepare(
      `INSERT INTO activities (tenant_id, room_id, id, type, user_id, username, data, timestamp)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (tenant_id, room_id, id) DO NOTHING`,
    )
    .bind(row.tenantId, row.roomId, a.id, a.type, a.userId, a.username, JSON.stringify(a.data ?? null), a.timestamp);
}

interface Row {
  id: string;
  type: string;
  user_id: string;
  username: string;
  data: string;
  timestamp: number;
}

/** One page of a room's feed, newest first, strictly older than `cursor`. */
export async function listActivities(
  db: D1Database,
  tenantId: string,
  roomId: string,
  page: { cursor: ActivityCursor | null; limit: number },
): Promise<ActivityPage> {
  const { cursor, limit } = page;
  // One more than asked tells whether an older page exists.
  const stmt = cursor
    ? db
        .prepare(
          `SELECT id, type, user_id, username, data, timestamp FROM activities
           WHERE tenant_id = ?1 AND room_id = ?2 AND (timestamp < ?3 OR (timestamp = ?3 AND id < ?4))
           ORDER BY timestamp DESC, id DESC LIMIT ?5`,
        )
        .bind(tenantId, roomId, cursor.timestamp, cursor.id, limit + 1)
    : db
        .prepare(
          `SELECT id, type, user_id, username, data, timestamp FROM activities
           WHERE tenant_id = ?1 AND room_id = ?2 ORDER BY timestamp DESC, id DESC LIMIT ?3`,
        )
        .bind(tenantId, roomId, limit + 1);
  const { results } = await stmt.all<Row>();
  const items: Activity[] = results.slice(0, limit).map((r) => ({
    id: r.id,
    type: r.type as ActivityType,
    userId: r.user_id,
    username: r.username,
    data: JSON.parse(r.data),
    timestamp: r.timestamp,
  }));
  const last = items.at(-1);
  return {
    items,
    nextCursor: results.length > limit && last ? encodeCursor({ timestamp: last.timestamp, id: last.id }) : null,
  };
}
