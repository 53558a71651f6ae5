// Small helpers shared by the harness: timing, statistics, bounded concurrency, process memory.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A free loopback port: the scripts' own helper, so the bench and the test scripts pick ports alike. */
export { freePort } from '../../scripts/lib/worker.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => performance.now();

/** Rejects after `ms` so no await in the harness can hang the run. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every `everyMs` until it is truthy or `ms` passed; returns its last value. */
export async function waitFor(check, ms, everyMs = 20) {
  const deadline = now() + ms;
  let value = check();
  while (!value && now() < deadline) {
    await sleep(everyMs);
    value = check();
  }
  return value;
}

/** p50/p90/p99/max/mean of a list of milliseconds, rounded to 0.01 ms; null figures for an empty list. */
export function summarize(samples) {
  if (samples.length === 0) return { n: 0, p50: null, p90: null, p99: null, max: null, mean: null };
  const sorted = Float64Array.from(samples).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const r = (x) => Math.round(x * 100) / 100;
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    n: sorted.length,
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    max: r(sorted[sorted.length - 1]),
    mean: r(sum / sorted.length),
  };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight; resolves to the results in order. */
export async function pool(count, concurrency, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** Like `pool`, but a failed task is recorded instead of stopping the others. */
export async function poolSettled(count, concurrency, task) {
  return pool(count, concurrency, async (i) => {
    try {
      return { ok: true, value: await task(i) };
    } catch (error) {
      return { ok: false, error };
    }
  });
}

/** Resident memory of a process in KiB (VmRSS), or null when it is gone. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Loopback clients all share 127.0.0.1, so the harness gives its virtual clients addresses through
 * `CF-Connecting-IP` (which the Worker's per-IP limits read, as on Cloudflare). Each address serves at most
 * `perAddress` requests over the whole run: under the per-IP limit's burst, while creating few limiter actors.
 */
export class AddressPool {
  constructor(prefix, perAddress) {
    this.prefix = prefix;
    this.perAddress = perAddress;
    this.used = 0;
  }
  next() {
    const k = Math.floor(this.used++ / this.perAddress);
    return `${this.prefix}.${(k >> 8) & 255}.${k & 255}`;
  }
}

export const round = (x, digits = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);
