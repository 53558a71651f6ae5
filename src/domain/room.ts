/**
 * A collaboration room (seed 001) as one plain-JSON state and a reducer, so the Room actor is a thin shell:
 *
 *   const r = applyMethod(state, caller, method, params, Date.now());   // throws ApiError on bad input
 *   state = r.state; persist(state); reply(r.response); broadcast(r.events); if (r.activity) persist(r.activity);
 *   // and at nextDeadline(state): ({ state, events } = tick(state, Date.now())), persist, broadcast.
 *
 * Nothing is mutated and a throw changes nothing. Pen strokes are batched (canvas.ts) and cursor moves throttled
 * to 60 Hz (room-presence.ts): both leave work pending, which `tick` flushes when due (`applyMethod` also flushes
 * whatever is due first, so events keep their order). Events marked `ephemeral` (cursor positions) are
 * broadcast but need not enter the resync log: the snapshot carries every user's latest cursor.
 */

import { ApiError, invalid } from '../errors';
import { type Activity, type ActivityFeed, createFeed, recentActivity, recordActivity } from './activity';
import {
  bufferStroke,
  type CanvasOp,
  type CanvasState,
  clear,
  createCanvas,
  draw,
  ERASER_COLOR,
  flushStrokes,
  nextStrokeDue,
  redo,
  type StrokeBuffer,
  undo,
  visibleOps,
} from './canvas';
import { type RandomSource, roll, secureRandom } from './dice';
import {
  MAX_NOTES,
  MAX_TOKENS,
  type MapToken,
  parseMethodParams,
  type RoomEventName,
  type RoomMethod,
  type RoomMethodParams,
  requireMethod,
} from './room-methods';
import {
  CURSOR_INTERVAL_MS,
  type CursorThrottle,
  connect,
  connectionLost,
  depart,
  departures,
  disconnect,
  flushCursor,
  isConnected,
  listPresence,
  nextDeparture,
  type PresenceData,
  type PresenceState,
  setCursor,
  throttleCursor,
  toPresenceData,
  touch,
  updatePresence,
} from './room-presence';
import {
  addParticipant,
  createTurns,
  nextTurn,
  type Participant,
  removeParticipant,
  type TurnChangeReason,
  type TurnState,
  turnChangedData,
} from './turns';

export interface Note {
  id: string;
  text: string;
  /** 1 after the first edit; `note.edit` with a stale `baseVersion` is refused. */
  version: number;
  updatedBy: string;
  updatedAt: number;
}

export interface MapState {
  name: string | null;
  backgroundUrl: string | null;
  gridSize: number;
  tokens: MapToken[];
  version: number;
}

export interface RoomState {
  v: 1;
  canvas: CanvasState;
  pendingStrokes: StrokeBuffer;
  presence: PresenceState;
  cursors: Record<string, CursorThrottle>;
  turns: TurnState;
  notes: Record<string, Note>;
  map: MapState;
  activity: ActivityFeed;
}

/** Who is calling: from the connection's verified token, never from params. */
export interface RoomCaller {
  userId: string;
  username: string;
  connectionId: string;
}

export interface RoomEvent {
  method: RoomEventName;
  data: unknown;
  /** Broadcast, but not worth replaying on resync (superseded by the snapshot). */
  ephemeral?: true;
}

export interface MethodResult {
  state: RoomState;
  response: unknown;
  events: RoomEvent[];
  /** The activity record this method created, to persist (actor log, then D1 write-behind). */
  activity?: Activity;
}

/** What a newcomer (or a resync past the log) gets: everything needed to draw the room. */
export interface RoomSnapshot {
  canvas: CanvasOp[];
  presence: PresenceData[];
  /** Newest first. */
  activity: Activity[];
  turns: { round: number; current: Participant | null; order: Participant[] };
  notes: Note[];
  map: MapState;
}

export const DEFAULT_GRID_SIZE = 50;

export const createRoomState = (): RoomState => ({
  v: 1,
  canvas: createCanvas(),
  pendingStrokes: {},
  presence: {},
  cursors: {},
  turns: createTurns(),
  notes: {},
  map: { name: null, backgroundUrl: null, gridSize: DEFAULT_GRID_SIZE, tokens: [], version: 0 },
  activity: createFeed(),
});

export function roomSnapshot(state: RoomState): RoomSnapshot {
  const t = turnChangedData(state.turns, 'next');
  return {
    canvas: visibleOps(state.canvas),
    presence: listPresence(state.presence),
    activity: recentActivity(state.activity),
    turns: { round: t.round, current: t.current, order: t.order },
    notes: Object.values(state.notes).sort((a, b) => a.id.localeCompare(b.id)),
    map: state.map,
  };
}

/** Methods a connection may call before `room.join`. */
const OPEN_METHODS: ReadonlySet<RoomMethod> = new Set(['room.join', 'room.leave', 'room.state']);

/**
 * Applies one request. Validates the method and params, requires the connection to have joined (except for
 * room.join/room.leave/room.state), flushes whatever batching work is due, then runs the method.
 */
export function applyMethod(
  state: RoomState,
  caller: RoomCaller,
  method: string,
  params: unknown,
  now: number,
  random: RandomSource = secureRandom,
): MethodResult {
  const m = requireMethod(method);
  const p = parseMethodParams(m, params);
  if (!OPEN_METHODS.has(m) && !isConnected(state.presence, caller.userId, caller.connectionId)) {
    throw new ApiError('AUTHORIZATION_FAILED', `Join the room before calling ${m}`, { details: { issue: 'not_joined' } });
  }
  const due = tick(state, now);
  const presence = touch(due.state.presence, caller.userId, now);
  const s: RoomState = presence === due.state.presence ? due.state : { ...due.state, presence };
  const r = run(s, caller, m, p as never, now, random);
  return { ...r, events: [...due.events, ...r.events] };
}

type Handler<M extends RoomMethod> = (
  s: RoomState,
  caller: RoomCaller,
  p: RoomMethodParams[M],
  now: number,
  random: RandomSource,
) => MethodResult;

function run<M extends RoomMethod>(
  s: RoomState,
  caller: RoomCaller,
  m: M,
  p: RoomMethodParams[M],
  now: number,
  random: RandomSource,
): MethodResult {
  return (HANDLERS[m] as Handler<M>)(s, caller, p, now, random);
}

/** Records an activity and returns the state with it. */
function withActivity<D>(s: RoomState, caller: RoomCaller, type: Activity['type'], data: D, now: number) {
  const r = recordActivity(s.activity, { type, userId: caller.userId, username: caller.username, data }, now);
  return { state: { ...s, activity: r.feed }, activity: r.activity };
}

/** Applies every pending stroke (before anything that changes history order: clear, undo, erase, shapes). */
function flushAllStrokes(s: RoomState, now: number, onlyUserId?: string): { state: RoomState; events: RoomEvent[] } {
  const f = flushStrokes(
    s.canvas,
    s.pendingStrokes,
    now,
    onlyUserId === undefined ? { force: true } : { force: true, onlyUserId },
  );
  return { state: { ...s, canvas: f.canvas, pendingStrokes: f.buffer }, events: f.events };
}

// Control characters other than tab and newline never belong in chat.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

function turnResult(
  s: RoomState,
  caller: RoomCaller,
  turns: TurnState,
  reason: TurnChangeReason,
  now: number,
  participant?: Participant,
) {
  const data = turnChangedData(turns, reason, participant);
  const a = withActivity(
    { ...s, turns },
    caller,
    'turn_changed',
    {
      reason,
      round: data.round,
      current: data.current?.name ?? null,
      ...(participant ? { participant: participant.name } : {}),
    },
    now,
  );
  return {
    state: a.state,
    response: data,
    events: [{ method: 'turn_changed' as const, data: { ...data, userId: caller.userId, username: caller.username } }],
    activity: a.activity,
  };
}

const HANDLERS: { [M in RoomMethod]: Handler<M> } = {
  'room.join': (s, caller, _p, now) => {
    const c = connect(s.presence, caller, now);
    const you = toPresenceData(c.entry);
    const state = { ...s, presence: c.state };
    // The newcomer's answer is the whole room as it is now: no need to wait for events.
    if (!c.firstConnection) return { state, response: { you, ...roomSnapshot(state) }, events: [] };
    const a = withActivity(state, caller, 'user_joined', {}, now);
    const data = { userId: caller.userId, username: caller.username, presence: you };
    return {
      state: a.state,
      response: { you, ...roomSnapshot(a.state) },
      events: [{ method: 'user_joined', data }],
      activity: a.activity,
    };
  },

  'room.leave': (s, caller, _p, now) => {
    if (!isConnected(s.presence, caller.userId, caller.connectionId)) return { state: s, response: { left: false }, events: [] };
    const flushed = flushAllStrokes(s, now, caller.userId);
    const d = disconnect(flushed.state.presence, caller.userId, caller.connectionId, now);
    let state: RoomState = { ...flushed.state, presence: d.state };
    if (!d.lastConnection) return { state, response: { left: true }, events: flushed.events };
    const { [caller.userId]: _gone, ...cursors } = state.cursors;
    state = { ...state, cursors };
    const a = withActivity(state, caller, 'user_left', {}, now);
    const data = { userId: caller.userId, username: caller.username, lastSeen: now };
    return {
      state: a.state,
      response: { left: true },
      events: [...flushed.events, { method: 'user_left', data }],
      activity: a.activity,
    };
  },

  'room.state': (s) => ({ state: s, response: roomSnapshot(s), events: [] }),

  'chat.send': (s, caller, p, now) => {
    const text = p.text.replace(CONTROL_CHARS, '').trim();
    if (!text) throw invalid('Message is empty', { issue: 'empty_message', field: 'text' });
    const a = withActivity(s, caller, 'chat_message', { text }, now);
    const data = { id: a.activity.id, userId: caller.userId, username: caller.username, text, timestamp: now };
    return {
      state: a.state,
      response: { id: a.activity.id, timestamp: now },
      events: [{ method: 'chat_message', data }],
      activity: a.activity,
    };
  },

  'dice.roll': (s, caller, p, now, random) => {
    const result = roll(p.notation, random);
    const rolled = p.reason === undefined ? result : { ...result, reason: p.reason };
    const a = withActivity(s, caller, 'dice_roll', rolled, now);
    const data = { id: a.activity.id, userId: caller.userId, username: caller.username, ...rolled, timestamp: now };
    return { state: a.state, response: data, events: [{ method: 'dice_roll', data }], activity: a.activity };
  },

  'turn.next': (s, caller, _p, now) => turnResult(s, caller, nextTurn(s.turns), 'next', now),

  'turn.add': (s, caller, p, now) => {
    const r = addParticipant(s.turns, p);
    return turnResult(s, caller, r.turns, 'added', now, r.participant);
  },

  'turn.remove': (s, caller, p, now) => {
    const r = removeParticipant(s.turns, p.id);
    return turnResult(s, caller, r.turns, 'removed', now, r.participant);
  },

  'note.edit': (s, caller, p, now) => {
    const prev = s.notes[p.noteId];
    const current = prev?.version ?? 0;
    if (p.baseVersion !== undefined && p.baseVersion !== current) {
      throw invalid(`Note '${p.noteId}' changed since version ${p.baseVersion} (now ${current}): reload and edit again`, {
        issue: 'version_conflict',
        field: 'baseVersion',
        currentVersion: current,
      });
    }
    if (!prev && Object.keys(s.notes).length >= MAX_NOTES) {
      throw invalid(`At most ${MAX_NOTES} notes per room`, { issue: 'too_many_notes', max: MAX_NOTES });
    }
    const note: Note = { id: p.noteId, text: p.text, version: current + 1, updatedBy: caller.userId, updatedAt: now };
    const a = withActivity(
      { ...s, notes: { ...s.notes, [note.id]: note } },
      caller,
      'note_edited',
      {
        noteId: note.id,
        version: note.version,
        length: note.text.length,
      },
      now,
    );
    const data = { note, userId: caller.userId, username: caller.username };
    return { state: a.state, response: note, events: [{ method: 'note_edited', data }], activity: a.activity };
  },

  'map.update': (s, caller, p, now) => {
    const map: MapState = { ...s.map, version: s.map.version + 1 };
    if (p.name !== undefined) map.name = p.name;
    if (p.backgroundUrl !== undefined) map.backgroundUrl = p.backgroundUrl;
    if (p.gridSize !== undefined) map.gridSize = p.gridSize;
    if (p.tokens || p.removeTokens) {
      const removed = new Set(p.removeTokens ?? []);
      const byId = new Map(s.map.tokens.filter((t) => !removed.has(t.id)).map((t) => [t.id, t]));
      for (const t of p.tokens ?? []) byId.set(t.id, t);
      if (byId.size > MAX_TOKENS)
        throw invalid(`At most ${MAX_TOKENS} tokens on the map`, { issue: 'too_many_tokens', max: MAX_TOKENS });
      map.tokens = [...byId.values()];
    }
    const changed = Object.keys(p).filter((k) => p[k as keyof typeof p] !== undefined);
    const a = withActivity({ ...s, map }, caller, 'map_updated', { changed, version: map.version }, now);
    const data = { map, changed, userId: caller.userId, username: caller.username };
    return { state: a.state, response: map, events: [{ method: 'map_updated', data }], activity: a.activity };
  },

  'presence.update': (s, caller, p, now) => {
    const r = updatePresence(s.presence, caller.userId, p, now);
    const data = toPresenceData(r.entry);
    return { state: { ...s, presence: r.state }, response: data, events: [{ method: 'presence', data }] };
  },

  'cursor.move': (s, caller, p, now) => {
    const presence = setCursor(s.presence, caller.userId, p, now).state;
    const t = throttleCursor(s.cursors[caller.userId], p, now);
    const state = { ...s, presence, cursors: { ...s.cursors, [caller.userId]: t.throttle } };
    const events: RoomEvent[] = t.emit ? [{ method: 'cursor', data: { userId: caller.userId, ...t.emit }, ephemeral: true }] : [];
    return { state, response: { emitted: t.emit !== null }, events };
  },

  'canvas.draw': (s, caller, p, now) => {
    const stroke = { type: 'draw' as const, tool: 'pen' as const, points: p.points, color: p.color, size: p.size };
    const b = bufferStroke(s.canvas, s.pendingStrokes, caller.userId, stroke, now, p.strokeId);
    // The op's id is known now; its `draw` event goes out when the batch is flushed (tick / next canvas method).
    return {
      state: { ...s, canvas: b.canvas, pendingStrokes: b.buffer },
      response: { id: b.id, pending: true },
      events: b.events,
    };
  },

  'canvas.erase': (s, caller, p, now) => {
    const f = flushAllStrokes(s, now);
    const stroke = {
      type: 'erase' as const,
      tool: 'eraser' as const,
      points: p.points,
      color: p.color ?? ERASER_COLOR,
      size: p.size,
    };
    const r = draw(f.state.canvas, caller.userId, stroke, now);
    return { state: { ...f.state, canvas: r.canvas }, response: { id: r.op.id }, events: [...f.events, r.event] };
  },

  'canvas.shape': (s, caller, p, now) => {
    const f = flushAllStrokes(s, now);
    const r = draw(
      f.state.canvas,
      caller.userId,
      { type: 'shape', tool: p.tool, points: p.points, color: p.color, size: p.size },
      now,
    );
    return { state: { ...f.state, canvas: r.canvas }, response: { id: r.op.id }, events: [...f.events, r.event] };
  },

  'canvas.clear': (s, caller, _p, now) => {
    const f = flushAllStrokes(s, now);
    const r = clear(f.state.canvas, caller.userId, now);
    return { state: { ...f.state, canvas: r.canvas }, response: { id: r.event.data.id }, events: [...f.events, r.event] };
  },

  'canvas.undo': (s, caller, _p, now) => {
    // Flushing first makes a just-drawn, still-batched stroke the one that is taken back.
    const f = flushAllStrokes(s, now);
    const r = undo(f.state.canvas, caller.userId);
    return { state: { ...f.state, canvas: r.canvas }, response: r.event.data, events: [...f.events, r.event] };
  },

  'canvas.redo': (s, caller, _p, now) => {
    const f = flushAllStrokes(s, now);
    const r = redo(f.state.canvas, caller.userId);
    return { state: { ...f.state, canvas: r.canvas }, response: r.event.data, events: [...f.events, r.event] };
  },
};

/**
 * A connection's socket closed without `room.leave`: its pending strokes are applied, and when it was the user's
 * last connection they stay present for `graceMs` (`tick` announces `user_left` after that, unless a connection
 * of theirs joins first). Nothing is announced now. Unknown connections change nothing.
 */
export function connectionClosed(
  s: RoomState,
  caller: RoomCaller,
  now: number,
  graceMs?: number,
): { state: RoomState; events: RoomEvent[] } {
  if (!isConnected(s.presence, caller.userId, caller.connectionId)) return { state: s, events: [] };
  const flushed = flushAllStrokes(s, now, caller.userId);
  const lost = connectionLost(flushed.state.presence, caller.userId, caller.connectionId, now, graceMs);
  return { state: { ...flushed.state, presence: lost.state }, events: flushed.events };
}

/** Users whose grace period ended: offline, cursor dropped, `user_left` announced and recorded. */
function announceDepartures(s: RoomState, now: number): { state: RoomState; events: RoomEvent[]; activities: Activity[] } {
  let state = s;
  const events: RoomEvent[] = [];
  const activities: Activity[] = [];
  for (const entry of departures(s.presence, now)) {
    const { [entry.userId]: _gone, ...cursors } = state.cursors;
    state = { ...state, presence: depart(state.presence, entry.userId), cursors };
    const caller = { userId: entry.userId, username: entry.username, connectionId: '' };
    const a = withActivity(state, caller, 'user_left', {}, now);
    state = a.state;
    activities.push(a.activity);
    events.push({ method: 'user_left', data: { userId: entry.userId, username: entry.username, lastSeen: entry.lastSeen } });
  }
  return { state, events, activities };
}

/** Flushes batched strokes, coalesced cursors and presence departures that are due at `now`. */
export function tick(state: RoomState, now: number): { state: RoomState; events: RoomEvent[]; activities?: Activity[] } {
  const left = announceDepartures(state, now);
  if (left.events.length) {
    const rest = tick(left.state, now);
    return { state: rest.state, events: [...left.events, ...rest.events], activities: left.activities };
  }
  const strokes = flushStrokes(state.canvas, state.pendingStrokes, now);
  const events: RoomEvent[] = [...strokes.events];
  let cursors = state.cursors;
  for (const [userId, throttle] of Object.entries(state.cursors)) {
    if (!throttle.pending) continue;
    const f = flushCursor(throttle, now);
    if (!f.emit) continue;
    cursors = { ...cursors, [userId]: f.throttle };
    events.push({ method: 'cursor', data: { userId, ...f.emit }, ephemeral: true });
  }
  if (!events.length) return { state, events };
  return { state: { ...state, canvas: strokes.canvas, pendingStrokes: strokes.buffer, cursors }, events };
}

/** When `tick` next has something to do (ms since the epoch), or null: when the actor should wake up. */
export function nextDeadline(state: RoomState): number | null {
  let at = nextStrokeDue(state.pendingStrokes);
  const departure = nextDeparture(state.presence);
  if (departure !== null && (at === null || departure < at)) at = departure;
  for (const t of Object.values(state.cursors)) {
    if (!t.pending) continue;
    const f = (t.lastEmitAt ?? 0) + CURSOR_INTERVAL_MS;
    if (at === null || f < at) at = f;
  }
  return at;
}
