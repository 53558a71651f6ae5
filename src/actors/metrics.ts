import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { metricsActor } from './keys';

/**
 * Service-wide gauges for `/health` (one object, key `global`): actors report their own figures (a bus its
 * events per second, a socket hub its open connections) and `/health` reads the sums. A source that stops
 * reporting drops out after `maxAgeMs`, so reporters refresh while their value is not zero. Figures only:
 * nothing here is needed for correctness, so they live in memory and a restart starts from the next reports.
 */
export class Metrics extends DurableObject<Env> {
  private readonly gauges = new Map<string, { values: Record<string, number>; at: number }>();

  async report(source: string, values: Record<string, number>): Promise<void> {
    this.gauges.set(source, { values, at: Date.now() });
  }

  /** Sums of every gauge over the sources heard from within `maxAgeMs`, and how many sources that is. */
  async read(maxAgeMs = 15_000): Promise<{ sums: Record<string, number>; sources: number }> {
    const since = Date.now() - maxAgeMs;
    const sums: Record<string, number> = {};
    let sources = 0;
    for (const [source, g] of this.gauges) {
      if (g.at < since) {
        this.gauges.delete(source);
        continue;
      }
      sources++;
      for (const [k, v] of Object.entries(g.values)) sums[k] = (sums[k] ?? 0) + v;
    }
    return { sums, sources };
  }
}

/**
 * Sends an actor's latest gauges to `Metrics`: one call in flight at a time and at most one per `minIntervalMs`,
 * always the latest values. A value set within the interval waits for the next `set` after it; gauges that must
 * not linger (a rate) rely on `Metrics` forgetting silent sources.
 */
export class GaugeReporter {
  private inFlight = false;
  private sentAt = 0;
  private next: Record<string, number> | null = null;

  constructor(
    private readonly env: Pick<Env, 'METRICS'>,
    private readonly source: string,
    private readonly waitUntil: (p: Promise<unknown>) => void,
    private readonly minIntervalMs = 1000,
  ) {}

  set(values: Record<string, number>, now = Date.now()): void {
    this.next = values;
    if (this.inFlight || now - this.sentAt < this.minIntervalMs) return;
    this.sentAt = now;
    this.waitUntil(this.flush());
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    try {
      const values = this.next;
      this.next = null;
      if (values) await metricsActor(this.env).report(this.source, values);
    } catch (err) {
      console.error('metrics: report failed', err);
    } finally {
      this.inFlight = false;
    }
  }
}
