import { decide, type HitLog, type RateDecision, type RateRule, record, unrecord } from './limiter';

/**
 * Sliding-window budgets of one Durable Object (the REST limiter's rules per key, a realtime actor's message
 * budget per user), kept in memory and persisted so that neither an eviction nor a crash hands anyone a fresh
 * budget early, without a storage write per hit, and without holding answers for a commit:
 *
 * - Each write stores the key's exact hit log plus a *reservation* of hits to come. A fresh instance that finds
 *   a reservation counts it as spent at the moment it loads (those hits may have been admitted just before a
 *   crash): stricter than the truth, never looser.
 * - A hit is admitted only while a *confirmed* (committed) write covers it. The write that covers the next hits is
 *   made ahead of need, when half of the reservation `R` (a tenth of the limit) is left: it reserves `R` more
 *   beyond the current one, with `allowUnconfirmed` (the output gate stays open: no answer waits for it), and
 *   counts as covering once `storage.sync()` says it is on disk. So a write happens once per `R` hits, and the
 *   stored reservation is at most 1.5 R.
 * - Only when hits outrun a commit (the first hit of a key in an instance or after an idle flush, a cost beyond
 *   what is covered, or R/2 hits landing before the write made ahead commits, or a limit under 10) is the write
 *   confirmed: the runtime then holds that answer, and everything sent after it, until the commit.
 * - A second after the last hit the exact logs are written with no reservation, so an actor evicted while idle
 *   (the usual case) comes back with the exact count. Empty logs are deleted then. Short, because a pending timer
 *   keeps a Durable Object from hibernating (and the runtime waits it out before an eviction).
 *
 * Stored through the key-value API (`allowUnconfirmed` exists there, not in SQL), one key per budget under a
 * prefix. No alarm and no `deleteAll()`: an idle key keeps one small value, and the object's files are never churned.
 */
export const IDLE_FLUSH_MS = 1_000;
/** The span a key's recent rate is measured over. */
const RATE_SPAN_MS = 100;
/** The least a commit is assumed to take. */
const MIN_COMMIT_MS = 10;

interface Entry {
  log: HitLog;
  /** Hits admitted by this instance (the units of `durable` and `written`). */
  count: number;
  /** Hits covered by a committed write: a hit beyond it needs a confirmed write. */
  durable: number;
  /** Hits covered by the last write made, committed or not. */
  written: number;
  /** Bumped when an idle flush lowers the stored coverage: a confirmation of an older write no longer counts. */
  epoch: number;
  dirty: boolean;
}

/** What one key stores: its exact log when written and the hits reserved beyond it. */
export interface StoredBudget {
  log: HitLog;
  reserve: number;
}

/** Writes made, by kind (tests and the bench read them: a confirmed write holds answers until it commits). */
export interface BudgetWrites {
  confirmed: number;
  ahead: number;
}

/** The reservation of a rule: a tenth of its limit. */
export const reserveOf = (rule: RateRule): number => Math.floor(rule.limit / 10);

export class Budgets {
  private readonly entries = new Map<string, Entry>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last hit was committed (the idle flush counts from it). */
  private lastHitAt = 0;
  readonly writes: BudgetWrites = { confirmed: 0, ahead: 0 };
  /** How long a commit of this object takes, as observed (see `aheadOf`). */
  private commitMs = MIN_COMMIT_MS;

  /**
   * `prefix` names this object's budgets in its key-value storage. `legacyTable` is the SQL table earlier versions
   * kept them in: its rows are moved under the prefix once, then it is dropped.
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly prefix = 'budget|',
    legacyTable?: string,
  ) {
    if (legacyTable) this.migrate(legacyTable);
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
    e.count += cost;
    e.dirty = true;
    if (e.count > e.durable) {
      // Nothing committed covers this hit: a confirmed write, so its answer leaves only once the write is on disk.
      // Never below a write still in flight: the last write made is the one a crash finds.
      const covers = Math.max(e.written, e.count + this.aheadOf(e, rule, now));
      e.durable = e.written = covers;
      this.storage.kv.put<StoredBudget>(this.prefix + key, { log: e.log, reserve: covers - e.count });
      this.writes.confirmed++;
    } else {
      const ahead = this.aheadOf(e, rule, now);
      // Half the reservation left: write the next one now, unconfirmed, so it has committed before it is needed.
      // Never covering more than the key may still spend in its window (so a crash costs at most a full budget).
      if (ahead > 0 && e.written - e.count <= ahead / 2) {
        const covers = Math.min(e.written + ahead, e.count + Math.max(ahead, decide(e.log, rule, now, 0).remaining));
        if (covers > e.written) this.writeAhead(key, e, covers);
      }
    }
    this.scheduleFlush();
  }

  /**
   * Writes a reservation for `key` ahead of its first hit (a realtime actor calls it when a user connects), so that
   * hit finds a committed write and does not wait for one.
   */
  prepare(key: string, rule: RateRule, now: number): void {
    const e = this.entry(key, now);
    if (e.written > e.count) return;
    const ahead = this.aheadOf(e, rule, now);
    if (ahead === 0) return;
    e.dirty = true;
    this.writeAhead(key, e, e.count + ahead);
    this.scheduleFlush();
  }

  /** Takes back up to `count` hits recorded at `at` for `key` (a lease's unspent tokens); returns how many. */
  giveBack(key: string, at: number, count: number, now: number): number {
    const e = this.entry(key, now);
    const back = unrecord(e.log, at, count);
    if (back > 0) {
      // Written by the next write or the idle flush; until then the stored log counts more, never less. The
      // coverage counts stay: they only ever make a write come sooner.
      e.dirty = true;
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

  /** What `key` has stored (tests: the persisted reservation must cover every hit answered). */
  stored(key: string): StoredBudget | undefined {
    return this.storage.kv.get<StoredBudget>(this.prefix + key);
  }

  /**
   * Writes every changed log exactly, with no reservation (also what the idle timer does). Unconfirmed: until it
   * commits, the stored reservation it replaces is stricter than the truth, so nothing waits for it.
   */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const [key, e] of this.entries) {
      if (!e.dirty) continue;
      e.dirty = false;
      e.epoch++;
      e.durable = e.written = e.count;
      // Hits older than any window this object counts are dropped by the next check; an empty log is deleted.
      if (e.log.length === 0) {
        this.storage.delete(this.prefix + key, { allowUnconfirmed: true }).catch(() => undefined);
        this.entries.delete(key);
      } else this.put(key, { log: e.log, reserve: 0 });
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
    const stored = this.stored(key);
    const log = stored?.log ?? [];
    const reserve = stored?.reserve ?? 0;
    // The reservation's hits may have happened up to the moment this instance started: count them as now.
    if (reserve > 0) record(log, now, reserve);
    e = { log, count: 0, durable: 0, written: 0, epoch: 0, dirty: reserve > 0 };
    this.entries.set(key, e);
    return e;
  }

  /**
   * How many hits to reserve ahead of the current count: a tenth of the limit, or twice the hits this key would
   * make during one commit at its rate of the last 100 ms when that is more (a burst), never beyond what the key
   * may still spend in its window.
   */
  private aheadOf(e: Entry, rule: RateRule, now: number): number {
    const base = reserveOf(rule);
    if (base === 0) return 0;
    let recent = 0;
    for (let i = e.log.length - 1; i >= 0; i--) {
      const [t, n] = e.log[i] as [number, number];
      if (t <= now - RATE_SPAN_MS) break;
      recent += n;
    }
    const burst = Math.ceil((2 * recent * this.commitMs) / RATE_SPAN_MS);
    if (burst <= base) return base;
    return Math.max(base, Math.min(burst, decide(e.log, rule, now, 0).remaining));
  }

  /** Puts a reservation covering `covers` hits, unconfirmed; it covers hits once `sync()` says it is on disk. */
  private writeAhead(key: string, e: Entry, covers: number): void {
    e.written = covers;
    const epoch = e.epoch;
    const started = Date.now();
    this.put(key, { log: e.log, reserve: covers - e.count });
    this.writes.ahead++;
    this.storage.sync().then(
      () => {
        // The slowest recent commit, decaying: what a burst must be reserved ahead for.
        this.commitMs = Math.max(Date.now() - started, this.commitMs * 0.9, MIN_COMMIT_MS);
        if (e.epoch === epoch && covers > e.durable) e.durable = covers;
      },
      // A failed commit breaks the object's output gate and resets it: nothing to do here.
      () => undefined,
    );
  }

  /** An unconfirmed write: the output gate stays open; it commits in order with every other write. */
  private put(key: string, value: StoredBudget): void {
    this.storage.put(this.prefix + key, value, { allowUnconfirmed: true }).catch(() => undefined);
  }

  private migrate(table: string): void {
    const sql = this.storage.sql;
    const exists = sql.exec('SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?', 'table', table).toArray().length > 0;
    if (!exists) return;
    for (const row of sql.exec<{ key: string; value: string }>(`SELECT key, value FROM ${table}`)) {
      this.storage.kv.put<StoredBudget>(this.prefix + row.key, JSON.parse(row.value) as StoredBudget);
    }
    sql.exec(`DROP TABLE ${table}`);
  }
}
