/**
 * Per-connection state, the way partyserver's `Connection<TState>` keeps it: a dialect or actor stores a small
 * JSON value on a connection with `setState` and reads it back as `state`. Where it lives depends on the
 * transport, never on the caller:
 *   - WebSocket: in the socket's serialized attachment, so it survives hibernation and eviction with the socket;
 *   - SSE stream: beside the stream in memory (a stream ends with its actor instance, and its state with it);
 *   - HTTP-sent frame: in the actor's SQLite under the caller's stable HTTP connection id, so the next request of
 *     the same client finds it.
 * The bound keeps the attachment (identity, topics, limiter, state) well under the runtime's 16 KiB limit.
 */

/** Largest state a connection may carry, in bytes of its JSON. */
export const CONNECTION_STATE_MAX_BYTES = 4096;

/** What a connection's state may be set to: a value, or a function of the current one. */
export type StateUpdate<TState> = TState | null | ((previous: TState | null) => TState | null);

/** What the core hands a connect hook besides the connection: the upgrade (or SSE) request, as the Worker forwarded it. */
export interface ConnectContext {
  /** Carries the client's query string and the whitelisted headers (`forward.ts`), never the token. */
  readonly request: Request;
  readonly url: URL;
}

const encoder = new TextEncoder();

/** Bytes of a state's JSON (0 for null). */
export function stateBytes(state: unknown): number {
  if (state === null || state === undefined) return 0;
  return encoder.encode(JSON.stringify(state)).byteLength;
}

/**
 * Resolves an update against the current state and checks it: JSON-representable and within the bound. Throws a
 * plain error (a programming error of the dialect or actor, reported as SERVER_ERROR), never stores a bad value.
 */
export function resolveState<TState>(previous: TState | null, update: StateUpdate<TState>): TState | null {
  const next =
    typeof update === 'function' ? (update as (p: TState | null) => TState | null)(previous) : (update as TState | null);
  if (next === undefined) throw new TypeError('Connection state cannot be undefined: use null to clear it');
  const bytes = stateBytes(next);
  if (bytes > CONNECTION_STATE_MAX_BYTES) {
    throw new RangeError(`Connection state of ${bytes} bytes is over the ${CONNECTION_STATE_MAX_BYTES}-byte bound`);
  }
  return next;
}

/** State of HTTP-sent frames' connections (`http_<userId>` per dialect), kept in the actor's SQLite. */
export class HttpConnectionStates {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      'CREATE TABLE IF NOT EXISTS _core_http_state (conn_id TEXT NOT NULL, dialect TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (conn_id, dialect))',
    );
  }

  get(connId: string, dialect: string): unknown {
    const row = this.sql
      .exec<{ state: string }>('SELECT state FROM _core_http_state WHERE conn_id = ? AND dialect = ?', connId, dialect)
      .toArray()[0];
    return row ? (JSON.parse(row.state) as unknown) : null;
  }

  set(connId: string, dialect: string, state: unknown): void {
    if (state === null) {
      this.sql.exec('DELETE FROM _core_http_state WHERE conn_id = ? AND dialect = ?', connId, dialect);
      return;
    }
    this.sql.exec(
      'INSERT INTO _core_http_state (conn_id, dialect, state) VALUES (?, ?, ?) ON CONFLICT(conn_id, dialect) DO UPDATE SET state = excluded.state',
      connId,
      dialect,
      JSON.stringify(state),
    );
  }
}
