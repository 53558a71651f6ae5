-- A collaboration room's activity feed (seed 001's Activity), written behind by the Room actor's alarm.
-- (tenant_id, room_id, id) is the idempotency key: a replayed flush inserts nothing twice. Activity ids sort
-- in the order they happened within a room; pages are read newest first by (timestamp, id).
CREATE TABLE activities (
  tenant_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  data TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, room_id, id)
);
CREATE INDEX activities_by_time ON activities (tenant_id, room_id, timestamp DESC, id DESC);
