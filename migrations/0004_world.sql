-- EarthRing's world (seed 000): zones, structures, per-tenant chunk versions, and the cache of
-- procedurally generated chunk content. Timestamps are ISO-8601 UTC text, as in 0002.

-- Zones: GeoJSON Polygon as JSON text (canonical form from src/domain/zones.ts), plus its bounding box
-- for the area index. bbox_x_min is in [0, 264,000,000); bbox_x_max = bbox_x_min + extent and exceeds the
-- circumference for a zone across the wrap point, so "x_min BETWEEN a AND b AND x_max >= lo" is a range scan.
CREATE TABLE zones (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  owner_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  zone_type TEXT NOT NULL,
  floor INTEGER NOT NULL,
  geometry TEXT NOT NULL,
  properties TEXT NOT NULL DEFAULT '{}',
  area REAL NOT NULL,
  bbox_x_min REAL NOT NULL,
  bbox_x_max REAL NOT NULL,
  bbox_y_min REAL NOT NULL,
  bbox_y_max REAL NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX zones_area ON zones (tenant_id, floor, bbox_x_min);
CREATE INDEX zones_owner ON zones (tenant_id, owner_id);

-- Structures: chunk_index is derived from position_x (src/domain/ring.ts chunkIndexOf) and indexed with
-- the floor, for GET /api/structures/chunk and chunk responses. A deleted zone leaves its structures
-- standing with zone_id NULL.
CREATE TABLE structures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  owner_id INTEGER NOT NULL,
  structure_type TEXT NOT NULL,
  floor INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  position_x REAL NOT NULL,
  position_y REAL NOT NULL,
  rotation REAL NOT NULL DEFAULT 0,
  scale REAL NOT NULL DEFAULT 1,
  zone_id INTEGER REFERENCES zones (id) ON DELETE SET NULL,
  properties TEXT NOT NULL DEFAULT '{}',
  model_data TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX structures_chunk ON structures (tenant_id, floor, chunk_index);
CREATE INDEX structures_zone ON structures (tenant_id, zone_id);

-- A chunk's version per tenant. No row means version 1 (the generated baseline, never changed); every
-- zone or structure change in the chunk bumps it. is_dirty: changed by players since generation.
CREATE TABLE chunks (
  tenant_id TEXT NOT NULL,
  floor INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  version INTEGER NOT NULL,
  last_modified TEXT NOT NULL,
  is_dirty INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, floor, chunk_index)
);

-- Generated content, a pure function of (world_seed, floor, chunk_index, lod): shared by every tenant on
-- that world seed, so it carries no tenant_id. Written with INSERT OR IGNORE: the first write wins and
-- every later read is byte-identical. geometry is the gzip+base64 ERCG buffer; content is JSON
-- {structures, zones} of the generated buildings, roads, transit and districts.
CREATE TABLE generated_chunks (
  world_seed INTEGER NOT NULL,
  floor INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  lod TEXT NOT NULL,
  chunk_seed INTEGER NOT NULL,
  geometry TEXT NOT NULL,
  content TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (world_seed, floor, chunk_index, lod)
);
