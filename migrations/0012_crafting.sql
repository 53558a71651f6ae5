-- Seed 002's crafting, written behind by the Crafting and CraftingQueue actors (their own SQLite is the truth;
-- these rows are what REST reports and operators query). Every upsert carries a version and only a newer one
-- replaces a row, so a replayed or late flush never turns a row back.
CREATE TABLE crafting_sessions (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  player_id TEXT NOT NULL,
  recipe_id TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  status TEXT NOT NULL,
  stage_index INTEGER NOT NULL,
  quality INTEGER,
  quality_tier TEXT,
  output TEXT,
  consumed TEXT NOT NULL,
  returned TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  version INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX crafting_sessions_by_player ON crafting_sessions (tenant_id, player_id, created_at DESC);
CREATE INDEX crafting_sessions_by_status ON crafting_sessions (status);

-- A player's materials (JSON object of material id to quantity) as the CraftingQueue actor last saved them.
CREATE TABLE crafting_materials (
  tenant_id TEXT NOT NULL,
  player_id TEXT NOT NULL,
  materials TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, player_id)
);

-- Metrics each crafting actor reports: its samples (JSON array of {name, labels, value}, absolute values, so a
-- repeated report is harmless), one row per actor. GET /metrics sums them per series.
CREATE TABLE crafting_metrics (
  actor TEXT PRIMARY KEY,
  samples TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
