/**
 * The actor's one alarm, multiplexed: named timers in the actor's SQLite, the alarm set to the earliest.
 * Timers survive eviction and restarts because they are rows, not `setTimeout`s.
 */
export class Scheduler {
  constructor(
    private readonly sql: SqlStorage,
    private readonly storage: DurableObjectStorage,
  ) {
    sql.exec('CREATE TABLE IF NOT EXISTS _core_timers (name TEXT PRIMARY KEY, at INTEGER NOT NULL)');
  }

  /** Sets (or moves) timer `name` to fire at `at` (ms since the epoch). */
  schedule(name: string, at: number): Promise<void> {
    this.sql.exec(
      'INSERT INTO _core_timers (name, at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET at = excluded.at',
      name,
      Math.floor(at),
    );
    return this.sync();
  }

  /** Sets timer `name` unless it is already due earlier. */
  scheduleNoLaterThan(name: string, at: number): Promise<void> {
    const current = this.at(name);
    if (current !== null && current <= at) return Promise.resolve();
    return this.schedule(name, at);
  }

  cancel(name: string): Promise<void> {
    this.sql.exec('DELETE FROM _core_timers WHERE name = ?', name);
    return this.sync();
  }

  at(name: string): number | null {
    const rows = this.sql.exec<{ at: number }>('SELECT at FROM _core_timers WHERE name = ?', name).toArray();
    return rows[0]?.at ?? null;
  }

  /** Removes and returns the timers due at `now`, earliest first. */
  takeDue(now: number): string[] {
    const due = this.sql
      .exec<{ name: string }>('SELECT name FROM _core_timers WHERE at <= ? ORDER BY at, name', now)
      .toArray()
      .map((r) => r.name);
    if (due.length) this.sql.exec('DELETE FROM _core_timers WHERE at <= ?', now);
    return due;
  }

  /** Points the alarm at the earliest timer, or clears it. */
  async sync(force = false): Promise<void> {
    const row = this.sql.exec<{ m: number | null }>('SELECT MIN(at) AS m FROM _core_timers').one();
    if (row.m === null) {
      await this.storage.deleteAlarm();
      return;
    }
    // Inside alarm() the running alarm may still read as set: `force` re-arms it regardless.
    const current = force ? null : await this.storage.getAlarm();
    if (current !== row.m) await this.storage.setAlarm(row.m);
  }
}
