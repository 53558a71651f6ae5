/**
 * D1 rows of seed 002's crafting (migration 0012): sessions and materials written behind by the crafting actors.
 * Each upsert only replaces an older version, so a flush replayed after a crash changes nothing.
 */
import type { CraftingSession, Materials } from '../domain/crafting';

export interface CraftingSessionRow {
  tenantId: string;
  version: number;
  session: CraftingSession;
}

export function upsertCraftingSession(db: D1Database, row: CraftingSessionRow): D1PreparedStatement {
  const s = row.session;
  return db
    .prepare(
      `INSERT INTO crafting_sessions (tenant_id, id, player_id, recipe_id, quantity, status, stage_index, quality, quality_tier,
         output, consumed, returned, created_at, started_at, finished_at, version)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
       ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, stage_index = excluded.stage_index,
         quality = excluded.quality, quality_tier = excluded.quality_tier, output = excluded.output,
         consumed = excluded.consumed, returned = excluded.returned, started_at = excluded.started_at,
         finished_at = excluded.finished_at, version = excluded.version
       WHERE excluded.version > crafting_sessions.version`,
    )
    .bind(
      row.tenantId,
      s.id,
      s.playerId,
      s.recipeId,
      s.quantity,
      s.status,
      s.stageIndex,
      s.quality,
      s.qualityTier,
      s.output ? JSON.stringify(s.output) : null,
      JSON.stringify(s.consumed),
      JSON.stringify(s.returned),
      s.createdAt,
      s.startedAt,
      s.finishedAt,
      row.version,
    );
}

export interface CraftingMaterialsRow {
  tenantId: string;
  playerId: string;
  materials: Materials;
  version: number;
  updatedAt: number;
}

export function upsertCraftingMaterials(db: D1Database, row: CraftingMaterialsRow): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO crafting_materials (tenant_id, player_id, materials, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (tenant_id, player_id) DO UPDATE SET materials = excluded.materials, version = excluded.version,
         updated_at = excluded.updated_at
       WHERE excluded.version > crafting_materials.version`,
    )
    .bind(row.tenantId, row.playerId, JSON.stringify(row.materials), row.version, row.updatedAt);
}

/** Sessions by status across every tenant (the `/metrics` gauges), from the written-behind rows. */
export async function countSessionsByStatus(db: D1Database): Promise<Record<string, number>> {
  const { results } = await db
    .prepare('SELECT status, COUNT(*) AS n FROM crafting_sessions GROUP BY status')
    .all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}
