import type { Meter, Sample } from '../core/metrics';
import { saveActorMetrics } from '../db/crafting';
import { MeterStore } from './crafting-store';

/**
 * How a crafting actor reports its meter: at most every `METRICS_REPORT_MS` while something changed, its samples
 * (plus gauges of the moment) replace its row in D1 `crafting_metrics`, and the meter is saved in its own SQLite so
 * its counters continue after an eviction. `GET /metrics` sums the rows. Counts made after the last report of an
 * actor that is then evicted are lost (at most one interval's worth).
 */
export const METRICS_REPORT_MS = 5_000;
export const TIMER_METRICS = 'crafting:metrics';

export class MetricsReporter {
  private readonly store: MeterStore;

  constructor(
    sql: SqlStorage,
    private readonly meter: Meter,
    private readonly actor: string,
  ) {
    this.store = new MeterStore(sql);
    const saved = this.store.load();
    if (saved) this.meter.restore(saved);
  }

  async report(db: D1Database, gauges: Sample[], now: number): Promise<void> {
    for (const g of gauges) this.meter.set(g.name, g.labels, g.value);
    this.store.save(this.meter.export());
    this.meter.dirty = false;
    try {
      await saveActorMetrics(db, this.actor, this.meter.samples(), now).run();
    } catch (err) {
      // The next report carries the same absolute values: nothing is lost by skipping this one.
      this.meter.dirty = true;
      console.error(`metrics report of ${this.actor} failed`, err);
    }
  }
}
