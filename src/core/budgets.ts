import { decide, type HitLog, type RateDecision, type RateRule, record, unrecord } from './limiter';

/**
 * Sliding-window budgets of one Durable Object (the REST limiter's rules per key, a realtime actor's message
 * budget per user), kept in memory and persisted so that neither an eviction nor a crash hands anyone a fresh
 * budget early, without a storage write per hit:
 *
 * - Each write stores the key's exact hit log plus a *reservation* of the next `reserve` hits
 *   (a tenth of the limit). Hits inside the reservation are not written; the write after them is.
 * - A fresh instance that finds a reservation counts it as spent at the moment it loads: the hits it covers
 *   may have been admitted just before a crash. That is stricter than the truth, never looser.
 * - A second after the last hit the exact logs are written with no reservation, so an actor evicted while idle
 *   (the usual case) comes back with the exact count. Empty logs are deleted then. Short, because a pending timer
 *   keeps a Durable Object from hibernating (and the runtime waits it out before an eviction).
 *
 * No alarm and no `deleteAll()`: an idle key keeps one small row, and the object's files are never churned.
 */
export const IDLE_FLUSH_MS = 1_000;

interface Entry {
  log: HitLog;
  /** Hits admitted since the last write. */
  sinceWrite: number;
  /** Hits the last write reserved (admitted without a write until `sinceWrite` passes it). */
  reserve: number;
  dirty: boolean;
}

interface Stored {
  log: HitLog;
  reserve: number;
}

export class Budgets {
  private readonly entries = new Map<string, Entry>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last hit was committed (the idle flush counts from it). */
  private lastHitAt = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly table = '_core_budgets',
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
  }

  /** Decides one hit of `cost` against `rule` for `key` without spending it. */
  check(key: string, rule: RateRule, now: number, cost = 1): RateDecision {
    return decide(this.entry(key, now).log, rule, now, cost);
  }

  /**
   * Spends `cost` for `key` (call only after `check` admitted it, in the same synchronous turn), recorded at `at`:
   * now, or a lease's expiry (`leases.ts`).
   */
  commit(key: string, rule: RateRule, now: number, cost = 1, at = now): void {
    if (cost <= 0) return;
    const e = this.entry(key, now);
    record(e.log, at, cost);
    e.sinceWrite += cost;
    e.dirty = true;
    if (e.sinceWrite > e.reserve) {
      e.reserve = Math.floor(rule.limit / 10);
      e.sinceWrite = 0;
      this.write(key, { log: e.log, reserve: e.reserve });
    }
    this.scheduleFlush();
  }

  /** Takes back up to `count` hits recorded at `at` for `key` (a lease's unspent tokens); returns how many. */
  giveBack(key: string, at: number, count: number, now: number): number {
    const e = this.entry(key, now);
    const back = unrecord(e.log, at, count);
    if (back > 0) {
      e.dirty = true; // written by the next commit or the idle flush; until then the stored log counts more, never less
      this.scheduleFlush();
    }
    return back;
  }

  /** `check`, then `commit` when admitted. */
  spend(key: string, rule: RateRule, now: number, cost = 1): RateDecision {
    const d = this.check(key, rule, now, cost);
    if (d.allowed) this.commit(key, rule, now, cost);
    return d;
  }

  /** Writes every changed log exactly, with no reservation (also what the idle timer does). */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const [key, e] of this.entries) {
      if (!e.dirty) continue;
      e.dirty = false;
      e.sinceWrite = 0;
      e.reserve = 0;
      // Hits older than any window this object counts are dropped by the next check; an empty log is deleted.
      if (e.log.length === 0) {
        this.sql.exec(`DELETE FROM ${this.table} WHERE key = ?`, key);
        this.entries.delete(key);
      } else this.write(key, { log: e.log, reserve: 0 });
    }
  }

  /**
   * The idle flush runs IDLE_FLUSH_MS after the last hit. A busy object does not re-arm a timer per hit (that cost
   * a clearTimeout and a setTimeout on every message): the timer, when it fires early, waits out the remainder.
   */
  private scheduleFlush(): void {
    this.lastHitAt = Date.now();
    if (this.flushTimer !== undefined) return;
    this.armFlush(IDLE_FLUSH_MS);
  }

  private armFlush(ms: number): void {
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const idle = Date.now() - this.lastHitAt;
      if (idle < IDLE_FLUSH_MS) {
        this.armFlush(IDLE_FLUSH_MS - idle);
        return;
      }
      try {
        this.flush();
      } catch (err) {
        console.error('budget flush failed', err);
      }
    }, ms);
  }

  private entry(key: string, now: number): Entry {
    let e = this.entries.get(key);
    if (e) return e;
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM ${this.table} WHERE key = ?`, key).toArray()[0];
    const stored = row ? (JSON.parse(row.value) as Stored) : { log: [], reserve: 0 };
    const log = stored.log;
    // The reservation's hits may have happened up to the moment this instance started: count them as now.
    if (stored.reserve > 0) record(log, now, stored.reserve);
    e = { log, sinceWrite: 0, reserve: 0, dirty: stored.reserve > 0 };
    this.entries.set(key, e);
    return e;
  }

  private write(key: string, value: Stored): void {
    this.sql.exec(
      `INSERT INTO ${this.table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      key,
      JSON.stringify(value),
    );
  }
}
