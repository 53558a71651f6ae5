import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  activityToFeed,
  applyEvent,
  applySnapshot,
  type CanvasOp,
  createModel,
  describeRoll,
  presenceList,
  userColor,
} from '../../src/web/app/model';
import { DEMO_VERSION } from '../../src/web/generated/assets';
import { escapeHtml } from '../../src/web/shell';
import { nextIp } from '../support/api';

const get = (path: string, headers: Record<string, string> = {}) =>
  SELF.fetch(`https://edge.test${path}`, { headers: { 'CF-Connecting-IP': nextIp(), ...headers } });

describe('GET /demo', () => {
  it('serves the page for a room, with its room id, the versioned bundle and a same-origin CSP', async () => {
    const res = await get('/demo/tavern');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<body data-room="tavern">');
    expect(html).toContain(`<script type="module" src="/demo/app.js?v=${DEMO_VERSION}"></script>`);
    for (const id of ['canvas', 'status', 'people', 'feed', 'dice-form', 'chat-form', 'guest-btn']) {
      expect(html).toContain(`id="${id}"`);
    }
    for (const tool of ['pen', 'eraser', 'rectangle', 'circle']) expect(html).toContain(`data-tool="${tool}"`);
  });

  it('serves /demo without a room (the page picks "lobby") and refuses a bad room id with 400', async () => {
    const plain = await get('/demo');
    expect(plain.status).toBe(200);
    expect(await plain.text()).toContain('<body data-room="">');
    const bad = await get('/demo/bad.room%3Cscript%3E');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('Content-Type')).toMatch(/text\/html/);
    const page = await bad.text();
    expect(page).toContain('Not a room name');
    expect(page).toContain('bad.room&lt;script&gt;');
    expect(page).not.toContain('<script>');
    expect(page).toContain('href="/demo"');
  });

  it('answers an unknown page under /demo with an HTML 404, not an API error body', async () => {
    const res = await get('/demo/tavern/extra');
    expect(res.status).toBe(404);
    expect(res.headers.get('Content-Type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('No such page');
  });

  it('serves the bundle and stylesheet: immutable when versioned, revalidated otherwise, 304 on a matching ETag', async () => {
    const js = await get(`/demo/app.js?v=${DEMO_VERSION}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    const body = await js.text();
    expect(body).toContain('edgeDemo');
    expect(body).toContain('room.join');
    const css = await get('/demo/app.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('no-cache');
    expect(await css.text()).toContain('.status[data-state="resyncing"]');
    const again = await get('/demo/app.js', { 'If-None-Match': `"${DEMO_VERSION}"` });
    expect(again.status).toBe(304);
    const stale = await get('/demo/app.js', { 'If-None-Match': '"old"' });
    expect(stale.status).toBe(200);
    await stale.body?.cancel();
  });

  it('serves the hub page (/demo/hub/{roomId}) with its own socket.io-client bundle; a bad room id gets 400', async () => {
    const res = await get('/demo/hub/tavern');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('<body data-room="tavern">');
    expect(html).toContain(`<script type="module" src="/demo/hub/app.js?v=${DEMO_VERSION}"></script>`);
    for (const id of ['status', 'people', 'feed', 'chat-form', 'guest-btn', 'me-status']) expect(html).toContain(`id="${id}"`);
    expect(html).not.toContain('id="canvas"');
    expect(await (await get('/demo/hub')).text()).toContain('<body data-room="">');
    const js = await get(`/demo/hub/app.js?v=${DEMO_VERSION}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(await js.text()).toContain('socket.io');
    const bad = await get('/demo/hub/bad.room%3Cscript%3E');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('Content-Type')).toMatch(/text\/html/);
    expect(await bad.text()).toContain('bad.room&lt;script&gt;');
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

const op = (id: string, userId = 'u1'): CanvasOp => ({
  id,
  type: 'draw',
  tool: 'pen',
  points: [{ x: 1, y: 2 }],
  color: '#000000',
  size: 2,
  userId,
  timestamp: 1,
});

describe('demo room model', () => {
  const snapshot = {
    canvas: [op('op-1'), op('op-2')],
    presence: [
      { userId: 'u1', username: 'ada', status: 'online', lastSeen: 10, cursor: { x: 5, y: 6 } },
      { userId: 'u2', username: 'bob', status: 'offline', lastSeen: 5 },
    ],
    activity: [
      { id: 'a2', type: 'chat_message', userId: 'u1', username: 'ada', data: { text: 'hi' }, timestamp: 20 },
      { id: 'a1', type: 'user_joined', userId: 'u1', username: 'ada', data: {}, timestamp: 10 },
    ],
  };

  it('takes canvas, presence, cursors and the feed (oldest first) from a snapshot', () => {
    const m = applySnapshot(createModel(), snapshot);
    expect(m.ops.map((o) => o.id)).toEqual(['op-1', 'op-2']);
    expect(m.cursors.get('u1')).toEqual({ x: 5, y: 6 });
    expect(m.cursors.has('u2')).toBe(false);
    expect(m.feed.map((f) => [f.kind, f.text])).toEqual([
      ['join', 'joined'],
      ['chat', 'hi'],
    ]);
  });

  it('keeps its canvas on a re-join snapshot (canvas: false) and ignores garbage', () => {
    const m = applySnapshot(createModel(), snapshot);
    const again = applySnapshot(applyEvent(m, 'draw', { op: op('op-3') }), { ...snapshot, canvas: [] }, { canvas: false });
    expect(again.ops.map((o) => o.id)).toEqual(['op-1', 'op-2', 'op-3']);
    expect(applySnapshot(m, 'nonsense')).toBe(m);
    expect(applyEvent(m, 'draw', { op: 'nonsense' })).toBe(m);
    expect(applyEvent(m, 'no_such_event', {})).toBe(m);
  });

  it('applies draw, undo and redo of strokes, and counts a draw it already had as a duplicate', () => {
    let m = applySnapshot(createModel(), snapshot);
    m = applyEvent(m, 'draw', { op: op('op-3') });
    m = applyEvent(m, 'draw', { op: op('op-3') });
    expect(m.ops.map((o) => o.id)).toEqual(['op-1', 'op-2', 'op-3']);
    expect(m.duplicates).toBe(1);
    m = applyEvent(m, 'undo', { userId: 'u1', opId: 'op-2', kind: 'op' });
    expect(m.ops.map((o) => o.id)).toEqual(['op-1', 'op-3']);
    m = applyEvent(m, 'redo', { userId: 'u1', opId: 'op-2', kind: 'op', op: op('op-2') });
    expect(m.ops.map((o) => o.id)).toEqual(['op-1', 'op-3', 'op-2']);
  });

  it('clears, brings back what an undone clear wiped, and clears again on redo', () => {
    let m = applySnapshot(createModel(), snapshot);
    m = applyEvent(m, 'clear', { id: 'op-3', userId: 'u1', timestamp: 2 });
    expect(m.ops).toEqual([]);
    m = applyEvent(m, 'undo', { userId: 'u1', opId: 'op-3', kind: 'clear', visible: [op('op-1'), op('op-2')] });
    expect(m.ops.map((o) => o.id)).toEqual(['op-1', 'op-2']);
    m = applyEvent(m, 'redo', { userId: 'u1', opId: 'op-3', kind: 'clear' });
    expect(m.ops).toEqual([]);
  });

  it('takes a presence event as the whole presence: an activity that ended is gone', () => {
    let m = applyEvent(createModel(), 'presence', {
      userId: 'u3',
      username: 'cy',
      status: 'online',
      activity: { type: 'typing' },
      lastSeen: 30,
    });
    expect(m.presence.get('u3')?.activity?.type).toBe('typing');
    m = applyEvent(m, 'presence', { userId: 'u3', username: 'cy', status: 'online', lastSeen: 33 });
    expect(m.presence.get('u3')?.activity).toBeUndefined();
  });

  it('tracks presence, cursors, joins and leaves; a line seen live and in a snapshot is shown once', () => {
    let m = applySnapshot(createModel(), snapshot);
    m = applyEvent(m, 'user_joined', {
      userId: 'u3',
      username: 'cy',
      presence: { userId: 'u3', username: 'cy', status: 'online', lastSeen: 30 },
    });
    m = applyEvent(m, 'cursor', { userId: 'u3', x: 7, y: 8 });
    m = applyEvent(m, 'presence', { userId: 'u3', username: 'cy', status: 'away', lastSeen: 31 });
    expect(presenceList(m).map((p) => [p.username, p.status])).toEqual([
      ['ada', 'online'],
      ['cy', 'away'],
      ['bob', 'offline'],
    ]);
    expect(m.cursors.get('u3')).toEqual({ x: 7, y: 8 });
    m = applyEvent(m, 'user_left', { userId: 'u3', username: 'cy', lastSeen: 40 });
    expect(m.presence.get('u3')?.status).toBe('offline');
    expect(m.cursors.has('u3')).toBe(false);
    // The same join and chat arrive again in a later snapshot's activity (newest first): no second line.
    m = applyEvent(m, 'chat_message', { id: 'a9', userId: 'u1', username: 'ada', text: 'yo', timestamp: 35 });
    m = applySnapshot(m, {
      activity: [
        { id: 'a9', type: 'chat_message', userId: 'u1', username: 'ada', data: { text: 'yo' }, timestamp: 35 },
        { id: 'a8', type: 'user_joined', userId: 'u3', username: 'cy', data: {}, timestamp: 30 },
      ],
    });
    expect(m.feed.filter((f) => f.text === 'yo')).toHaveLength(1);
    expect(m.feed.filter((f) => f.kind === 'join' && f.userId === 'u3')).toHaveLength(1);
  });

  it('describes dice rolls and ignores activity types it does not show', () => {
    const roll = { notation: '2d6+3', rolls: [{ term: '2d6', dice: [4, 2], kept: [4, 2], subtotal: 6 }], modifier: 3, total: 9 };
    expect(describeRoll(roll)).toBe('2d6+3 → [4, 2] +3 = 9');
    expect(describeRoll({ ...roll, modifier: -1, total: 5, reason: 'attack' })).toBe('2d6+3 → [4, 2] -1 = 5 (attack)');
    expect(
      applyEvent(createModel(), 'dice_roll', { id: 'd1', userId: 'u1', username: 'ada', ...roll, timestamp: 1 }).feed[0],
    ).toMatchObject({
      kind: 'dice',
      text: '2d6+3 → [4, 2] +3 = 9',
    });
    expect(activityToFeed({ id: 'x', type: 'note_edited', userId: 'u1', username: 'ada', data: {}, timestamp: 1 })).toBeNull();
    expect(userColor('4')).not.toBe(userColor('5'));
    // Users registered one after the other get hues far apart (the golden angle): any 8 in a row are ≥ 30° apart.
    const hue = (id: number) => Number(/hsl\(([\d.]+)/.exec(userColor(String(id)))?.[1]);
    for (const start of [1, 41, 1000]) {
      const hues = Array.from({ length: 8 }, (_, i) => hue(start + i));
      for (let i = 0; i < hues.length; i++)
        for (let j = i + 1; j < hues.length; j++) {
          const d = Math.abs(hues[i]! - hues[j]!);
          expect(Math.min(d, 360 - d)).toBeGreaterThanOrEqual(30);
        }
    }
    expect(Math.abs(hue(7) - hue(8))).toBeGreaterThan(100);
    expect(userColor('not-a-number')).toMatch(/^hsl\(/);
  });
});
