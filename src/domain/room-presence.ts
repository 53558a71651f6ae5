/**
 * Room presence (seed 001's PresenceData), one entry per user however many connections (tabs) they have, and
 * the 60 Hz cursor throttle. Pure and plain-JSON: the actor keeps `PresenceState` in its storage.
 *
 * Status: `online`/`away` are the user's choice while connected; `offline` is derived, set when the user's last
 * connection leaves (and cleared by the next join). Offline entries stay for their `lastSeen`, at most
 * MAX_OFFLINE of them (the least recently seen are dropped).
 */

import { ApiError, invalid } from '../errors';
import { COORD_MAX, COORD_MIN } from './canvas';

export type PresenceStatus = 'online' | 'away' | 'offline';
export type PresenceActivityType = 'typing' | 'drawing' | 'viewing';

export interface PresenceActivity {
  type: PresenceActivityType;
  location?: string;
}

export interface Cursor {
  x: number;
  y: number;
}

/** The seed's PresenceData, plus the display name. */
export interface PresenceData {
  userId: string;
  username: string;
  status: PresenceStatus;
  activity?: PresenceActivity;
  cursor?: Cursor;
  lastSeen: number;
}

export interface PresenceEntry extends PresenceData {
  /** Ids of the user's open connections; never sent to clients. */
  connections: string[];
  /**
   * The user's last socket closed without a `room.leave`: they are gone only if no connection joins again before
   * this time (ms); until then they still show as present and nothing is announced. Never sent to clients.
   */
  leavingAt?: number;
}

export type PresenceState = Record<string, PresenceEntry>;

export const MAX_OFFLINE = 100;
export const MAX_CONNECTIONS_PER_USER = 10;
export const MAX_LOCATION_LENGTH = 200;
/**
 * How long a user whose last socket closed stays present before the room announces `user_left`: a network blip or
 * a reload reconnects well within it, so the feed gets neither a "left" nor a "joined" line for it.
 */
export const PRESENCE_GRACE_MS = 10_000;

/** What a client may change: status (not `offline`, which follows its connections) and activity (null clears). */
export interface PresenceUpdate {
  status?: 'online' | 'away';
  activity?: PresenceActivity | null;
}

/** The public view (seed shape): no connection ids. */
export function toPresenceData(entry: PresenceEntry): PresenceData {
  const { connections: _hidden, leavingAt: _leaving, ...data } = entry;
  return data;
}

/** Everyone, online first, then by most recently seen. */
export function listPresence(state: PresenceState): PresenceData[] {
  const rank = (s: PresenceStatus) => (s === 'offline' ? 1 : 0);
  return Object.values(state)
    .sort((a, b) => rank(a.status) - rank(b.status) || b.lastSeen - a.lastSeen || a.userId.localeCompare(b.userId))
    .map(toPresenceData);
}

export const isConnected = (state: PresenceState, userId: string, connectionId: string): boolean =>
  state[userId]?.connections.includes(connectionId) ?? false;

/**
 * Registers a connection. `firstConnection` is true when the user was not present before (then the room
 * announces `user_joined`); a second tab only adds its connection id. Joining again on the same connection is a
 * no-op (`alreadyJoined`).
 */
export function connect(
  state: PresenceState,
  user: { userId: string; username: string; connectionId: string },
  now: number,
): { state: PresenceState; entry: PresenceEntry; firstConnection: boolean; alreadyJoined: boolean } {
  const prev = state[user.userId];
  if (prev?.connections.includes(user.connectionId)) {
    return { state, entry: prev, firstConnection: false, alreadyJoined: true };
  }
  // Back within the grace period after a lost socket: the same presence goes on, nothing to announce.
  const firstConnection = !prev || (prev.connections.length === 0 && prev.leavingAt === undefined);
  if (!firstConnection && prev.connections.length >= MAX_CONNECTIONS_PER_USER) {
    throw new ApiError('RATE_LIMIT_EXCEEDED', `At most ${MAX_CONNECTIONS_PER_USER} connections per user in a room`, {
      details: {
        issue: 'too_many_connections',
        max: MAX_CONNECTIONS_PER_USER,
      },
    });
  }
  let entry: PresenceEntry;
  if (firstConnection) {
    entry = { userId: user.userId, username: user.username, status: 'online', lastSeen: now, connections: [user.connectionId] };
  } else {
    const { leavingAt: _resumed, ...rest } = prev;
    entry = { ...rest, username: user.username, lastSeen: now, connections: [...prev.connections, user.connectionId] };
  }
  return { state: { ...state, [user.userId]: entry }, entry, firstConnection, alreadyJoined: false };
}

/**
 * Drops a connection. `lastConnection` is true when it was the user's last one: the user goes offline (no
 * activity, no cursor) and the room announces `user_left`. Unknown connections are a no-op (`wasConnected` false),
 * so an actor can call this for every socket that closes.
 */
export function disconnect(
  state: PresenceState,
  userId: string,
  connectionId: string,
  now: number,
): { state: PresenceState; entry: PresenceEntry | null; lastConnection: boolean; wasConnected: boolean } {
  const prev = state[userId];
  if (!prev?.connections.includes(connectionId)) {
    return { state, entry: prev ?? null, lastConnection: false, wasConnected: false };
  }
  const connections = prev.connections.filter((c) => c !== connectionId);
  let entry: PresenceEntry;
  if (connections.length) {
    entry = { ...prev, connections, lastSeen: now };
  } else {
    const { activity: _a, cursor: _c, leavingAt: _l, ...rest } = prev;
    entry = { ...rest, status: 'offline', connections, lastSeen: now };
  }
  return { state: pruneOffline({ ...state, [userId]: entry }), entry, lastConnection: !connections.length, wasConnected: true };
}

/**
 * A connection's socket closed (no `room.leave`). Another tab still open: as `disconnect`. The user's last one:
 * they stay present until `leavingAt` (now + `graceMs`), when `departures` lists them; a join before that resumes
 * the same presence. Unknown connections are a no-op.
 */
export function connectionLost(
  state: PresenceState,
  userId: string,
  connectionId: string,
  now: number,
  graceMs: number = PRESENCE_GRACE_MS,
): { state: PresenceState; lastConnection: boolean; wasConnected: boolean } {
  const prev = state[userId];
  if (!prev?.connections.includes(connectionId)) return { state, lastConnection: false, wasConnected: false };
  const connections = prev.connections.filter((c) => c !== connectionId);
  const entry: PresenceEntry = connections.length
    ? { ...prev, connections, lastSeen: now }
    : { ...prev, connections, lastSeen: now, leavingAt: now + Math.max(0, graceMs) };
  return { state: { ...state, [userId]: entry }, lastConnection: !connections.length, wasConnected: true };
}

/** Users whose grace period is over at `now`: to be marked offline with `user_left`. */
export const departures = (state: PresenceState, now: number): PresenceEntry[] =>
  Object.values(state).filter((e) => e.leavingAt !== undefined && e.leavingAt <= now && e.connections.length === 0);

/** The earliest `leavingAt`, or null. */
export function nextDeparture(state: PresenceState): number | null {
  let at: number | null = null;
  for (const e of Object.values(state)) if (e.leavingAt !== undefined && (at === null || e.leavingAt < at)) at = e.leavingAt;
  return at;
}

/** A user in their grace period goes offline for good (no activity, no cursor). */
export function depart(state: PresenceState, userId: string): PresenceState {
  const prev = state[userId];
  if (!prev) return state;
  const { activity: _a, cursor: _c, leavingAt: _l, ...rest } = prev;
  return pruneOffline({ ...state, [userId]: { ...rest, status: 'offline', connections: [] } });
}

/** Keeps at most MAX_OFFLINE offline entries, the most recently seen. */
function pruneOffline(state: PresenceState): PresenceState {
  const offline = Object.values(state).filter((e) => e.status === 'offline');
  if (offline.length <= MAX_OFFLINE) return state;
  const drop = offline.sort((a, b) => a.lastSeen - b.lastSeen).slice(0, offline.length - MAX_OFFLINE);
  const next = { ...state };
  for (const e of drop) delete next[e.userId];
  return next;
}

function requireConnected(state: PresenceState, userId: string): PresenceEntry {
  const entry = state[userId];
  if (!entry || entry.status === 'offline') {
    throw new ApiError('AUTHORIZATION_FAILED', 'Join the room first', { details: { issue: 'not_joined' } });
  }
  return entry;
}

/** Merges a status/activity update into a connected user's presence. */
export function updatePresence(
  state: PresenceState,
  userId: string,
  update: PresenceUpdate,
  now: number,
): { state: PresenceState; entry: PresenceEntry } {
  const prev = requireConnected(state, userId);
  if (update.status !== undefined && update.status !== 'online' && update.status !== 'away') {
    throw invalid("status must be 'online' or 'away'", { issue: 'invalid_status', field: 'status' });
  }
  const entry: PresenceEntry = { ...prev, lastSeen: now };
  if (update.status) entry.status = update.status;
  if (update.activity === null) delete entry.activity;
  else if (update.activity) {
    const { type, location } = update.activity;
    if (type !== 'typing' && type !== 'drawing' && type !== 'viewing') {
      throw invalid("activity.type must be 'typing', 'drawing' or 'viewing'", {
        issue: 'invalid_activity',
        field: 'activity.type',
      });
    }
    if (location !== undefined && (typeof location !== 'string' || location.length > MAX_LOCATION_LENGTH)) {
      throw invalid(`activity.location must be a string of at most ${MAX_LOCATION_LENGTH} characters`, {
        issue: 'invalid_activity',
        field: 'activity.location',
      });
    }
    entry.activity = location === undefined ? { type } : { type, location };
  }
  return { state: { ...state, [userId]: entry }, entry };
}

/** Records a connected user's latest cursor (always, whatever the throttle later emits). */
export function setCursor(
  state: PresenceState,
  userId: string,
  cursor: Cursor,
  now: number,
): { state: PresenceState; entry: PresenceEntry } {
  const prev = requireConnected(state, userId);
  const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= COORD_MIN && n <= COORD_MAX;
  if (!ok(cursor?.x) || !ok(cursor?.y)) {
    throw invalid(`cursor needs finite x and y in [${COORD_MIN}, ${COORD_MAX}]`, { issue: 'invalid_cursor', field: 'cursor' });
  }
  const entry: PresenceEntry = { ...prev, cursor: { x: cursor.x, y: cursor.y }, lastSeen: now };
  return { state: { ...state, [userId]: entry }, entry };
}

/** Marks a user as seen (any request counts). */
export function touch(state: PresenceState, userId: string, now: number): PresenceState {
  const prev = state[userId];
  return prev && prev.status !== 'offline' ? { ...state, [userId]: { ...prev, lastSeen: now } } : state;
}

// ---------------------------------------------------------------------------------------------------------
// Cursor throttle: at most one `cursor` event per user per CURSOR_INTERVAL_MS; moves in between coalesce into the
// latest position, emitted when the interval has passed (the actor calls `flushCursor` at `flushAt`).

export const CURSOR_HZ = 60;
export const CURSOR_INTERVAL_MS = 1000 / CURSOR_HZ;

export interface CursorThrottle {
  lastEmitAt: number | null;
  pending: Cursor | null;
}

export interface ThrottleResult {
  throttle: CursorThrottle;
  /** Emit this position now, or nothing. */
  emit: Cursor | null;
  /** When a coalesced position is waiting: the time to call `flushCursor`. */
  flushAt: number | null;
}

export const newThrottle = (): CursorThrottle => ({ lastEmitAt: null, pending: null });

/** A move at `now`: emitted at once when the interval has passed since the last emit, else kept as pending. */
export function throttleCursor(
  throttle: CursorThrottle | undefined,
  cursor: Cursor,
  now: number,
  intervalMs: number = CURSOR_INTERVAL_MS,
): ThrottleResult {
  const t = throttle ?? newThrottle();
  if (t.lastEmitAt === null || now - t.lastEmitAt >= intervalMs) {
    return { throttle: { lastEmitAt: now, pending: null }, emit: cursor, flushAt: null };
  }
  return { throttle: { lastEmitAt: t.lastEmitAt, pending: cursor }, emit: null, flushAt: t.lastEmitAt + intervalMs };
}

/** Emits the pending position once its time has come; otherwise says when to come back. */
export function flushCursor(throttle: CursorThrottle, now: number, intervalMs: number = CURSOR_INTERVAL_MS): ThrottleResult {
  if (!throttle.pending) return { throttle, emit: null, flushAt: null };
  const due = (throttle.lastEmitAt ?? Number.NEGATIVE_INFINITY) + intervalMs;
  if (now < due) return { throttle, emit: null, flushAt: due };
  return { throttle: { lastEmitAt: now, pending: null }, emit: throttle.pending, flushAt: null };
}
