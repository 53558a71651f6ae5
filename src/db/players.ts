import type { Floor, Point } from '../domain/ring';

/** A row of `players` (migrations/0002_identity.sql): created with the user at registration. */
export interface PlayerRow {
  user_id: number;
  tenant_id: string;
  username: string;
  level: number;
  experience_points: number;
  currency_amount: number;
  current_position_x: number;
  current_position_y: number;
  current_floor: number;
  created_at: string;
  last_login: string | null;
}

/** Seed 000's player profile. */
export interface PlayerProfile {
  id: number;
  username: string;
  level: number;
  experience_points: number;
  currency_amount: number;
  current_position: Point;
  current_floor: number;
  created_at: string;
  last_login: string | null;
}

export const profileFromRow = (r: PlayerRow): PlayerProfile => ({
  id: r.user_id,
  username: r.username,
  level: r.level,
  experience_points: r.experience_points,
  currency_amount: r.currency_amount,
  current_position: { x: r.current_position_x, y: r.current_position_y },
  current_floor: r.current_floor,
  created_at: r.created_at,
  last_login: r.last_login,
});

/** Tenant-scoped: a player of another tenant is simply not found. */
export function findPlayer(db: D1Database, tenantId: string, userId: number): Promise<PlayerRow | null> {
  return db.prepare('SELECT * FROM players WHERE tenant_id = ?1 AND user_id = ?2').bind(tenantId, userId).first<PlayerRow>();
}

/** Moves a player; false when there is no such player in the tenant. */
export async function setPlayerPosition(
  db: D1Database,
  tenantId: string,
  userId: number,
  position: Point,
  floor: Floor,
): Promise<boolean> {
  const r = await db
    .prepare(
      'UPDATE players SET current_position_x = ?3, current_position_y = ?4, current_floor = ?5 WHERE tenant_id = ?1 AND user_id = ?2',
    )
    .bind(tenantId, userId, position.x, position.y, floor)
    .run();
  return r.meta.changes > 0;
}
