import { type ChunkMetadata, defaultChunkMetadata } from '../domain/chunks';
import { type ChunkRef, formatChunkId } from '../domain/ring';

/**
 * Per-tenant chunk versions (table `chunks`, migrations/0004_world.sql). A chunk without a row is at
 * version 1, the generated baseline; every zone or structure change in it bumps the version by one.
 */

export type ChangeKind = 'added' | 'removed' | 'modified';

/** One chunk touched by one change: a zone touches every chunk its bbox covers, a structure its own. */
export interface ChunkTouch extends ChunkRef {
  what: 'structures' | 'zones';
  change: ChangeKind;
}

/** A chunk whose version moved, with what changed in it: the payload of a `chunk_updated` notice. */
export interface ChunkChange {
  chunk_id: string;
  floor: number;
  chunk_index: number;
  version: number;
  changes: { structures: ChangeKind[]; zones: ChangeKind[] };
}

interface ChunkRow {
  floor: number;
  chunk_index: number;
  version: number;
  last_modified: string;
  is_dirty: number;
}

const metadataFromRow = (r: ChunkRow): ChunkMetadata => ({
  id: formatChunkId({ floor: r.floor, chunkIndex: r.chunk_index }),
  floor: r.floor,
  chunk_index: r.chunk_index,
  version: r.version,
  last_modified: r.last_modified,
  is_dirty: r.is_dirty === 1,
});

/** Metadata of many chunks of a tenant, keyed by chunk id; chunks without a row get the default. */
export async function chunkMetadata(
  db: D1Database,
  tenantId: string,
  refs: readonly ChunkRef[],
): Promise<Map<string, ChunkMetadata>> {
  const out = new Map(refs.map((ref) => [formatChunkId(ref), defaultChunkMetadata(ref)]));
  if (refs.length === 0) return out;
  const { results } = await db
    .prepare(
      `SELECT c.floor, c.chunk_index, c.version, c.last_modified, c.is_dirty
         FROM json_each(?2) AS j
         JOIN chunks AS c ON c.tenant_id = ?1 AND c.floor = json_extract(j.value, '$[0]')
                         AND c.chunk_index = json_extract(j.value, '$[1]')`,
    )
    .bind(tenantId, JSON.stringify(refs.map((r) => [r.floor, r.chunkIndex])))
    .all<ChunkRow>();
  for (const row of results) {
    const meta = metadataFromRow(row);
    out.set(meta.id, meta);
  }
  return out;
}

export async function getChunkMetadata(db: D1Database, tenantId: string, ref: ChunkRef): Promise<ChunkMetadata> {
  return (await chunkMetadata(db, tenantId, [ref])).get(formatChunkId(ref))!;
}

/** Distinct chunks of a list of touches, in first-seen order. */
const distinctChunks = (touches: readonly ChunkTouch[]): ChunkRef[] => {
  const seen = new Map<string, ChunkRef>();
  for (const t of touches) {
    const id = formatChunkId(t);
    if (!seen.has(id)) seen.set(id, { floor: t.floor, chunkIndex: t.chunkIndex });
  }
  return [...seen.values()];
};

/**
 * One upsert statement that bumps every touched chunk (a new row starts at 2: the row-less default is 1) and
 * returns the new versions. With `afterWrite`, it only runs when the statement before it in the same batch
 * changed a row (`changes() > 0`), so a write that matched nothing (a concurrent delete) bumps nothing.
 * Returns null when nothing is touched.
 */
export function bumpStatement(
  db: D1Database,
  tenantId: string,
  touches: readonly ChunkTouch[],
  now: string,
  afterWrite = false,
): D1PreparedStatement | null {
  const chunks = distinctChunks(touches);
  if (chunks.length === 0) return null;
  // The WHERE is also what lets SQLite parse INSERT ... SELECT ... ON CONFLICT (its documented ambiguity).
  return db
    .prepare(
      `INSERT INTO chunks (tenant_id, floor, chunk_index, version, last_modified, is_dirty)
       SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), 2, ?2, 1
         FROM json_each(?3)
        WHERE ${afterWrite ? 'changes() > 0' : 'true'}
       ON CONFLICT (tenant_id, floor, chunk_index)
       DO UPDATE SET version = version + 1, last_modified = excluded.last_modified, is_dirty = 1
       RETURNING floor, chunk_index, version`,
    )
    .bind(tenantId, now, JSON.stringify(chunks.map((c) => [c.floor, c.chunkIndex])));
}

/** Joins the rows a bump statement returned with the touches that caused them. */
export function chunkChangesFrom(
  touches: readonly ChunkTouch[],
  rows: readonly { floor: number; chunk_index: number; version: number }[],
): ChunkChange[] {
  const versions = new Map(rows.map((r) => [formatChunkId({ floor: r.floor, chunkIndex: r.chunk_index }), r.version]));
  const out = new Map<string, ChunkChange>();
  for (const t of touches) {
    const id = formatChunkId(t);
    const version = versions.get(id);
    if (version === undefined) continue;
    let change = out.get(id);
    if (!change) {
      change = { chunk_id: id, floor: t.floor, chunk_index: t.chunkIndex, version, changes: { structures: [], zones: [] } };
      out.set(id, change);
    }
    const kinds = change.changes[t.what];
    if (!kinds.includes(t.change)) kinds.push(t.change);
  }
  return [...out.values()];
}

/**
 * Bumps the versions of the touched chunks now, on its own, and returns what changed where. Mutations in
 * src/db/zones.ts and src/db/structures.ts use `bumpStatement` inside their own batch instead, so that the
 * write and the bump commit together, and return the same `ChunkChange[]`.
 */
export async function bumpChunkVersions(
  db: D1Database,
  tenantId: string,
  touches: readonly ChunkTouch[],
  now = new Date().toISOString(),
): Promise<ChunkChange[]> {
  const stmt = bumpStatement(db, tenantId, touches, now);
  if (!stmt) return [];
  const { results } = await stmt.all<{ floor: number; chunk_index: number; version: number }>();
  return chunkChangesFrom(touches, results);
}

/** Runs a batch whose last statement may be a bump (or null) and returns the write's rows and the changes. */
export async function batchWithBump<T>(
  db: D1Database,
  writes: D1PreparedStatement[],
  bump: D1PreparedStatement | null,
  touches: readonly ChunkTouch[],
): Promise<{ results: D1Result<T>[]; changes: ChunkChange[] }> {
  const all = await db.batch<unknown>(bump ? [...writes, bump] : writes);
  const results = (bump ? all.slice(0, -1) : all) as D1Result<T>[];
  const bumped = bump ? (all[all.length - 1]!.results as { floor: number; chunk_index: number; version: number }[]) : [];
  return { results, changes: chunkChangesFrom(touches, bumped) };
}

// ---- generated content cache ------------------------------------------------------------------------------

/** A row of `generated_chunks`: content that is a pure function of its key, shared by every tenant. */
export interface GeneratedChunkRow {
  world_seed: number;
  floor: number;
  chunk_index: number;
  lod: string;
  chunk_seed: number;
  /** gzip + base64 of the ERCG geometry buffer. */
  geometry: string;
  /** JSON `{structures, zones}` of the generated content. */
  content: string;
  created_at: string;
}

/** Cached generated chunks of one world seed and LOD, keyed by chunk id. */
export async function findGeneratedChunks(
  db: D1Database,
  worldSeed: number,
  lod: string,
  refs: readonly ChunkRef[],
): Promise<Map<string, GeneratedChunkRow>> {
  const out = new Map<string, GeneratedChunkRow>();
  if (refs.length === 0) return out;
  const { results } = await db
    .prepare(
      `SELECT g.* FROM json_each(?3) AS j
         JOIN generated_chunks AS g ON g.world_seed = ?1 AND g.lod = ?2 AND g.floor = json_extract(j.value, '$[0]')
                                   AND g.chunk_index = json_extract(j.value, '$[1]')`,
    )
    .bind(worldSeed, lod, JSON.stringify(refs.map((r) => [r.floor, r.chunkIndex])))
    .all<GeneratedChunkRow>();
  for (const row of results) out.set(formatChunkId({ floor: row.floor, chunkIndex: row.chunk_index }), row);
  return out;
}

/**
 * Stores freshly generated chunks with INSERT OR IGNORE and reads back what is stored: when two requests
 * race, both answer with the first write, so every answer for a key is byte-identical.
 */
export async function storeGeneratedChunks(db: D1Database, rows: readonly GeneratedChunkRow[]): Promise<GeneratedChunkRow[]> {
  if (rows.length === 0) return [];
  const statements = rows.flatMap((r) => [
    db
      .prepare(
        `INSERT OR IGNORE INTO generated_chunks (world_seed, floor, chunk_index, lod, chunk_seed, geometry, content, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
      )
      .bind(r.world_seed, r.floor, r.chunk_index, r.lod, r.chunk_seed, r.geometry, r.content, r.created_at),
    db
      .prepare('SELECT * FROM generated_chunks WHERE world_seed = ?1 AND floor = ?2 AND chunk_index = ?3 AND lod = ?4')
      .bind(r.world_seed, r.floor, r.chunk_index, r.lod),
  ]);
  const results = await db.batch<GeneratedChunkRow>(statements);
  return rows.map((r, i) => results[2 * i + 1]!.results[0] ?? r);
}
