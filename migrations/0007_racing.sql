-- EarthRing racing (seed 000): races, their participants' progress and their results. The Race actor
-- (`<tenant>:<raceId>`) owns the live state; these rows are what REST reads. Timestamps are ISO-8601 UTC text.

-- A race as created. route_geometry is the GeoJSON LineString the race runs on; race_checkpoints are the
-- points on that route a racer must reach in order (the requested checkpoints snapped to the network).
-- track_key identifies "the same track" (floor, route, vehicle, laps) across races, for leaderboard_position.
-- status and start_time are written behind by the actor.
CREATE TABLE races (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  creator_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  floor INTEGER NOT NULL,
  start_x REAL NOT NULL,
  start_y REAL NOT NULL,
  end_x REAL NOT NULL,
  end_y REAL NOT NULL,
  checkpoints TEXT NOT NULL DEFAULT '[]',
  route_generation TEXT NOT NULL CHECK (route_generation IN ('auto', 'manual')),
  route_geometry TEXT NOT NULL,
  route_length REAL NOT NULL,
  race_checkpoints TEXT NOT NULL DEFAULT '[]',
  properties TEXT NOT NULL DEFAULT '{}',
  vehicle_type TEXT NOT NULL,
  laps INTEGER NOT NULL DEFAULT 1,
  track_key TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'finished')),
  scheduled_start TEXT,
  start_time TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX races_tenant ON races (tenant_id, created_at);

-- Who joined, and their progress as the actor last flushed it. seq is the actor's event sequence of the
-- change: a replayed older flush never overwrites newer progress.
CREATE TABLE race_participants (
  race_id INTEGER NOT NULL REFERENCES races (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  player_id INTEGER NOT NULL,
  username TEXT NOT NULL,
  joined_at TEXT NOT NULL,
  checkpoint_reached INTEGER NOT NULL DEFAULT 0,
  position_x REAL,
  position_y REAL,
  finish_ms INTEGER,
  seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (race_id, player_id)
);

-- Verified results: finish_ms is the finish time the server observed (the submitted one matched it within
-- the tolerance and is kept as claimed_ms). One per player and race.
CREATE TABLE race_results (
  race_id INTEGER NOT NULL REFERENCES races (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  player_id INTEGER NOT NULL,
  username TEXT NOT NULL,
  finish_ms INTEGER NOT NULL,
  claimed_ms INTEGER NOT NULL,
  checkpoint_times TEXT NOT NULL DEFAULT '[]',
  vehicle_data TEXT NOT NULL DEFAULT '{}',
  track_key TEXT NOT NULL,
  submitted_at TEXT NOT NULL,
  PRIMARY KEY (race_id, player_id)
);
CREATE INDEX race_results_board ON race_results (race_id, finish_ms);
CREATE INDEX race_results_track ON race_results (tenant_id, track_key, finish_ms);
