/**
 * The collaborative canvas (seed 001): validated draw operations, one shared history with per-user undo/redo,
 * and the pen-stroke batching buffer. Pure: every function takes plain-JSON state and returns new state plus
 * the event to broadcast; nothing is mutated, so an actor can persist the state as is.
 *
 * Model. `history` is the list of applied entries (strokes and clears) in the order they took effect; the
 * visible canvas is `base` folded with `history` (a stroke paints on top, a clear wipes what is below it).
 * Undo removes the caller's latest entry from `history` and pushes it on the caller's redo stack, so undoing a
 * clear brings back what it wiped; redo re-applies it on top (now). A new entry by a user empties their redo
 * stack. History keeps the last `MAX_HISTORY` entries: older ones are folded into `base` and can no longer be
 * undone. `base` keeps at most `MAX_BASE_OPS` strokes; past that the oldest strokes fall off the canvas.
 */
import { invalid } from '../errors';

export type DrawType = 'draw' | 'erase' | 'shape';
export type Tool = 'pen' | 'eraser' | 'rectangle' | 'circle';

export interface Point {
  x: number;
  y: number;
}

/** The seed's DrawOperation. */
export interface DrawOperation {
  type: DrawType;
  tool: Tool;
  points: Point[];
  color: string;
  size: number;
  userId: string;
}

/** What a client asks to draw; `userId` always comes from the caller's identity, never from the input. */
export type StrokeInput = Omit<DrawOperation, 'userId'>;

/** A stroke on the canvas: the seed's DrawOperation plus its id and the time it took effect. */
export interface CanvasOp extends DrawOperation {
  id: string;
  timestamp: number;
}

export type HistoryEntry =
  | { kind: 'op'; id: string; userId: string; timestamp: number; op: CanvasOp }
  | { kind: 'clear'; id: string; userId: string; timestamp: number };

export interface CanvasState {
  /** Strokes folded out of history: visible, no longer undoable. */
  base: CanvasOp[];
  history: HistoryEntry[];
  /** Per user: undone entries, most recent last. */
  redo: Record<string, HistoryEntry[]>;
  /** Next operation number; ids are `op-<n>`, unique within the room and never reused. */
  nextId: number;
}

/** Coordinates are canvas units in [COORD_MIN, COORD_MAX] on both axes (room to pan past a 0-based viewport). */
export const COORD_MIN = -10_000;
export const COORD_MAX = 10_000;
export const MAX_POINTS = 2_000;
export const MIN_SIZE = 1;
export const MAX_SIZE = 200;
export const MAX_HISTORY = 500;
export const MAX_BASE_OPS = 5_000;
export const MAX_REDO = 100;
/** `#rgb`, `#rrggbb` or `#rrggbbaa`. */
export const COLOR_PATTERN = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
/** Erasing paints the background; an eraser stroke sent without a colour gets this one. */
export const ERASER_COLOR = '#ffffff';

/** Which tools each operation type allows, and how many points each tool takes. */
const TOOLS: Record<DrawType, readonly Tool[]> = { draw: ['pen'], erase: ['eraser'], shape: ['rectangle', 'circle'] };

export const createCanvas = (): CanvasState => ({ base: [], history: [], redo: {}, nextId: 1 });

export const opId = (n: number): string => `op-${n}`;

/**
 * Checks a stroke and returns a clean copy (only the known fields, colour lower-cased). Shapes take exactly two
 * points: a rectangle's opposite corners, a circle's centre and a point on its rim.
 */
export function validateStroke(input: StrokeInput): StrokeInput {
  const { type, tool, points, color, size } = input;
  const allowed = TOOLS[type];
  if (!allowed) throw invalid(`Unknown operation type '${String(type)}'`, { issue: 'invalid_type', field: 'type' });
  if (!allowed.includes(tool)) {
    throw invalid(`Tool '${String(tool)}' cannot be used for '${type}' (allowed: ${allowed.join(', ')})`, {
      issue: 'tool_mismatch',
      field: 'tool',
      allowed,
    });
  }
  if (!Array.isArray(points)) throw invalid('points must be an array', { issue: 'invalid_points', field: 'points' });
  if (type === 'shape') {
    if (points.length !== 2) {
      throw invalid(`A ${tool} takes exactly 2 points, got ${points.length}`, {
        issue: 'invalid_point_count',
        field: 'points',
        expected: 2,
      });
    }
  } else if (points.length < 1 || points.length > MAX_POINTS) {
    throw invalid(`A stroke takes 1 to ${MAX_POINTS} points, got ${points.length}`, {
      issue: 'invalid_point_count',
      field: 'points',
      min: 1,
      max: MAX_POINTS,
    });
  }
  const clean: Point[] = points.map((p, i) => {
    const ok = p !== null && typeof p === 'object' && inRange(p.x, COORD_MIN, COORD_MAX) && inRange(p.y, COORD_MIN, COORD_MAX);
    if (!ok) {
      throw invalid(`Point ${i} must have finite x and y in [${COORD_MIN}, ${COORD_MAX}]`, {
        issue: 'point_out_of_bounds',
        field: `points.${i}`,
        min: COORD_MIN,
        max: COORD_MAX,
      });
    }
    return { x: p.x, y: p.y };
  });
  if (typeof color !== 'string' || !COLOR_PATTERN.test(color)) {
    throw invalid('color must be #rgb, #rrggbb or #rrggbbaa', { issue: 'invalid_color', field: 'color' });
  }
  if (!inRange(size, MIN_SIZE, MAX_SIZE)) {
    throw invalid(`size must be a number from ${MIN_SIZE} to ${MAX_SIZE}`, {
      issue: 'invalid_size',
      field: 'size',
      min: MIN_SIZE,
      max: MAX_SIZE,
    });
  }
  return { type, tool, points: clean, color: color.toLowerCase(), size };
}

function inRange(n: unknown, min: number, max: number): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= min && n <= max;
}

/** The strokes currently visible, bottom first. */
export function visibleOps(canvas: CanvasState): CanvasOp[] {
  return foldEntries(canvas.base, canvas.history);
}

function foldEntries(start: CanvasOp[], entries: HistoryEntry[]): CanvasOp[] {
  let ops = [...start];
  for (const e of entries) {
    if (e.kind === 'clear') ops = [];
    else ops.push(e.op);
  }
  return ops;
}

/** Appends an entry by `userId`, empties their redo stack and folds overflow into the base layer. */
function pushEntry(canvas: CanvasState, entry: HistoryEntry): CanvasState {
  const { [entry.userId]: _cleared, ...redo } = canvas.redo;
  let history = [...canvas.history, entry];
  let base = canvas.base;
  if (history.length > MAX_HISTORY) {
    const overflow = history.slice(0, history.length - MAX_HISTORY);
    history = history.slice(overflow.length);
    base = foldEntries(base, overflow);
    if (base.length > MAX_BASE_OPS) base = base.slice(base.length - MAX_BASE_OPS);
  }
  return { ...canvas, base, history, redo };
}

export interface DrawResult {
  canvas: CanvasState;
  op: CanvasOp;
  event: { method: 'draw'; data: { op: CanvasOp } };
}

/**
 * Validates and applies a stroke. `id` lets a batched stroke keep the id it was given when its first points
 * arrived (see `bufferStroke`); otherwise the next id is taken.
 */
export function draw(canvas: CanvasState, userId: string, input: StrokeInput, now: number, id?: string): DrawResult {
  const stroke = validateStroke(input);
  let next = canvas;
  let opIdent = id;
  if (opIdent === undefined) {
    opIdent = opId(canvas.nextId);
    next = { ...canvas, nextId: canvas.nextId + 1 };
  }
  const op: CanvasOp = { id: opIdent, ...stroke, userId, timestamp: now };
  next = pushEntry(next, { kind: 'op', id: op.id, userId, timestamp: now, op });
  return { canvas: next, op, event: { method: 'draw', data: { op } } };
}

export interface ClearEventData {
  id: string;
  userId: string;
  timestamp: number;
}

/** Wipes the canvas, as an undoable entry of its own. */
export function clear(
  canvas: CanvasState,
  userId: string,
  now: number,
): { canvas: CanvasState; event: { method: 'clear'; data: ClearEventData } } {
  const id = opId(canvas.nextId);
  const next = pushEntry({ ...canvas, nextId: canvas.nextId + 1 }, { kind: 'clear', id, userId, timestamp: now });
  return { canvas: next, event: { method: 'clear', data: { id, userId, timestamp: now } } };
}

/**
 * `undo`: the entry taken back. For a stroke, clients remove `opId`; for a clear, clients replace their canvas
 * with `visible` (what the clear had wiped comes back, under anything drawn since).
 */
export interface UndoEventData {
  userId: string;
  opId: string;
  kind: HistoryEntry['kind'];
  visible?: CanvasOp[];
}

/** `redo`: the entry re-applied on top. For a stroke, clients draw `op`; for a clear, clients clear. */
export interface RedoEventData {
  userId: string;
  opId: string;
  kind: HistoryEntry['kind'];
  op?: CanvasOp;
}

/** Takes back the caller's latest entry still in history (never someone else's). */
export function undo(
  canvas: CanvasState,
  userId: string,
): { canvas: CanvasState; event: { method: 'undo'; data: UndoEventData } } {
  const index = canvas.history.findLastIndex((e) => e.userId === userId);
  const entry = canvas.history[index];
  if (index < 0 || !entry) {
    throw invalid('Nothing to undo: you have no operation left in the canvas history', { issue: 'nothing_to_undo' });
  }
  const history = canvas.history.toSpliced(index, 1);
  const stack = [...(canvas.redo[userId] ?? []), entry].slice(-MAX_REDO);
  const next: CanvasState = { ...canvas, history, redo: { ...canvas.redo, [userId]: stack } };
  const data: UndoEventData = { userId, opId: entry.id, kind: entry.kind };
  if (entry.kind === 'clear') data.visible = visibleOps(next);
  return { canvas: next, event: { method: 'undo', data } };
}

/** Re-applies the caller's most recently undone entry, on top of the canvas as it is now. */
export function redo(
  canvas: CanvasState,
  userId: string,
): { canvas: CanvasState; event: { method: 'redo'; data: RedoEventData } } {
  const stack = canvas.redo[userId] ?? [];
  const entry = stack.at(-1);
  if (!entry)
    throw invalid('Nothing to redo: you have not undone anything since your last operation', { issue: 'nothing_to_redo' });
  const rest = stack.slice(0, -1);
  const { [userId]: _old, ...others } = canvas.redo;
  // pushEntry would empty the caller's redo stack (a *new* op does); a redo keeps the rest of it.
  const pushed = pushEntry({ ...canvas, redo: others }, entry);
  const next: CanvasState = rest.length ? { ...pushed, redo: { ...pushed.redo, [userId]: rest } } : pushed;
  const data: RedoEventData = { userId, opId: entry.id, kind: entry.kind };
  if (entry.kind === 'op') data.op = entry.op;
  return { canvas: next, event: { method: 'redo', data } };
}

// ---------------------------------------------------------------------------------------------------------
// Pen batching ("debounced drawing operations"): pen points a user sends in quick succession become one op.

/** A user's pen stroke still collecting points; its id is fixed when its first points arrive. */
export interface PendingStroke {
  id: string;
  userId: string;
  stroke: StrokeInput;
  /** Optional client tag: only pieces with the same tag (or both untagged) merge. */
  strokeId?: string;
  firstAt: number;
  lastAt: number;
}

/** Per user, at most one pending pen stroke. */
export type StrokeBuffer = Record<string, PendingStroke>;

/** A pending stroke is flushed this long after its last piece ... */
export const DRAW_DEBOUNCE_MS = 50;
/** ... or this long after its first, whichever comes first, so others see a long stroke as it grows. */
export const DRAW_MAX_WAIT_MS = 200;

export interface BatchTiming {
  debounceMs: number;
  maxWaitMs: number;
}
const DEFAULT_TIMING: BatchTiming = { debounceMs: DRAW_DEBOUNCE_MS, maxWaitMs: DRAW_MAX_WAIT_MS };

/** When a pending stroke is due. */
export const strokeDueAt = (p: PendingStroke, t: BatchTiming = DEFAULT_TIMING): number =>
  Math.min(p.lastAt + t.debounceMs, p.firstAt + t.maxWaitMs);

export interface BufferResult {
  canvas: CanvasState;
  buffer: StrokeBuffer;
  /** The op id the new points belong to (known before the op is flushed). */
  id: string;
  /** True when the points joined the user's pending stroke. */
  merged: boolean;
  /** Strokes that had to be flushed first (the user's previous one when it cannot be continued). */
  events: DrawResult['event'][];
}

/**
 * Adds pen points by `userId` at `now`. They join the user's pending stroke when it is still open (within the
 * debounce window and max wait), has the same tool, colour, size and strokeId, and stays within MAX_POINTS;
 * otherwise the pending stroke is flushed and a new one begins. Only pen strokes (`type: 'draw'`) are batched;
 * erase and shape ops are applied at once by `draw`.
 */
export function bufferStroke(
  canvas: CanvasState,
  buffer: StrokeBuffer,
  userId: string,
  input: StrokeInput,
  now: number,
  strokeId?: string,
  timing: BatchTiming = DEFAULT_TIMING,
): BufferResult {
  const stroke = validateStroke(input);
  if (stroke.type !== 'draw') {
    throw invalid('Only pen strokes are batched', { issue: 'not_batchable', field: 'type' });
  }
  const pending = buffer[userId];
  if (
    pending &&
    now < strokeDueAt(pending, timing) &&
    pending.strokeId === strokeId &&
    pending.stroke.color === stroke.color &&
    pending.stroke.size === stroke.size &&
    pending.stroke.points.length + stroke.points.length <= MAX_POINTS
  ) {
    const merged: PendingStroke = {
      ...pending,
      stroke: { ...pending.stroke, points: [...pending.stroke.points, ...stroke.points] },
      lastAt: now,
    };
    return { canvas, buffer: { ...buffer, [userId]: merged }, id: pending.id, merged: true, events: [] };
  }
  const events: DrawResult['event'][] = [];
  let next = canvas;
  if (pending) {
    const flushed = draw(next, userId, pending.stroke, pending.lastAt, pending.id);
    next = flushed.canvas;
    events.push(flushed.event);
  }
  const id = opId(next.nextId);
  next = { ...next, nextId: next.nextId + 1 };
  const fresh: PendingStroke = { id, userId, stroke, firstAt: now, lastAt: now };
  if (strokeId !== undefined) fresh.strokeId = strokeId;
  return { canvas: next, buffer: { ...buffer, [userId]: fresh }, id, merged: false, events };
}

/**
 * Applies pending strokes: those due at `now`, or all of them with `force` (before a clear, an undo, an erase,
 * a leave), or only `onlyUserId`'s. Flushed in the order they began.
 */
export function flushStrokes(
  canvas: CanvasState,
  buffer: StrokeBuffer,
  now: number,
  options: { force?: boolean; onlyUserId?: string; timing?: BatchTiming } = {},
): { canvas: CanvasState; buffer: StrokeBuffer; events: DrawResult['event'][] } {
  const timing = options.timing ?? DEFAULT_TIMING;
  const due = Object.values(buffer)
    .filter(
      (p) =>
        (options.onlyUserId === undefined || p.userId === options.onlyUserId) && (options.force || now >= strokeDueAt(p, timing)),
    )
    .sort((a, b) => a.firstAt - b.firstAt);
  if (!due.length) return { canvas, buffer, events: [] };
  let next = canvas;
  const rest: StrokeBuffer = { ...buffer };
  const events: DrawResult['event'][] = [];
  for (const p of due) {
    const r = draw(next, p.userId, p.stroke, p.lastAt, p.id);
    next = r.canvas;
    events.push(r.event);
    delete rest[p.userId];
  }
  return { canvas: next, buffer: rest, events };
}

/** The earliest time a pending stroke falls due, or null when none is pending: when the actor should call back. */
export function nextStrokeDue(buffer: StrokeBuffer, timing: BatchTiming = DEFAULT_TIMING): number | null {
  let at: number | null = null;
  for (const p of Object.values(buffer)) {
    const due = strokeDueAt(p, timing);
    if (at === null || due < at) at = due;
  }
  return at;
}
