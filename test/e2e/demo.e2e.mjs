// Browser tests of the demo page (/demo/{roomId}), run by scripts/e2e.mjs against `npm run dev`.
// Two users, each in their own browser context (own session, own network switch, own client IP), share one room.
// Page state is read through `window.edgeDemo.info()` and the DOM (`#canvas[data-ops-count]`, pixels, the feed).
import { join } from 'node:path';
import { assert, assertEqual, pageState, randomIp, uniqueRoom, WAIT_MS } from './pages.mjs';

const WIDTH = 1200;
const HEIGHT = 800;
const { info, waitInfo, openGuest } = pageState('edgeDemo');
const roomId = uniqueRoom('e2e');

/** One user: a guest of the demo page in their own browser context, joined. */
const openUser = (browser, base, label, errors, query = '') =>
  openGuest(browser, `${base}/demo/${roomId}${query}`, label, errors, { width: 1280, height: 800 });

/** Canvas units to page coordinates. */
async function toScreen(page, points) {
  const box = await page.locator('#preview').boundingBox();
  assert(box, 'the board is visible');
  return points.map(([x, y]) => [box.x + (x / WIDTH) * box.width, box.y + (y / HEIGHT) * box.height]);
}

async function drag(page, points) {
  const screen = await toScreen(page, points);
  const [first, ...rest] = screen;
  await page.mouse.move(first[0], first[1]);
  await page.mouse.down();
  for (const [x, y] of rest) await page.mouse.move(x, y, { steps: 4 });
  await page.mouse.up();
}

async function useTool(page, tool, color) {
  await page.click(`[data-tool="${tool}"]`);
  if (color) await page.fill('#color', color);
}

/** Draws with `tool` and waits until the drawer's own page shows the op from the server. */
async function drawOp(page, tool, color, points) {
  const before = (await info(page)).opIds.length;
  await useTool(page, tool, color);
  await drag(page, points);
  await waitInfo(page, (n) => window.edgeDemo.info().opIds.length > n, `${tool} to come back from the server`, { arg: before });
}

/** True when some pixel within 3 units of (x, y) on the page's shared canvas has about colour `hex`. */
function hasColorNear(page, x, y, hex) {
  return page.evaluate(
    ([x, y, hex]) => {
      const ctx = document.getElementById('canvas').getContext('2d');
      const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
      const data = ctx.getImageData(Math.round(x) - 3, Math.round(y) - 3, 7, 7).data;
      for (let i = 0; i < data.length; i += 4) {
        if (want.every((v, k) => Math.abs(data[i + k] - v) <= 40)) return true;
      }
      return false;
    },
    [x, y, hex],
  );
}

/** Waits until colour `hex` is (or, with `present: false`, is no longer) near (x, y): the canvas repaints on a frame. */
async function waitColor(page, x, y, hex, what, present = true) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if ((await hasColorNear(page, x, y, hex)) === present) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what}: ${present ? 'no' : 'still'} ${hex} near (${x}, ${y})`);
}

/** Waits until `page` shows exactly the ops `expected` shows (same ids, same order). */
async function waitSameOps(page, expectedIds, what) {
  try {
    await page.waitForFunction((ids) => JSON.stringify(window.edgeDemo.info().opIds) === JSON.stringify(ids), expectedIds, {
      timeout: WAIT_MS,
      polling: 50,
    });
  } catch {
    throw new Error(
      `timed out waiting for ${what}: want ${JSON.stringify(expectedIds)}, page has ${JSON.stringify((await info(page)).opIds)}`,
    );
  }
}

async function waitFeed(page, predicate, arg, what) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: WAIT_MS, polling: 50 });
  } catch {
    throw new Error(`timed out waiting for ${what}; feed: ${JSON.stringify((await info(page)).feed)}`);
  }
}

/** `want` appears in `seq` in order (other items may come between). */
function isSubsequence(want, seq) {
  let i = 0;
  for (const s of seq) if (s === want[i]) i++;
  return i === want.length;
}

const PEN = [
  [200, 200],
  [280, 230],
  [360, 260],
  [440, 290],
  [500, 300],
];
const RECT = [
  [600, 100],
  [900, 300],
];
const CIRCLE = [
  [300, 550],
  [400, 550],
];

export const tests = [
  {
    name: 'two pages join one room as guests and see each other online',
    async run({ browser, base, shared, artifacts }) {
      shared.errors = [];
      shared.a = await openUser(browser, base, 'A', shared.errors);
      shared.b = await openUser(browser, base, 'B', shared.errors);
      shared.screenshotAll = async (name) => {
        for (const u of [shared.a, shared.b]) {
          if (u) await u.page.screenshot({ path: join(artifacts, `${name}-${u.label}.png`) });
        }
      };
      shared.close = async () => {
        for (const u of [shared.a, shared.b]) await u?.context.close();
      };
      const a = await info(shared.a.page);
      const b = await info(shared.b.page);
      assert(a.me && b.me && a.me.userId !== b.me.userId, 'two different users');
      for (const [page, other] of [
        [shared.a.page, b.me.username],
        [shared.b.page, a.me.username],
      ]) {
        await page.waitForFunction(
          (name) => window.edgeDemo.info().people.some((p) => p.username === name && p.status === 'online'),
          other,
          { timeout: WAIT_MS },
        );
      }
      for (const { page } of [shared.a, shared.b]) {
        const status = page.locator('#status');
        assertEqual(await status.getAttribute('data-state'), 'connected', 'the indicator says connected');
        assert((await page.locator('#status-text').textContent()) === 'connected', 'the indicator reads "connected"');
        assertEqual(await status.getAttribute('data-transport'), 'websocket', 'over a WebSocket');
      }
    },
  },

  {
    name: 'what page A draws (pen, rectangle, circle) page B sees, ops and pixels',
    async run({ shared }) {
      const { a, b } = shared;
      await drawOp(a.page, 'pen', '#1f6feb', PEN);
      await drawOp(a.page, 'rectangle', '#d0312d', RECT);
      await drawOp(a.page, 'circle', '#1a9b4b', CIRCLE);
      const ids = (await info(a.page)).opIds;
      assertEqual(ids.length, 3, 'three ops on A');
      await waitSameOps(b.page, ids, "B to show A's three ops");
      assertEqual(await b.page.locator('#canvas').getAttribute('data-ops-count'), '3', 'data-ops-count on B');
      await waitColor(b.page, 360, 260, '#1f6feb', "A's pen stroke on B's canvas");
      await waitColor(b.page, 750, 100, '#d0312d', "A's rectangle on B's canvas");
      await waitColor(b.page, 300, 450, '#1a9b4b', "A's circle on B's canvas");
      assert(!(await hasColorNear(b.page, 1000, 700, '#1f6feb')), 'the rest of the canvas stays blank');
      await shared.screenshotAll('1-after-drawing');
    },
  },

  {
    name: 'chat and dice from page A appear on page B; bad dice notation is refused',
    async run({ shared }) {
      const { a, b } = shared;
      const text = `hello from A ${Math.random().toString(36).slice(2, 7)}`;
      await a.page.fill('#chat-input', text);
      await a.page.press('#chat-input', 'Enter');
      await waitFeed(
        b.page,
        (t) => window.edgeDemo.info().feed.some((f) => f.kind === 'chat' && f.text === t),
        text,
        "A's chat on B",
      );
      await a.page.fill('#dice-notation', '2d6+3');
      await a.page.click('#dice-form button');
      await waitFeed(
        b.page,
        () => window.edgeDemo.info().feed.some((f) => f.kind === 'dice' && f.text.startsWith('2d6+3 →')),
        null,
        "A's dice roll on B",
      );
      const roll = (await info(b.page)).feed.find((f) => f.kind === 'dice');
      const total = Number(roll.text.split('=').pop());
      assert(total >= 5 && total <= 15, `2d6+3 is between 5 and 15 (got ${roll.text})`);
      await a.page.fill('#dice-notation', '1000000d1000000');
      await a.page.click('#dice-form button');
      await a.page.locator('#toast').waitFor({ state: 'visible', timeout: WAIT_MS });
      assertEqual((await info(a.page)).state, 'connected', 'A stays connected after a refused roll');
      const dice = (await info(b.page)).feed.filter((f) => f.kind === 'dice');
      assertEqual(dice.length, 1, 'the refused roll reached nobody');
    },
  },

  {
    name: 'undo, redo and clear on page A reach page B',
    async run({ shared }) {
      const { a, b } = shared;
      const all = (await info(a.page)).opIds;
      await a.page.click('#undo');
      await waitSameOps(b.page, all.slice(0, -1), 'undo of the circle on B');
      await a.page.click('#redo');
      await waitSameOps(b.page, all, 'redo of the circle on B');
      await a.page.click('#clear');
      await waitSameOps(b.page, [], 'clear on B');
      await waitColor(b.page, 750, 100, '#d0312d', 'the rectangle to leave B', false);
      await waitColor(b.page, 360, 260, '#1f6feb', 'the pen stroke to leave B', false);
      await a.page.click('#undo');
      await waitSameOps(b.page, all, 'undo of the clear on B');
      await waitColor(b.page, 750, 100, '#d0312d', 'the rectangle back on B');
      // A applies its own undo when the event comes back; B may see it first, so A is waited for too.
      await waitSameOps(a.page, all, 'A agrees');
    },
  },

  {
    name: 'page B loses its connection, A draws and chats, B comes back with exactly what it missed',
    async run({ shared, log, artifacts }) {
      const { a, b } = shared;
      const before = await info(b.page);
      const historyStart = before.stateHistory.length;
      assertEqual(before.duplicates, 0, 'no duplicates so far');

      // Network gone: no new connection can be made (setOffline), and the open socket is cut (Chromium's offline
      // emulation leaves established WebSockets alone, so the page's debug hook closes it).
      await b.context.setOffline(true);
      assert(await b.page.evaluate(() => window.edgeDemo.dropConnection()), 'B had a socket to drop');
      await waitInfo(b.page, () => window.edgeDemo.info().state === 'reconnecting', 'B to show reconnecting');
      assertEqual(await b.page.locator('#status').getAttribute('data-state'), 'reconnecting', 'the indicator says reconnecting');
      await b.page.screenshot({ path: join(artifacts, '2-while-offline-B.png') });

      const missedText = `while you were away ${Math.random().toString(36).slice(2, 7)}`;
      await drawOp(a.page, 'pen', '#7c4dff', [
        [100, 700],
        [300, 650],
        [500, 700],
      ]);
      await drawOp(a.page, 'rectangle', '#d98e04', [
        [950, 450],
        [1150, 750],
      ]);
      await drawOp(a.page, 'pen', '#1f6feb', [
        [700, 500],
        [800, 420],
        [900, 500],
      ]);
      await a.page.fill('#chat-input', missedText);
      await a.page.press('#chat-input', 'Enter');
      await waitFeed(a.page, (t) => window.edgeDemo.info().feed.some((f) => f.text === t), missedText, 'A to see its own chat');
      const expected = (await info(a.page)).opIds;
      assertEqual(expected.length, before.opIds.length + 3, 'A drew three more ops');
      const stillAway = await info(b.page);
      assertEqual(stillAway.opIds, before.opIds, 'B saw nothing while offline');
      assert(stillAway.state !== 'connected', 'B is not connected while offline');

      await b.context.setOffline(false);
      await waitInfo(
        b.page,
        () => {
          const i = window.edgeDemo.info();
          return i.state === 'connected' && i.joined;
        },
        'B to reconnect and join again',
        { timeout: 30_000 },
      );
      await waitSameOps(b.page, expected, 'B to catch up');
      const after = await info(b.page);
      assertEqual(after.opIds, expected, "B's canvas is exactly A's");
      assertEqual(new Set(after.opIds).size, after.opIds.length, 'no op twice');
      assertEqual(after.duplicates, 0, 'no duplicate draw events');
      assertEqual(await b.page.locator('#canvas').getAttribute('data-ops-count'), String(expected.length), 'data-ops-count');
      assertEqual(after.feed.filter((f) => f.text === missedText).length, 1, 'the missed chat message is shown exactly once');
      assert(after.resyncs >= 1 && after.replayed >= 4, `the missed events came by replay (replayed ${after.replayed})`);
      const states = after.stateHistory.slice(historyStart);
      assert(
        isSubsequence(['reconnecting', 'resyncing', 'connected'], states),
        `the indicator went reconnecting -> resyncing -> connected (saw ${states.join(' -> ')})`,
      );
      await waitColor(b.page, 1050, 450, '#d98e04', 'the missed rectangle on B');
      // The blip was shorter than the presence grace period: nobody's feed says B left or joined again.
      const bName = after.me.username;
      const aFeed = (await info(a.page)).feed.filter((f) => f.username === bName);
      assertEqual(aFeed.filter((f) => f.kind === 'leave').length, 0, "A's feed has no 'left' line for B's blip");
      assertEqual(aFeed.filter((f) => f.kind === 'join').length, 1, "A's feed says B joined once");
      log(`B: ${states.join(' -> ')}; ${after.replayed} events replayed; back on ${after.transport}`);

      // The server agrees: the room's canvas over REST, read with A's token.
      const server = await a.page.evaluate(async (room) => {
        const s = JSON.parse(sessionStorage.getItem('edgerooms.demo.session'));
        const res = await fetch(`/api/rooms/${room}/state`, { headers: { Authorization: `Bearer ${s.accessToken}` } });
        return (await res.json()).canvas.map((op) => op.id);
      }, roomId);
      assertEqual(server, expected, "the server's canvas matches both pages");
      await shared.screenshotAll('2-after-reconnect');
      assertEqual(shared.errors, [], 'no uncaught errors in either page');
    },
  },

  {
    name: 'pages pinned to SSE and to long polling see what A draws and says',
    async run({ browser, base, shared }) {
      const { a } = shared;
      const sse = await openUser(browser, base, 'C', shared.errors, '?transport=sse');
      const poll = await openUser(browser, base, 'D', shared.errors, '?transport=polling');
      try {
        assertEqual(await sse.page.locator('#status').getAttribute('data-transport'), 'sse', 'C is on SSE');
        assertEqual(await poll.page.locator('#status').getAttribute('data-transport'), 'polling', 'D is on long polling');
        const start = (await info(a.page)).opIds;
        await waitSameOps(sse.page, start, 'C to start from the room canvas');
        await waitSameOps(poll.page, start, 'D to start from the room canvas');
        await drawOp(a.page, 'circle', '#d0312d', [
          [600, 600],
          [650, 600],
        ]);
        const ids = (await info(a.page)).opIds;
        await waitSameOps(sse.page, ids, "C (SSE) to show A's circle");
        await waitSameOps(poll.page, ids, "D (polling) to show A's circle");
        await waitColor(poll.page, 600, 550, '#d0312d', "A's circle on D's canvas");
        const text = `to the fallbacks ${Math.random().toString(36).slice(2, 7)}`;
        await a.page.fill('#chat-input', text);
        await a.page.press('#chat-input', 'Enter');
        for (const u of [sse, poll]) {
          await waitFeed(u.page, (t) => window.edgeDemo.info().feed.some((f) => f.text === t), text, `A's chat on ${u.label}`);
        }
        // And the other way: D draws over HTTP sends, A sees it.
        await drawOp(poll.page, 'rectangle', '#1a9b4b', [
          [100, 100],
          [150, 150],
        ]);
        await waitSameOps(a.page, (await info(poll.page)).opIds, "A to show D's rectangle");
        for (const u of [sse, poll]) assertEqual((await info(u.page)).duplicates, 0, `no duplicates on ${u.label}`);
        assertEqual(shared.errors, [], 'no uncaught errors in any page');
      } finally {
        await sse.context.close();
        await poll.context.close();
      }
    },
  },
  {
    name: 'typing shows on the other page, then clears by itself; so does drawing',
    async run({ shared }) {
      const { a, b } = shared;
      const aName = (await info(a.page)).me.username;
      const activityOf = (page) =>
        page.evaluate((name) => {
          const li = [...document.querySelectorAll('#people li')].find((el) =>
            el.querySelector('.name')?.textContent?.startsWith(name),
          );
          return li?.querySelector('.detail')?.textContent ?? null;
        }, aName);
      const waitActivity = async (want, what) => {
        const deadline = Date.now() + WAIT_MS;
        let seen = null;
        while (Date.now() < deadline) {
          seen = await activityOf(b.page);
          if (seen === want) return;
          await b.page.waitForTimeout(100);
        }
        throw new Error(`timed out waiting for ${what}: B shows ${JSON.stringify(seen)} for A`);
      };
      await a.page.click('#chat-input');
      await a.page.keyboard.type('half a thought', { delay: 20 });
      await waitActivity('typing', 'B to show A typing');
      await waitActivity('online', "A's typing to clear on B without A doing anything");
      await a.page.fill('#chat-input', '');
      await drag(a.page, [
        [300, 300],
        [320, 340],
      ]);
      await waitActivity('drawing', 'B to show A drawing');
      await waitActivity('online', "A's drawing to clear on B");
    },
  },

  {
    name: 'the invite link opens the same room; the canvas exports as a PNG',
    async run({ browser, base, shared }) {
      const { a } = shared;
      const link = await a.page.inputValue('#invite-link');
      assertEqual(link, `${base}/demo/${roomId}`, 'the invite link is this room');
      const download = a.page.waitForEvent('download', { timeout: WAIT_MS });
      await a.page.click('#export');
      const file = await download;
      assert(/\.png$/.test(file.suggestedFilename()), `a .png file (${file.suggestedFilename()})`);
      const stream = await file.createReadStream();
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const png = Buffer.concat(chunks);
      assertEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      assert(png.length > 1000, `a real image (${png.length} bytes)`);

      // A guest who opens the link and picks a name is in the room under that name.
      const name = `Ada${Math.random().toString(36).slice(2, 7)}`;
      const context = await browser.newContext({ extraHTTPHeaders: { 'CF-Connecting-IP': randomIp() } });
      try {
        const page = await context.newPage();
        await page.goto(link, { timeout: WAIT_MS });
        await page.fill('#login-user', name);
        await page.click('#guest-btn');
        await waitInfo(page, () => window.edgeDemo.info()?.joined === true, 'the invited guest to join');
        const me = (await info(page)).me;
        assertEqual(me.username, name, 'the guest has the name they picked');
        await a.page.waitForFunction((n) => window.edgeDemo.info().people.some((p) => p.username === n), name, {
          timeout: WAIT_MS,
        });
        // Guests in a row get colours far apart.
        const colors = await a.page.evaluate(() =>
          [...document.querySelectorAll('#people li .name')].map((el) => getComputedStyle(el).color),
        );
        assertEqual(new Set(colors).size, colors.length, `every person has their own colour (${colors.join(', ')})`);
      } finally {
        await context.close();
      }
    },
  },

  {
    name: 'a bad room URL and an unknown demo page show a page, not JSON; /docs works offline',
    async run({ browser, base }) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const bad = await page.goto(`${base}/demo/not%20a%20room!`, { timeout: WAIT_MS });
        assertEqual(bad.status(), 400, 'a bad room id is 400');
        assert((await page.locator('#error-page h1').textContent()) === 'Not a room name', 'a page saying so');
        await page.click('text=Go to the lobby');
        await page.waitForURL(`${base}/demo/lobby`, { timeout: WAIT_MS });
        const unknown = await page.goto(`${base}/demo/a/b`, { timeout: WAIT_MS });
        assertEqual(unknown.status(), 404, 'an unknown demo page is 404');
        assert((await page.locator('#error-page h1').textContent()) === 'No such page', 'a page saying so');

        // The API reference renders from the Worker alone (this browser reaches nothing else).
        const failed = [];
        page.on('requestfailed', (r) => failed.push(r.url()));
        await page.goto(`${base}/docs`, { timeout: WAIT_MS });
        await page.waitForFunction(() => document.body.textContent?.includes('/api/auth/register'), null, { timeout: 30_000 });
        assertEqual(
          failed.filter((u) => !u.startsWith(base)),
          [],
          'no request left the Worker',
        );
      } finally {
        await context.close();
      }
    },
  },
];
