/**
 * What every actor's event log, resync, SSE and polling speak, whatever the dialect on top.
 * Shared by the server core (src/core) and the client SDK (src/client): one definition, no copies.
 */

/** One event in an actor's log. */
export interface LoggedEvent<T = unknown> {
  /** Monotonic per actor, never reused, survives restarts. */
  sequence: number;
  /** Globally unique and parseable back to (epoch, sequence): see `formatEventId`. */
  eventId: string;
  /** ISO 8601, server time. */
  timestamp: string;
  /** Changes only when the log is reset; a reference of another epoch always gets a snapshot. */
  epoch: string;
  /** The dialect's grouping (orchestrator scope, room id, chunk id, ...). */
  scope: string;
  /** The event's name in the dialect's words (`chunk_updated`, `draw`, `task_completed`, ...). */
  type: string;
  data: T;
}

/** Answer to a resync: the missed events in order, or a snapshot when they cannot all be given. */
export interface ResyncResult<S = unknown> {
  events: LoggedEvent[];
  /** True when the reference was unknown, too old for the ring, of another epoch, or past the limit. */
  truncated: boolean;
  /** Present exactly when `truncated` is true: the actor's state as of `latestSequence`. */
  snapshot?: S;
  epoch: string;
  latestSequence: number;
}

/** Long-polling answer, as seed 003 shows it. */
export interface PollResponse {
  events: LoggedEvent[];
  hasMore: boolean;
  /** The id to pass as `lastEventId` next time (the last event returned, or the caller's own if none). */
  nextEventId: string | null;
  /** Set when the caller's reference could not be honoured and it must rebuild from `snapshot`. */
  truncated?: boolean;
  snapshot?: unknown;
}

/** Resync defaults (DESIGN.md): ring of 1,000 events, at most 100 replayed. */
export const EVENT_RING_SIZE = 1000;
export const REPLAY_LIMIT = 100;

/** `e<epoch>-<sequence>`: the epoch is a short random base36 string without '-'. */
export function formatEventId(epoch: string, sequence: number): string {
  return `e${epoch}-${sequence}`;
}

export function parseEventId(eventId: string): { epoch: string; sequence: number } | null {
  const m = /^e([0-9a-z]{1,32})-(\d{1,15})$/.exec(eventId);
  if (!m) return null;
  return { epoch: m[1] as string, sequence: Number(m[2]) };
}
