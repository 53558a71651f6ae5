import { chunksInXRange } from '../domain/chunks';
import type { Bbox } from '../domain/geometry';
import { CHUNK_LENGTH, type ChunkRef, chunkStartX, type Floor, formatChunkId, MAX_ABS_Y } from '../domain/ring';
import {
  type AreaQuery,
  type PolygonGeometry,
  parseProperties,
  parseZoneAreaQuery,
  parseZoneGeometry,
  type ZoneDraft,
  type ZonePatch,
  type ZoneShape,
  type ZoneType,
} from '../domain/zones';
import { batchWithBump, bumpStatement, type ChangeKind, type ChunkChange, type ChunkTouch } from './chunks';

/** A row of `zones` (migrations/0004_world.sql). */
export interface ZoneRow {
  id: number;
  tenant_id: string;
  owner_id: number;
  name: string;
  zone_type: ZoneType;
  floor: number;
  geometry: string;
  properties: string;
  area: number;
  bbox_x_min: number;
  bbox_x_max: number;
  bbox_y_min: number;
  bbox_y_max: number;
  created_at: string;
  updated_at: string;
}

/** A zone as REST answers it (seed 000's fields plus floor, area and timestamps). */
export interface Zone {
  id: number;
  name: string;
  zone_type: ZoneType;
  floor: number;
  geometry: PolygonGeometry;
  owner_id: number;
  properties: Record<string, unknown>;
  area: number;
  created_at: string;
  updated_at: string;
}

export const zoneFromRow = (r: ZoneRow): Zone => ({
  id: r.id,
  name: r.name,
  zone_type: r.zone_type,
  floor: r.floor,
  geometry: JSON.parse(r.geometry) as PolygonGeometry,
  owner_id: r.owner_id,
  properties: JSON.parse(r.properties) as Record<string, unknown>,
  area: r.area,
  created_at: r.created_at,
  updated_at: r.updated_at,
});

/** The stored geometry re-validated into a shape for point-in-zone tests (stored geometry is canonical). */
export const zoneShapeOf = (r: ZoneRow): ZoneShape => parseZoneGeometry(JSON.parse(r.geometry));

const rowBbox = (r: ZoneRow): Bbox => ({ xMin: r.bbox_x_min, xMax: r.bbox_x_max, yMin: r.bbox_y_min, yMax: r.bbox_y_max });

/** The chunks a zone's bbox covers: the ones whose version bumps when the zone changes. */
export const zoneChunks = (floor: Floor, bbox: Bbox): ChunkRef[] => chunksInXRange(floor, bbox.xMin, bbox.xMax);

const touches = (floor: Floor, bbox: Bbox, change: ChangeKind): ChunkTouch[] =>
  zoneChunks(floor, bbox).map((c) => ({ ...c, what: 'zones', change }));

/** Tenant-scoped: another tenant's zone is simply not found. */
export function findZone(db: D1Database, tenantId: string, id: number): Promise<ZoneRow | null> {
  return db.prepare('SELECT * FROM zones WHERE tenant_id = ?1 AND id = ?2').bind(tenantId, id).first<ZoneRow>();
}

export interface ZoneWrite {
  zone: Zone;
  /** Chunks whose version moved: for `chunk_updated` notices. */
  changes: ChunkChange[];
}

export async function createZone(
  db: D1Database,
  tenantId: string,
  ownerId: number,
  d: ZoneDraft,
  now: string,
): Promise<ZoneWrite> {
  const { bbox } = d.shape;
  const insert = db
    .prepare(
      `INSERT INTO zones (tenant_id, owner_id, name, zone_type, floor, geometry, properties, area,
                          bbox_x_min, bbox_x_max, bbox_y_min, bbox_y_max, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
       RETURNING *`,
    )
    .bind(
      tenantId,
      ownerId,
      d.name,
      d.zone_type,
      d.floor,
      JSON.stringify(d.shape.geometry),
      JSON.stringify(d.properties),
      d.shape.area,
      bbox.xMin,
      bbox.xMax,
      bbox.yMin,
      bbox.yMax,
      now,
    );
  const t = touches(d.floor, bbox, 'added');
  const { results, changes } = await batchWithBump<ZoneRow>(db, [insert], bumpStatement(db, tenantId, t, now, true), t);
  return { zone: zoneFromRow(results[0]!.results[0]!), changes };
}

/**
 * Shallow merge of a properties update: given keys replace, keys set to null are removed. The result is
 * re-checked against the size cap.
 */
export function mergeProperties(
  current: Record<string, unknown>,
  update: Record<string, unknown>,
  code: 'INVALID_ZONE' | 'INVALID_STRUCTURE',
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(update)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return parseProperties(merged, code);
}

/** Chunk touches of a geometry change: chunks left are 'removed', chunks entered 'added', the rest 'modified'. */
function moveTouches(floor: Floor, before: Bbox, after: Bbox): ChunkTouch[] {
  const key = (c: ChunkRef) => c.chunkIndex;
  const old = new Set(zoneChunks(floor, before).map(key));
  const now = new Set(zoneChunks(floor, after).map(key));
  const out: ChunkTouch[] = [];
  for (const i of old) out.push({ floor, chunkIndex: i, what: 'zones', change: now.has(i) ? 'modified' : 'removed' });
  for (const i of now) if (!old.has(i)) out.push({ floor, chunkIndex: i, what: 'zones', change: 'added' });
  return out;
}

export async function updateZone(db: D1Database, row: ZoneRow, patch: ZonePatch, now: string): Promise<ZoneWrite> {
  const bbox = patch.shape?.bbox ?? rowBbox(row);
  const properties = patch.properties
    ? mergeProperties(JSON.parse(row.properties) as Record<string, unknown>, patch.properties, 'INVALID_ZONE')
    : (JSON.parse(row.properties) as Record<string, unknown>);
  const update = db
    .prepare(
      `UPDATE zones SET name = ?3, zone_type = ?4, geometry = ?5, properties = ?6, area = ?7,
              bbox_x_min = ?8, bbox_x_max = ?9, bbox_y_min = ?10, bbox_y_max = ?11, updated_at = ?12
        WHERE tenant_id = ?1 AND id = ?2
        RETURNING *`,
    )
    .bind(
      row.tenant_id,
      row.id,
      patch.name ?? row.name,
      patch.zone_type ?? row.zone_type,
      patch.shape ? JSON.stringify(patch.shape.geometry) : row.geometry,
      JSON.stringify(properties),
      patch.shape?.area ?? row.area,
      bbox.xMin,
      bbox.xMax,
      bbox.yMin,
      bbox.yMax,
      now,
    );
  const t = patch.shape ? moveTouches(row.floor, rowBbox(row), bbox) : touches(row.floor, bbox, 'modified');
  const { results, changes } = await batchWithBump<ZoneRow>(db, [update], bumpStatement(db, row.tenant_id, t, now, true), t);
  const updated = results[0]!.results[0];
  // Deleted between the read and the write: report the row as it was; nothing was bumped.
  return { zone: zoneFromRow(updated ?? row), changes };
}

/**
 * Deletes a zone; its structures stay, with zone_id cleared (their chunks lie inside the zone's, which are
 * bumped anyway; they are also reported as 'modified' structures there). Returns false if it was gone.
 */
export async function deleteZone(
  db: D1Database,
  row: ZoneRow,
  detached: readonly ChunkRef[],
  now: string,
): Promise<{ deleted: boolean; changes: ChunkChange[] }> {
  const t: ChunkTouch[] = [
    ...touches(row.floor, rowBbox(row), 'removed'),
    ...detached.map((c): ChunkTouch => ({ ...c, what: 'structures', change: 'modified' })),
  ];
  const writes = [
    db
      .prepare('UPDATE structures SET zone_id = NULL, updated_at = ?3 WHERE tenant_id = ?1 AND zone_id = ?2')
      .bind(row.tenant_id, row.id, now),
    db.prepare('DELETE FROM zones WHERE tenant_id = ?1 AND id = ?2').bind(row.tenant_id, row.id),
  ];
  const { results, changes } = await batchWithBump(db, writes, bumpStatement(db, row.tenant_id, t, now, true), t);
  return { deleted: (results[1]?.meta.changes ?? 0) > 0, changes };
}

/** Most zones one area query answers; the query is ordered by id, so a client narrows the box for more. */
export const MAX_AREA_RESULTS = 1_000;

/**
 * The area query as SQL: one SELECT per x interval, each a range scan of the `zones_area` index
 * (tenant_id, floor, bbox_x_min), joined by UNION (which also drops a zone matched by both).
 */
export function areaQuerySql(q: AreaQuery): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const selects = q.intervals.map((iv) => {
    params.push(iv.xMinFrom, iv.xMinTo, iv.lo);
    const n = params.length;
    return `SELECT * FROM zones
             WHERE tenant_id = ?1 AND floor = ?2 AND bbox_x_min BETWEEN ?${n + 2} AND ?${n + 3}
               AND bbox_x_max >= ?${n + 4} AND bbox_y_min <= ?3 AND bbox_y_max >= ?4`;
  });
  return { sql: `${selects.join(' UNION ')} ORDER BY id LIMIT ${MAX_AREA_RESULTS}`, params };
}

function areaStatement(db: D1Database, tenantId: string, q: AreaQuery): D1PreparedStatement {
  const { sql, params } = areaQuerySql(q);
  return db.prepare(sql).bind(tenantId, q.floor, q.yMax, q.yMin, ...params);
}

export async function zonesInArea(db: D1Database, tenantId: string, q: AreaQuery): Promise<ZoneRow[]> {
  return (await areaStatement(db, tenantId, q).all<ZoneRow>()).results;
}

/**
 * The tenant's zones whose bbox covers each chunk (the same chunks whose versions the zone bumps), keyed by
 * chunk id; one batch (one round trip) for all chunks.
 */
export async function zonesInChunks(
  db: D1Database,
  tenantId: string,
  refs: readonly ChunkRef[],
): Promise<Map<string, ZoneRow[]>> {
  const out = new Map<string, ZoneRow[]>();
  if (refs.length === 0) return out;
  const statements = refs.map((ref) => {
    const start = chunkStartX(ref.chunkIndex);
    const q = parseZoneAreaQuery({
      x_min: start,
      x_max: start + CHUNK_LENGTH,
      y_min: -MAX_ABS_Y,
      y_max: MAX_ABS_Y,
      floor: ref.floor,
    });
    return areaStatement(db, tenantId, q);
  });
  const results = await db.batch<ZoneRow>(statements);
  refs.forEach((ref, i) => {
    // The index finds bboxes touching the chunk's closed x range; keep those `zoneChunks` counts (one rule).
    const rows = results[i]!.results.filter((r) => zoneChunks(r.floor, rowBbox(r)).some((c) => c.chunkIndex === ref.chunkIndex));
    out.set(formatChunkId(ref), rows);
  });
  return out;
}
