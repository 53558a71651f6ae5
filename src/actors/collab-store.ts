import type { Activity } from '../domain/activity';
import type { CanvasOp, HistoryEntry } from '../domain/canvas';
import type { Note, RoomState } from '../domain/room';

/**
 * A collaboration room's state in the Room actor's SQLite. The large, growing parts (canvas strokes, undo and
 * redo entries, notes, recent activity) are one row each, so a save writes only what changed; the rest is one
 * small JSON row. Domain states are immutable, so "changed" is a reference comparison against the last save.
 */

const STATE_KEY = 'collab';

/** Row sections: `base` strokes, `history` entries, `redo:<userId>` stacks, `activity`, `notes`. */
const BASE = 'base';
const HISTORY = 'history';
const REDO = 'redo:';
const ACTIVITY = 'activity';
const NOTES = 'notes';

interface RowRecord extends Record<string, SqlStorageValue> {
  section: string;
  id: string;
  body: string;
}

export class CollabStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS collab_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    sql.exec(`CREATE TABLE IF NOT EXISTS collab_rows (
      section TEXT NOT NULL, id TEXT NOT NULL, ord INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (section, id))`);
  }

  /** The stored state, or null when the room has never been used. */
  load(): RoomState | null {
    const head = this.sql.exec<{ value: string }>('SELECT value FROM collab_state WHERE key = ?', STATE_KEY).toArray()[0];
    if (!head) return null;
    const state = JSON.parse(head.value) as RoomState;
    const base: CanvasOp[] = [];
    const history: HistoryEntry[] = [];
    const redo: Record<string, HistoryEntry[]> = {};
    const recent: Activity[] = [];
    const notes: Record<string, Note> = {};
    const rows = this.sql.exec<RowRecord>('SELECT section, id, body FROM collab_rows ORDER BY section, ord').toArray();
    for (const r of rows) {
      const body = JSON.parse(r.body);
      if (r.section === BASE) base.push(body);
      else if (r.section === HISTORY) history.push(body);
      else if (r.section === ACTIVITY) recent.push(body);
      else if (r.section === NOTES) notes[r.id] = body;
      else if (r.section.startsWith(REDO)) {
        const user = r.section.slice(REDO.length);
        redo[user] = [...(redo[user] ?? []), body];
      }
    }
    return {
      ...state,
      canvas: { ...state.canvas, base, history, redo },
      activity: { ...state.activity, recent },
      notes,
    };
  }

  /** Writes `next`, given the state of the last save (or load). Call inside the transaction of the change. */
  save(prev: RoomState | null, next: RoomState): void {
    const head: RoomState = {
      ...next,
      canvas: { ...next.canvas, base: [], history: [], redo: {} },
      activity: { ...next.activity, recent: [] },
      notes: {},
    };
    this.sql.exec(
      'INSERT INTO collab_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      STATE_KEY,
      JSON.stringify(head),
    );
    if (prev?.canvas !== next.canvas) {
      this.saveList(BASE, prev?.canvas.base ?? [], next.canvas.base, (o) => o.id);
      this.saveList(HISTORY, prev?.canvas.history ?? [], next.canvas.history, (e) => e.id);
      const users = new Set([...Object.keys(prev?.canvas.redo ?? {}), ...Object.keys(next.canvas.redo)]);
      for (const u of users) this.saveList(REDO + u, prev?.canvas.redo[u] ?? [], next.canvas.redo[u] ?? [], (e) => e.id);
    }
    if (prev?.activity !== next.activity) {
      this.saveList(ACTIVITY, prev?.activity.recent ?? [], next.activity.recent, (a) => a.id);
    }
    if (prev?.notes !== next.notes) {
      const before = prev?.notes ?? {};
      for (const [id, note] of Object.entries(next.notes)) {
        if (before[id] !== note) this.upsert(NOTES, id, 0, note);
      }
      for (const id of Object.keys(before)) {
        if (!(id in next.notes)) this.sql.exec('DELETE FROM collab_rows WHERE section = ? AND id = ?', NOTES, id);
      }
    }
  }

  /**
   * Brings a list section from `prev` to `next`. Lists only lose items (anywhere) and gain them at the end,
   * so the usual save deletes the lost ids and appends the new ones; any other change rewrites the section.
   */
  private saveList<T>(section: string, prev: readonly T[], next: readonly T[], idOf: (item: T) => string): void {
    if (prev === next) return;
    const before = new Map(prev.map((item) => [idOf(item), item]));
    const nextIds = new Set(next.map(idOf));
    const kept = prev.filter((item) => nextIds.has(idOf(item)));
    const appendOnly = kept.every((item, i) => next[i] !== undefined && idOf(next[i] as T) === idOf(item));
    if (!appendOnly) {
      this.sql.exec('DELETE FROM collab_rows WHERE section = ?', section);
      next.forEach((item, i) => {
        this.upsert(section, idOf(item), i, item);
      });
      return;
    }
    for (const id of before.keys()) {
      if (!nextIds.has(id)) this.sql.exec('DELETE FROM collab_rows WHERE section = ? AND id = ?', section, id);
    }
    let ord =
      this.sql.exec<{ m: number | null }>('SELECT MAX(ord) AS m FROM collab_rows WHERE section = ?', section).one().m ?? -1;
    for (let i = 0; i < next.length; i++) {
      const item = next[i] as T;
      const id = idOf(item);
      const old = before.get(id);
      if (old === undefined) this.upsert(section, id, ++ord, item);
      else if (old !== item)
        this.sql.exec('UPDATE collab_rows SET body = ? WHERE section = ? AND id = ?', JSON.stringify(item), section, id);
    }
  }

  private upsert(section: string, id: string, ord: number, body: unknown): void {
    this.sql.exec(
      `INSERT INTO collab_rows (section, id, ord, body) VALUES (?, ?, ?, ?)
       ON CONFLICT(section, id) DO UPDATE SET ord = excluded.ord, body = excluded.body`,
      section,
      id,
      ord,
      JSON.stringify(body),
    );
  }
}
