import { type ChunkRef, formatChunkId, type Point } from '../domain/ring';
import { type StructurePatch, type StructurePlacement, type StructureType, structureChunk } from '../domain/structures';
import { batchWithBump, bumpStatement, type ChunkChange, type ChunkTouch } from './chunks';
import { mergeProperties } from './zones';

/** A row of `structures` (migrations/0004_world.sql). */
export interface StructureRow {
  id: number;
  tenant_id: string;
  owner_id: number;
  structure_type: StructureType;
  floor: number;
  chunk_index: number;
  position_x: number;
  position_y: number;
  rotation: number;
  scale: number;
  zone_id: number | null;
  properties: string;
  model_data: string;
  created_at: string;
  updated_at: string;
}

/** A structure as REST answers it (seed 000's fields plus placement details and timestamps). */
export interface Structure {
  id: number;
  structure_type: StructureType;
  position: Point;
  floor: number;
  rotation: number;
  scale: number;
  zone_id: number | null;
  owner_id: number;
  properties: Record<string, unknown>;
  model_data: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export const structureFromRow = (r: StructureRow): Structure => ({
  id: r.id,
  structure_type: r.structure_type,
  position: { x: r.position_x, y: r.position_y },
  floor: r.floor,
  rotation: r.rotation,
  scale: r.scale,
  zone_id: r.zone_id,
  owner_id: r.owner_id,
  properties: JSON.parse(r.properties) as Record<string, unknown>,
  model_data: JSON.parse(r.model_data) as Record<string, unknown>,
  created_at: r.created_at,
  updated_at: r.updated_at,
});

export const rowChunk = (r: StructureRow): ChunkRef => ({ floor: r.floor, chunkIndex: r.chunk_index });

export function findStructure(db: D1Database, tenantId: string, id: number): Promise<StructureRow | null> {
  return db.prepare('SELECT * FROM structures WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id).first<StructureRow>();
}

export async function structuresInChunk(db: D1Database, tenantId: string, ref: ChunkRef): Promise<StructureRow[]> {
  const { results } = await db
    .prepare('SELECT * FROM structures WHERE tenant_id = ?1 AND floor = ?2 AND chunk_index = ?3 ORDER BY id')
    .bind(tenantId, ref.floor, ref.chunkIndex)
    .all<StructureRow>();
  return results;
}

/** The tenant's structures of many chunks, keyed by chunk id, in one query. */
export async function structuresInChunks(
  db: D1Database,
  tenantId: string,
  refs: readonly ChunkRef[],
): Promise<Map<string, StructureRow[]>> {
  const out = new Map(refs.map((r) => [formatChunkId(r), [] as StructureRow[]]));
  if (refs.length === 0) return out;
  const { results } = await db
    .prepare(
      `SELECT s.* FROM json_each(?2) AS j
         JOIN structures AS s ON s.tenant_id = ?1 AND s.floor = json_extract(j.value, '$[0]')
                             AND s.chunk_index = json_extract(j.value, '$[1]')
        ORDER BY s.id`,
    )
    .bind(tenantId, JSON.stringify(refs.map((r) => [r.floor, r.chunkIndex])))
    .all<StructureRow>();
  for (const row of results) out.get(formatChunkId(rowChunk(row)))?.push(row);
  return out;
}

export async function structuresOfZone(db: D1Database, tenantId: string, zoneId: number): Promise<StructureRow[]> {
  const { results } = await db
    .prepare('SELECT * FROM structures WHERE tenant_id = ?1 AND zone_id = ?2 ORDER BY id')
    .bind(tenantId, zoneId)
    .all<StructureRow>();
  return results;
}

export interface StructureWrite {
  structure: Structure;
  /** Chunks whose version moved: for `chunk_updated` notices. */
  changes: ChunkChange[];
}

const touch = (ref: ChunkRef, change: ChunkTouch['change']): ChunkTouch => ({ ...ref, what: 'structures', change });

export async function createStructure(
  db: D1Database,
  tenantId: string,
  ownerId: number,
  p: StructurePlacement,
  modelData: Record<string, unknown>,
  now: string,
): Promise<StructureWrite> {
  const chunk = structureChunk(p);
  const insert = db
    .prepare(
      `INSERT INTO structures (tenant_id, owner_id, structure_type, floor, chunk_index, position_x, position_y,
                               rotation, scale, zone_id, properties, model_data, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
       RETURNING *`,
    )
    .bind(
      tenantId,
      ownerId,
      p.structure_type,
      p.floor,
      chunk.chunkIndex,
      p.position.x,
      p.position.y,
      p.rotation,
      p.scale,
      p.zone_id,
      JSON.stringify(p.properties),
      JSON.stringify(modelData),
      now,
    );
  const t = [touch(chunk, 'added')];
  const { results, changes } = await batchWithBump<StructureRow>(db, [insert], bumpStatement(db, tenantId, t, now, true), t);
  return { structure: structureFromRow(results[0]!.results[0]!), changes };
}

export async function updateStructure(
  db: D1Database,
  row: StructureRow,
  patch: StructurePatch,
  modelData: Record<string, unknown> | undefined,
  now: string,
): Promise<StructureWrite> {
  const position = patch.position ?? { x: row.position_x, y: row.position_y };
  const before = rowChunk(row);
  const after = structureChunk({ position, floor: row.floor });
  const properties = patch.properties
    ? mergeProperties(JSON.parse(row.properties) as Record<string, unknown>, patch.properties, 'INVALID_STRUCTURE')
    : (JSON.parse(row.properties) as Record<string, unknown>);
  const update = db
    .prepare(
      `UPDATE structures SET chunk_index = ?3, position_x = ?4, position_y = ?5, rotation = ?6, scale = ?7,
              properties = ?8, model_data = ?9, updated_at = ?10
        WHERE tenant_id = ?1 AND id = ?2
        RETURNING *`,
    )
    .bind(
      row.tenant_id,
      row.id,
      after.chunkIndex,
      position.x,
      position.y,
      patch.rotation ?? row.rotation,
      patch.scale ?? row.scale,
      JSON.stringify(properties),
      modelData ? JSON.stringify(modelData) : row.model_data,
      now,
    );
  // Moving to another chunk removes it from one and adds it to the other.
  const t =
    after.chunkIndex === before.chunkIndex ? [touch(before, 'modified')] : [touch(before, 'removed'), touch(after, 'added')];
  const { results, changes } = await batchWithBump<StructureRow>(db, [update], bumpStatement(db, row.tenant_id, t, now, true), t);
  return { structure: structureFromRow(results[0]!.results[0] ?? row), changes };
}

export async function deleteStructure(
  db: D1Database,
  row: StructureRow,
  now: string,
): Promise<{ deleted: boolean; changes: ChunkChange[] }> {
  const t = [touch(rowChunk(row), 'removed')];
  const del = db.prepare('DELETE FROM structures WHERE tenant_id = ?1 AND id = ?2').bind(row.tenant_id, row.id);
  const { results, changes } = await batchWithBump(db, [del], bumpStatement(db, row.tenant_id, t, now, true), t);
  return { deleted: (results[0]?.meta.changes ?? 0) > 0, changes };
}
