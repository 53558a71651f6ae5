import { describe, expect, it } from 'vitest';
import {
  type Activity,
  type ActivityFeed,
  activityId,
  createFeed,
  decodeCursor,
  encodeCursor,
  MAX_PAGE_SIZE,
  paginate,
  parsePageQuery,
  RECENT_ACTIVITY_LIMIT,
  recentActivity,
  recordActivity,
} from '../../../src/domain/activity';
import { ApiError } from '../../../src/errors';

function issueOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) {
      expect(e.code).toBe('INVALID_REQUEST');
      return e.details?.issue;
    }
    throw e;
  }
  throw new Error('expected an ApiError');
}

function feedOf(n: number, timestampOf: (i: number) => number = (i) => 1000 + i): { feed: ActivityFeed; all: Activity[] } {
  let feed = createFeed();
  const all: Activity[] = [];
  for (let i = 0; i < n; i++) {
    const r = recordActivity(
      feed,
      { type: 'chat_message', userId: 'u1', username: 'Ann', data: { text: `m${i}` } },
      timestampOf(i),
    );
    feed = r.feed;
    all.push(r.activity);
  }
  return { feed, all };
}

describe('activity records', () => {
  it('have the seed shape, sortable ids, and a bounded recent list (newest first for newcomers)', () => {
    const r = recordActivity(createFeed(), { type: 'dice_roll', userId: 'u1', username: 'Ann', data: { total: 7 } }, 5);
    expect(r.activity).toEqual({
      id: 'act-000000000001',
      type: 'dice_roll',
      userId: 'u1',
      username: 'Ann',
      data: { total: 7 },
      timestamp: 5,
    });
    expect(activityId(10) > activityId(9)).toBe(true);
    const { feed } = feedOf(RECENT_ACTIVITY_LIMIT + 7);
    expect(feed.recent).toHaveLength(RECENT_ACTIVITY_LIMIT);
    const recent = recentActivity(feed);
    expect(recent[0]?.data).toEqual({ text: `m${RECENT_ACTIVITY_LIMIT + 6}` });
    expect(recent.at(-1)?.data).toEqual({ text: 'm7' });
    expect(recentActivity(feed, 3)).toHaveLength(3);
  });

  it('rejects types that are not in the seed list', () => {
    expect(
      issueOf(() =>
        recordActivity(createFeed(), { type: 'canvas_draw' as 'user_joined', userId: 'u', username: 'U', data: {} }, 1),
      ),
    ).toBe('invalid_activity_type');
  });
});

describe('pagination', () => {
  it('cursors round-trip and are opaque base64url', () => {
    const c = { timestamp: 1_700_000_000_000, id: 'act-000000000042' };
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(s)).toEqual(c);
  });

  it('rejects forged or garbage cursors', () => {
    const forged = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    for (const bad of [
      '',
      'not a cursor!',
      'x'.repeat(201),
      'AAAA',
      forged({ t: -1, id: 'a' }),
      forged({ t: 1.5, id: 'a' }),
      forged({ t: 1, id: "a' OR 1=1" }),
      forged({ t: 1 }),
      forged(null),
      forged([1, 2]),
    ]) {
      expect(
        issueOf(() => decodeCursor(bad)),
        bad,
      ).toBe('invalid_cursor');
    }
  });

  it('walks the whole feed page by page, newest first, with no gaps or repeats, also across equal timestamps', () => {
    const { all } = feedOf(23, (i) => 1000 + Math.floor(i / 4)); // four records share each timestamp
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q = parsePageQuery({ cursor, limit: '5' });
      const page = paginate([...all].reverse(), q);
      seen.push(...page.items.map((a) => a.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toEqual(all.map((a) => a.id).reverse());
  });

  it('reads limit from the query: default, bounds, and bad values', () => {
    expect(parsePageQuery({})).toEqual({ cursor: null, limit: 20 });
    expect(parsePageQuery({ limit: String(MAX_PAGE_SIZE) }).limit).toBe(MAX_PAGE_SIZE);
    for (const bad of ['0', '101', 'abc', '2.5', '-3'])
      expect(
        issueOf(() => parsePageQuery({ limit: bad })),
        bad,
      ).toBe('invalid_limit');
    expect(issueOf(() => parsePageQuery({ cursor: '%%%' }))).toBe('invalid_cursor');
    expect(paginate([], { limit: 10 })).toEqual({ items: [], nextCursor: null });
  });
});
