-- One metrics table for every actor type (it was crafting's alone): each reporting actor's samples (JSON array of
-- {name, labels, value}, absolute values, so a repeated report is harmless), one row per actor. GET /metrics sums
-- them per series; GET /health sums the gauges of the rows reported lately (updated_at, ms since the epoch).
ALTER TABLE crafting_metrics RENAME TO actor_metrics;
CREATE INDEX IF NOT EXISTS actor_metrics_updated ON actor_metrics (updated_at);
