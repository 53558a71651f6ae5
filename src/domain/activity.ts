/**
 * The room's activity feed (seed 001's Activity): records with ids that sort in the order they happened, a
 * bounded list of the most recent ones for newcomers, and opaque page cursors for reading the full feed page
 * by page over REST (newest first). The full feed lives in D1 (write-behind); a page query there is
 * `WHERE timestamp < :t OR (timestamp = :t AND id < :id) ORDER BY timestamp DESC, id DESC LIMIT :limit`,
 * the same order `paginate` applies to an in-memory list.
 */
import { invalid } from '../errors';

export const ACTIVITY_TYPES = [
  'user_joined',
  'user_left',
  'chat_message',
  'dice_roll',
  'turn_changed',
  'map_updated',
  'note_edited',
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export interface Activity<D = unknown> {
  id: string;
  type: ActivityType;
  userId: string;
  username: string;
  data: D;
  timestamp: number;
}

export interface ActivityFeed {
  /** Most recent last, at most RECENT_ACTIVITY_LIMIT. */
  recent: Activity[];
  nextSeq: number;
}

export const RECENT_ACTIVITY_LIMIT = 50;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const createFeed = (): ActivityFeed => ({ recent: [], nextSeq: 1 });

/** `act-` and a zero-padded sequence: unique within a room and sortable as text. */
export const activityId = (seq: number): string => `act-${String(seq).padStart(12, '0')}`;

export const isActivityType = (t: unknown): t is ActivityType => ACTIVITY_TYPES.includes(t as ActivityType);

/** Appends a record (to persist and to send); the recent list keeps the newest RECENT_ACTIVITY_LIMIT. */
export function recordActivity<D>(
  feed: ActivityFeed,
  input: { type: ActivityType; userId: string; username: string; data: D },
  now: number,
  limit: number = RECENT_ACTIVITY_LIMIT,
): { feed: ActivityFeed; activity: Activity<D> } {
  if (!isActivityType(input.type))
    throw invalid(`Unknown activity type '${String(input.type)}'`, { issue: 'invalid_activity_type' });
  const activity: Activity<D> = {
    id: activityId(feed.nextSeq),
    type: input.type,
    userId: input.userId,
    username: input.username,
    data: input.data,
    timestamp: now,
  };
  const recent = [...feed.recent, activity as Activity].slice(-limit);
  return { feed: { recent, nextSeq: feed.nextSeq + 1 }, activity };
}

/** Newest first, for a newcomer's snapshot. */
export const recentActivity = (feed: ActivityFeed, limit: number = RECENT_ACTIVITY_LIMIT): Activity[] =>
  feed.recent.slice(-limit).reverse();

// ---------------------------------------------------------------------------------------------------------
// Pagination

/** Where a page ended: the last (oldest) record returned. */
export interface ActivityCursor {
  timestamp: number;
  id: string;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** base64url of `{t, id}`: opaque to clients, so its form can change without breaking them. */
export function encodeCursor(c: ActivityCursor): string {
  return btoa(JSON.stringify({ t: c.timestamp, id: c.id }))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

export function decodeCursor(cursor: string): ActivityCursor {
  const bad = () =>
    invalid('Invalid page cursor: pass back the nextCursor of a previous page', { issue: 'invalid_cursor', field: 'cursor' });
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    throw bad();
  }
  const { t, id } = (parsed ?? {}) as { t?: unknown; id?: unknown };
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0 || typeof id !== 'string' || !ID_PATTERN.test(id)) throw bad();
  return { timestamp: t, id };
}

/** Newest first: later timestamp first, then larger id. */
export const compareNewestFirst = (a: ActivityCursor, b: ActivityCursor): number =>
  b.timestamp - a.timestamp || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** Reads `limit` (1..MAX_PAGE_SIZE, default DEFAULT_PAGE_SIZE) and `cursor` from query strings. */
export function parsePageQuery(query: { cursor?: string | null; limit?: string | number | null }): {
  cursor: ActivityCursor | null;
  limit: number;
} {
  let limit = DEFAULT_PAGE_SIZE;
  if (query.limit !== undefined && query.limit !== null && query.limit !== '') {
    const n = Number(query.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
      throw invalid(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, {
        issue: 'invalid_limit',
        field: 'limit',
        max: MAX_PAGE_SIZE,
      });
    }
    limit = n;
  }
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  return { cursor, limit };
}

export interface ActivityPage {
  items: Activity[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** One page of `items` (any order), newest first, strictly older than `cursor`. */
export function paginate(
  items: readonly Activity[],
  opts: { cursor?: ActivityCursor | null; limit?: number } = {},
): ActivityPage {
  const limit = Math.min(Math.max(1, Math.floor(opts.limit ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);
  const { cursor } = opts;
  const sorted = [...items].sort(compareNewestFirst);
  const after = cursor ? sorted.filter((a) => compareNewestFirst(cursor, a) < 0) : sorted;
  const page = after.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page,
    nextCursor: after.length > limit && last ? encodeCursor({ timestamp: last.timestamp, id: last.id }) : null,
  };
}
