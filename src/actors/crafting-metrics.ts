import type { Meter, Sample } from '../core/metrics';
import { saveActorMetrics } from '../db/crafting';
import { SESSION_DIALECT, UDP_DIALECT } from '../dialects/crafting';
import type { SessionStatus } from '../domain/crafting';
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

/**
 * A Crafting actor's gauges now, among them its footprint (the seed's "memory per session"): the session's state,
 * the sync streams' memory and the per-connection bookkeeping, in bytes of their JSON, and its SQLite file size.
 */
export function sessionGauges(g: {
  status: SessionStatus | undefined;
  stateBytes: number;
  sessionSockets: number;
  udpSockets: number;
  peers: number;
  syncBytes: number;
  connectionBytes: number;
  storageBytes: number;
}): Sample[] {
  const active = g.status === 'running' || g.status === 'paused' ? 1 : 0;
  return [
    { name: 'edgerooms_ws_connections', labels: { endpoint: SESSION_DIALECT }, value: g.sessionSockets },
    { name: 'edgerooms_ws_connections', labels: { endpoint: UDP_DIALECT }, value: g.udpSockets },
    { name: 'edgerooms_crafting_udp_peers', labels: {}, value: g.peers },
    { name: 'edgerooms_crafting_active_sessions', labels: {}, value: active },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'session' }, value: g.stateBytes },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'sync' }, value: g.syncBytes },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'connections' }, value: g.connectionBytes },
    { name: 'edgerooms_crafting_storage_bytes', labels: {}, value: g.storageBytes },
  ];
}
