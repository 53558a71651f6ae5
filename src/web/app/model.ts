/**
 * The demo page's picture of a collaboration room (seed 001), rebuilt from the server's snapshot and kept up to
 * date by its events. Pure and DOM-free: the page renders it, and the unit tests drive it without a browser.
 *
 * Canvas rules mirror the server's history (src/domain/canvas.ts): `draw` appends an op on top, `clear` wipes,
 * `undo` of a stroke removes it and `undo` of a clear brings back the server's `visible` list, `redo` re-applies
 * on top. A `draw` for an op id already on the canvas is counted in `duplicates`: the end-to-end test asserts it
 * stays 0 across a reconnect (the client SDK deduplicates by eventId; this is the check that it worked).
 */

export type Tool = 'pen' | 'eraser' | 'rectangle' | 'circle';

export interface Point {
  x: number;
  y: number;
}

export interface CanvasOp {
  id: string;
  type: 'draw' | 'erase' | 'shape';
  tool: Tool;
  points: Point[];
  color: string;
  size: number;
  userId: string;
  timestamp: number;
}

export type PresenceStatus = 'online' | 'away' | 'offline';

export interface Presence {
  userId: string;
  username: string;
  status: PresenceStatus;
  activity?: { type: 'typing' | 'drawing' | 'viewing'; location?: string };
  cursor?: Point;
  lastSeen: number;
}

/** One line of the room's log as the page shows it: chat, dice, joins and leaves. */
export interface FeedItem {
  id: string;
  kind: 'chat' | 'dice' | 'join' | 'leave';
  userId: string;
  username: string;
  text: string;
  timestamp: number;
}

export interface RoomModel {
  ops: CanvasOp[];
  presence: Map<string, Presence>;
  /** Oldest first, at most FEED_LIMIT. */
  feed: FeedItem[];
  /** Latest cursor of each other user, canvas units. */
  cursors: Map<string, Point>;
  /** `draw` events whose op was already on the canvas (should stay 0). */
  duplicates: number;
}

export const FEED_LIMIT = 200;

export const createModel = (): RoomModel => ({ ops: [], presence: new Map(), feed: [], cursors: new Map(), duplicates: 0 });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

function asOp(v: unknown): CanvasOp | null {
  if (!isRecord(v) || typeof v.id !== 'string' || !Array.isArray(v.points)) return null;
  return v as unknown as CanvasOp;
}

function asPresence(v: unknown): Presence | null {
  if (!isRecord(v) || typeof v.userId !== 'string') return null;
  return v as unknown as Presence;
}

/** A dice result as one line: `2d6+3 → [4, 2] +3 = 9`. */
export function describeRoll(data: unknown): string {
  if (!isRecord(data)) return 'rolled';
  const rolls = Array.isArray(data.rolls) ? data.rolls : [];
  const dice = rolls
    .filter(isRecord)
    .map((r) => `[${(Array.isArray(r.dice) ? r.dice : []).join(', ')}]`)
    .join(' ');
  const mod = num(data.modifier);
  const modText = mod === 0 ? '' : mod > 0 ? ` +${mod}` : ` ${mod}`;
  const reason = typeof data.reason === 'string' && data.reason ? ` (${data.reason})` : '';
  return `${str(data.notation, '?')} → ${dice}${modText} = ${num(data.total)}${reason}`;
}

function pushFeed(model: RoomModel, item: FeedItem): RoomModel {
  if (model.feed.some((f) => f.id === item.id)) return model;
  const feed = [...model.feed, item].slice(-FEED_LIMIT);
  return { ...model, feed };
}

/** Join/leave events carry no activity id: the line is keyed by user and time, the same from either source. */
const presenceLineId = (kind: 'join' | 'leave', userId: string, at: number): string => `${kind}:${userId}:${at}`;

/** An activity record (snapshot `activity`, newest first on the wire) as a feed line, or null if not shown. */
export function activityToFeed(a: unknown): FeedItem | null {
  if (!isRecord(a) || typeof a.id !== 'string') return null;
  const base = { id: a.id, userId: str(a.userId), username: str(a.username), timestamp: num(a.timestamp) };
  const data = isRecord(a.data) ? a.data : {};
  switch (a.type) {
    case 'chat_message':
      return { ...base, kind: 'chat', text: str(data.text) };
    case 'dice_roll':
      return { ...base, kind: 'dice', text: describeRoll(data) };
    case 'user_joined':
      return { ...base, id: presenceLineId('join', base.userId, base.timestamp), kind: 'join', text: 'joined' };
    case 'user_left':
      return { ...base, id: presenceLineId('leave', base.userId, base.timestamp), kind: 'leave', text: 'left' };
    default:
      return null;
  }
}

/**
 * Replaces everything with a snapshot (the `room.join` answer, or a resync past the server's log).
 * `canvas` false keeps the ops: a re-join after a reconnect takes presence from the answer, while the canvas is
 * brought up to date by the replay of what was missed.
 */
export function applySnapshot(model: RoomModel, snapshot: unknown, options: { canvas?: boolean } = {}): RoomModel {
  if (!isRecord(snapshot)) return model;
  const next: RoomModel = { ...model };
  if (options.canvas !== false && Array.isArray(snapshot.canvas)) {
    next.ops = snapshot.canvas.map(asOp).filter((o): o is CanvasOp => o !== null);
  }
  if (Array.isArray(snapshot.presence)) {
    next.presence = new Map();
    next.cursors = new Map();
    for (const p of snapshot.presence.map(asPresence)) {
      if (!p) continue;
      next.presence.set(p.userId, p);
      if (p.cursor && p.status !== 'offline') next.cursors.set(p.userId, p.cursor);
    }
  }
  if (Array.isArray(snapshot.activity)) {
    // Merge by id so lines seen live are kept once; the server lists newest first.
    const seen = new Map(model.feed.map((f) => [f.id, f]));
    for (const a of snapshot.activity) {
      const item = activityToFeed(a);
      if (item) seen.set(item.id, item);
    }
    next.feed = [...seen.values()].sort((a, b) => a.timestamp - b.timestamp || a.id.localeCompare(b.id)).slice(-FEED_LIMIT);
  }
  return next;
}

/** Applies one room event (the name is the seed's, in the frame's `method`). Unknown names change nothing. */
export function applyEvent(model: RoomModel, name: string, data: unknown): RoomModel {
  const d = isRecord(data) ? data : {};
  switch (name) {
    case 'draw': {
      const op = asOp(d.op);
      if (!op) return model;
      if (model.ops.some((o) => o.id === op.id)) {
        return { ...model, ops: model.ops.map((o) => (o.id === op.id ? op : o)), duplicates: model.duplicates + 1 };
      }
      return { ...model, ops: [...model.ops, op] };
    }
    case 'clear':
      return { ...model, ops: [] };
    case 'undo': {
      if (d.kind === 'clear') {
        const visible = Array.isArray(d.visible) ? d.visible.map(asOp).filter((o): o is CanvasOp => o !== null) : model.ops;
        return { ...model, ops: visible };
      }
      return { ...model, ops: model.ops.filter((o) => o.id !== d.opId) };
    }
    case 'redo': {
      if (d.kind === 'clear') return { ...model, ops: [] };
      const op = asOp(d.op);
      if (!op) return model;
      return { ...model, ops: [...model.ops.filter((o) => o.id !== op.id), op] };
    }
    case 'presence': {
      const p = asPresence(d);
      if (!p) return model;
      // The event is the user's whole presence: a field it lacks (an activity that ended) is gone. The cursor
      // travels in its own events, so the last one seen is kept.
      const presence = new Map(model.presence);
      const cursor = p.cursor ?? model.presence.get(p.userId)?.cursor;
      presence.set(p.userId, cursor ? { ...p, cursor } : p);
      return { ...model, presence };
    }
    case 'user_joined': {
      const p = asPresence(d.presence) ?? asPresence(d);
      const presence = new Map(model.presence);
      if (p) presence.set(p.userId, { ...p, username: str(d.username, p.username) });
      const item: FeedItem = {
        id: presenceLineId('join', str(d.userId), num(p?.lastSeen, Date.now())),
        kind: 'join',
        userId: str(d.userId),
        username: str(d.username),
        text: 'joined',
        timestamp: num(p?.lastSeen, Date.now()),
      };
      return pushFeed({ ...model, presence }, item);
    }
    case 'user_left': {
      const userId = str(d.userId);
      const presence = new Map(model.presence);
      const prev = presence.get(userId);
      const lastSeen = num(d.lastSeen, Date.now());
      presence.set(userId, { ...(prev ?? { userId, username: str(d.username) }), status: 'offline', lastSeen });
      const cursors = new Map(model.cursors);
      cursors.delete(userId);
      const item: FeedItem = {
        id: presenceLineId('leave', userId, lastSeen),
        kind: 'leave',
        userId,
        username: str(d.username),
        text: 'left',
        timestamp: lastSeen,
      };
      return pushFeed({ ...model, presence, cursors }, item);
    }
    case 'cursor': {
      if (typeof d.userId !== 'string') return model;
      const cursors = new Map(model.cursors);
      cursors.set(d.userId, { x: num(d.x), y: num(d.y) });
      return { ...model, cursors };
    }
    case 'chat_message':
      return pushFeed(model, {
        id: str(d.id, `chat:${num(d.timestamp)}`),
        kind: 'chat',
        userId: str(d.userId),
        username: str(d.username),
        text: str(d.text),
        timestamp: num(d.timestamp, Date.now()),
      });
    case 'dice_roll':
      return pushFeed(model, {
        id: str(d.id, `dice:${num(d.timestamp)}`),
        kind: 'dice',
        userId: str(d.userId),
        username: str(d.username),
        text: describeRoll(d),
        timestamp: num(d.timestamp, Date.now()),
      });
    default:
      return model;
  }
}

/** Online first, then away, then offline; by name within each. */
export function presenceList(model: RoomModel): Presence[] {
  const rank: Record<PresenceStatus, number> = { online: 0, away: 1, offline: 2 };
  return [...model.presence.values()].sort(
    (a, b) => (rank[a.status] ?? 3) - (rank[b.status] ?? 3) || a.username.localeCompare(b.username),
  );
}

/** A stable colour per user for cursors and names: FNV-1a spreads even neighbouring ids ("4", "5") across hues. */
export function userColor(userId: string): string {
  // User ids are consecutive numbers: stepping the hue by the golden angle puts any few users (two guests who just
  // registered one after the other) far apart on the colour wheel, the same on every screen.
  const n = /^\d{1,15}$/.test(userId) ? Number(userId) : fnv1a(userId);
  const hue = (n * GOLDEN_ANGLE) % 360;
  // Alternate the lightness too, for the pairs the wheel brings closest.
  return `hsl(${hue.toFixed(1)} 70% ${n % 2 ? 36 : 46}%)`;
}

const GOLDEN_ANGLE = 137.508;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
