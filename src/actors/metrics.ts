import type { Meter, MeterState, Sample } from '../core/metrics';
import { saveActorMetrics } from '../db/metrics';

/**
 * The one way an actor reports its metrics, whatever its type: it counts into its `Meter` (`core/metrics.ts`) and,
 * at most every `METRICS_REPORT_MS` while something changed, its samples (plus gauges of the moment) replace its
 * row in D1 `actor_metrics`; the meter is saved in its own SQLite, so its counters continue after an eviction.
 * `GET /metrics` sums every row per series; `GET /health` sums the gauges of the rows reported lately. Counts made
 * after the last report of an actor that is then evicted are lost (at most one interval's worth).
 *
 * A report is awaited by whoever triggers it (a timer, a call), never left running in the background: an actor
 * has no work in flight once its answer is out.
 */
export const METRICS_REPORT_MS = 5_000;
/** The scheduler timer name actors on the core's `Scheduler` use for their next report. */
export const TIMER_METRICS = 'metrics';

/** Where an actor keeps its meter between restarts. */
export interface MeterSaver {
  load(): MeterState | null;
  save(state: MeterState): void;
}

/** A meter kept in one row of the actor's SQLite, for actors without a state table of their own to put it in. */
export class MeterRow implements MeterSaver {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS meter_state (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)');
  }

  load(): MeterState | null {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meter_state WHERE id = 1').toArray()[0];
    return row ? (JSON.parse(row.value) as MeterState) : null;
  }

  save(state: MeterState): void {
    this.sql.exec(
      'INSERT INTO meter_state (id, value) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET value = excluded.value',
      JSON.stringify(state),
    );
  }
}

export class MetricsReporter {
  private reportedAt = 0;

  /** `actor` names the row: `<type>:<key>`, unique across actor types. */
  constructor(
    private readonly store: MeterSaver,
    private readonly meter: Meter,
    private readonly actor: string,
  ) {
    const saved = this.store.load();
    if (saved) this.meter.restore(saved);
  }

  /** True when the meter changed and the last report is `METRICS_REPORT_MS` old: for actors without a timer. */
  due(now: number, everyMs = METRICS_REPORT_MS): boolean {
    return this.meter.dirty && now - this.reportedAt >= everyMs;
  }

  async report(db: D1Database, gauges: Sample[], now: number): Promise<void> {
    for (const g of gauges) this.meter.set(g.name, g.labels, g.value);
    this.store.save(this.meter.export());
    this.meter.dirty = false;
    this.reportedAt = now;
    try {
      await saveActorMetrics(db, this.actor, this.meter.samples(), now).run();
    } catch (err) {
      // The next report carries the same absolute values: nothing is lost by skipping this one.
      this.meter.dirty = true;
      console.error(`metrics report of ${this.actor} failed`, err);
    }
  }
}
