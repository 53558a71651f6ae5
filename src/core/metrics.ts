/**
 * Counting helpers for actors and the Prometheus text exposition format 0.0.4. Pure: no Workers API.
 *
 * An actor counts into a `Meter` (counters, gauges, histograms, each series a name plus labels); it reports
 * `meter.samples()` (absolute values, so reporting twice is harmless) to a store, and a reader sums the samples
 * of every actor per series and renders them with `renderPrometheus`.
 */

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
}

/** Milliseconds: where the seed's 5 ms delivery target sits among the buckets. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000] as const;

/** Label values escaped as the text format requires: backslash, double quote, line feed. */
export const escapeLabelValue = (v: string): string => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
const escapeHelp = (v: string): string => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');

/** `{a="x",b="y"}` with keys sorted (the series' identity), or '' without labels. */
export function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k] as string)}"`).join(',')}}`;
}

const seriesKey = (name: string, labels: Labels): string => `${name}${formatLabels(labels)}`;

export interface Histogram {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

export class Meter {
  private readonly values = new Map<string, Sample>();
  private readonly histograms = new Map<string, { name: string; labels: Labels; h: Histogram }>();
  /** True when something changed since the last `markReported()`. */
  dirty = false;

  inc(name: string, labels: Labels = {}, by = 1): void {
    this.counter(name, labels).value += by;
    this.dirty = true;
  }

  /**
   * The sample of one counter series, created at 0 if new: a hot path (a frame in or out) keeps it and adds to
   * `value` directly (and sets `dirty`), instead of formatting the series key on every increment.
   */
  counter(name: string, labels: Labels = {}): Sample {
    const key = seriesKey(name, labels);
    let s = this.values.get(key);
    if (!s) {
      s = { name, labels, value: 0 };
      this.values.set(key, s);
    }
    return s;
  }

  set(name: string, labels: Labels, value: number): void {
    const key = seriesKey(name, labels);
    const s = this.values.get(key);
    if (s?.value === value) return;
    if (s) s.value = value;
    else this.values.set(key, { name, labels, value });
    this.dirty = true;
  }

  observe(name: string, labels: Labels, value: number, buckets: readonly number[] = LATENCY_BUCKETS_MS): void {
    const key = seriesKey(name, labels);
    let entry = this.histograms.get(key);
    if (!entry) {
      entry = { name, labels, h: { buckets: [...buckets], counts: buckets.map(() => 0), sum: 0, count: 0 } };
      this.histograms.set(key, entry);
    }
    const h = entry.h;
    h.buckets.forEach((le, i) => {
      if (value <= le) h.counts[i] = (h.counts[i] as number) + 1;
    });
    h.sum += value;
    h.count += 1;
    this.dirty = true;
  }

  /** Every series as flat samples: histograms as cumulative `_bucket{le}` (with `+Inf`), `_sum` and `_count`. */
  samples(): Sample[] {
    const out: Sample[] = [...this.values.values()].map((s) => ({ ...s, labels: { ...s.labels } }));
    for (const { name, labels, h } of this.histograms.values()) {
      h.buckets.forEach((le, i) => {
        out.push({ name: `${name}_bucket`, labels: { ...labels, le: String(le) }, value: h.counts[i] as number });
      });
      out.push({ name: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
      out.push({ name: `${name}_sum`, labels, value: h.sum });
      out.push({ name: `${name}_count`, labels, value: h.count });
    }
    return out;
  }

  /** The meter's state, to save in the actor's storage and `restore` after a restart. */
  export(): MeterState {
    return { values: [...this.values.values()], histograms: [...this.histograms.values()] };
  }

  /** Continues from a saved state (counters and histograms never go back after a restart). */
  restore(state: MeterState): void {
    // In place: a sample handed out by `counter` stays the series' sample.
    for (const s of state.values) this.counter(s.name, s.labels).value = s.value;
    for (const e of state.histograms) this.histograms.set(seriesKey(e.name, e.labels), { ...e, h: { ...e.h } });
  }
}

export interface MeterState {
  values: Sample[];
  histograms: Array<{ name: string; labels: Labels; h: Histogram }>;
}

/** Sums samples of many reporters per series (name + labels). */
export function sumSamples(groups: Sample[][]): Sample[] {
  const total = new Map<string, Sample>();
  for (const group of groups) {
    for (const s of group) {
      const key = seriesKey(s.name, s.labels);
      const t = total.get(key);
      if (t) t.value += s.value;
      else total.set(key, { name: s.name, labels: { ...s.labels }, value: s.value });
    }
  }
  return [...total.values()];
}

const formatValue = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

/**
 * Text exposition 0.0.4: per family `# HELP` and `# TYPE`, then its samples (histogram parts under the family
 * name), buckets in ascending `le` order. Families without samples still show their HELP and TYPE.
 */
export function renderPrometheus(families: MetricFamily[], samples: Sample[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    const own = samples.filter((s) =>
      f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(s.name) : s.name === f.name,
    );
    own.sort((a, b) => {
      const la = formatLabels({ ...a.labels, le: '' });
      const lb = formatLabels({ ...b.labels, le: '' });
      if (la !== lb) return la < lb ? -1 : 1;
      const order = (s: Sample) => (s.name.endsWith('_bucket') ? 0 : s.name.endsWith('_sum') ? 1 : 2);
      if (order(a) !== order(b)) return order(a) - order(b);
      const lea = a.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(a.labels.le);
      const leb = b.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(b.labels.le);
      return lea - leb;
    });
    for (const s of own) lines.push(`${s.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Bytes of a frame on the wire (UTF-8 for text; a surrogate pair is 4 bytes, 2 per UTF-16 unit). */
export function frameBytes(data: string | ArrayBuffer | ArrayBufferView): number {
  if (typeof data !== 'string') return data.byteLength;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
  }
  return n;
}

/** The two counters of frames in or out of one endpoint: messages and bytes. */
export interface FrameCounters {
  messages: Sample;
  bytes: Sample;
}

/**
 * The counters of frames in or out of one endpoint, to keep on a hot path (an actor keeps them per dialect) and
 * add to directly, setting the meter's `dirty`.
 */
export function frameCounters(meter: Meter, endpoint: string, direction: 'in' | 'out'): FrameCounters {
  const labels = { endpoint, direction };
  return {
    messages: meter.counter('edgerooms_ws_messages_total', labels),
    bytes: meter.counter('edgerooms_ws_bytes_total', labels),
  };
}

/** One WebSocket frame in or out of an actor, by endpoint (the connection's dialect). */
export function countFrame(
  meter: Meter,
  endpoint: string,
  direction: 'in' | 'out',
  data: string | ArrayBuffer | ArrayBufferView,
): void {
  const counters = frameCounters(meter, endpoint, direction);
  counters.messages.value += 1;
  counters.bytes.value += frameBytes(data);
  meter.dirty = true;
}
