import type { MeterState } from '../core/metrics';
import type { CraftingSession, Materials } from '../domain/crafting';
import type { QueueState } from '../domain/crafting-queue';

/**
 * The crafting actors' state in their own SQLite: one small JSON row per thing (a session, a queue, a copy of the
 * player's materials), written in the turn that changed it, so it is durable the moment the change returns.
 * D1 rows for REST and reports are written behind (`crafting_sessions`, `crafting_materials`).
 */

class JsonRows {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS crafting_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  }

  get<T>(key: string): T | null {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM crafting_state WHERE key = ?', key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : null;
  }

  put(key: string, value: unknown): void {
    this.sql.exec(
      'INSERT INTO crafting_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      key,
      JSON.stringify(value),
    );
  }
}

/** What a Crafting actor keeps besides the session: who owns it, and the owner's materials as last told. */
export interface SessionMeta {
  tenantId: string;
  /** Bumped on every save: the D1 row's version, so a late write-behind never overwrites a newer one. */
  version: number;
}

export interface MaterialsCopy {
  materials: Materials;
  version: number;
}

export class SessionStore {
  private readonly rows: JsonRows;

  constructor(sql: SqlStorage) {
    this.rows = new JsonRows(sql);
  }

  load(): { session: CraftingSession; meta: SessionMeta } | null {
    const session = this.rows.get<CraftingSession>('session');
    const meta = this.rows.get<SessionMeta>('meta');
    return session && meta ? { session, meta } : null;
  }

  save(session: CraftingSession, meta: SessionMeta): void {
    this.rows.put('session', session);
    this.rows.put('meta', meta);
  }

  materials(): MaterialsCopy | null {
    return this.rows.get<MaterialsCopy>('materials');
  }

  saveMaterials(copy: MaterialsCopy): void {
    this.rows.put('materials', copy);
  }
}

export class QueueStore {
  private readonly rows: JsonRows;

  constructor(sql: SqlStorage) {
    this.rows = new JsonRows(sql);
  }

  load(): { state: QueueState; tenantId: string } | null {
    return this.rows.get<{ state: QueueState; tenantId: string }>('queue');
  }

  save(tenantId: string, state: QueueState): void {
    this.rows.put('queue', { state, tenantId });
  }
}

/** An actor's meter, saved when it reports, so its counters continue (never restart at zero) after eviction. */
export class MeterStore {
  private readonly rows: JsonRows;

  constructor(sql: SqlStorage) {
    this.rows = new JsonRows(sql);
  }

  load(): MeterState | null {
    return this.rows.get<MeterState>('meter');
  }

  save(state: MeterState): void {
    this.rows.put('meter', state);
  }
}
