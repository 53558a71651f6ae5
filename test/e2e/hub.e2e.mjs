// Browser tests of the Socket.IO hub page (/demo/hub/{roomId}, seed 003), run by scripts/e2e.mjs against
// `npm run dev`. Two guests, each in their own browser context, join one room on the official socket.io-client.
// Page state is read through `window.edgeHub.info()` and the status indicator's attributes.
import { join } from 'node:path';
import { assert, assertEqual, pageState, uniqueRoom } from './pages.mjs';

const { info, waitInfo, openGuest } = pageState('edgeHub');
const roomId = uniqueRoom('hub-e2e');

const openUser = (browser, base, label, errors) =>
  openGuest(browser, `${base}/demo/hub/${roomId}`, label, errors, { width: 1000, height: 700 });

/** Sends `text` from `user`'s chat box and waits for its ack (the page shows its own message on the ack). */
async function say(user, text) {
  await user.page.fill('#chat-input', text);
  await user.page.press('#chat-input', 'Enter');
  await waitInfo(user.page, (t) => window.edgeHub.info().feed.some((f) => f.text === t), `${user.label}'s "${text}" acked`, {
    arg: text,
  });
}

const seen = (user, text, what) =>
  waitInfo(user.page, (t) => window.edgeHub.info().feed.some((f) => f.text === t), what, { arg: text });

export const tests = [
  {
    name: 'hub: two pages join one room over socket.io-client, see each other present, upgrade to WebSocket',
    async run({ browser, base, shared, artifacts }) {
      shared.hubErrors = [];
      shared.ha = await openUser(browser, base, 'hub-A', shared.hubErrors);
      shared.hb = await openUser(browser, base, 'hub-B', shared.hubErrors);
      shared.screenshotHub = async (name) => {
        for (const u of [shared.ha, shared.hb]) {
          if (u) await u.page.screenshot({ path: join(artifacts, `${name}-${u.label}.png`) });
        }
      };
      const { ha, hb } = shared;
      const a = await info(ha.page);
      const b = await info(hb.page);
      assert(a.me.userId !== b.me.userId, 'two different users');
      for (const [user, other] of [
        [ha, b.me.userId],
        [hb, a.me.userId],
      ]) {
        await waitInfo(
          user.page,
          (id) => window.edgeHub.info().people.some((p) => p.userId === id && p.status === 'online'),
          `${user.label} to see ${other} online`,
          { arg: other },
        );
        const after = await waitInfo(user.page, () => window.edgeHub.info().transport === 'websocket', `${user.label} upgraded`);
        assertEqual(after.transports, ['polling', 'websocket'], `${user.label} started on polling and upgraded`);
        const status = user.page.locator('#status');
        assertEqual(await status.getAttribute('data-state'), 'connected', 'the indicator says connected');
        assertEqual(await status.getAttribute('data-transport'), 'websocket', 'the indicator shows the WebSocket');
        assert((await user.page.locator('#status-detail').textContent()).includes('polling → websocket'), 'upgrade shown');
      }
    },
  },
  {
    name: 'hub: chat both ways, and presence changes (away, online) reach the other page',
    async run({ shared }) {
      const { ha, hb } = shared;
      const fromA = `hello from A ${Math.random().toString(36).slice(2, 7)}`;
      await say(ha, fromA);
      await seen(hb, fromA, "A's chat on B");
      const fromB = `hello from B ${Math.random().toString(36).slice(2, 7)}`;
      await say(hb, fromB);
      await seen(ha, fromB, "B's chat on A");
      const bId = (await info(hb.page)).me.userId;
      await hb.page.selectOption('#me-status', 'away');
      await waitInfo(
        ha.page,
        (id) => window.edgeHub.info().people.some((p) => p.userId === id && p.status === 'away'),
        'A to see B away',
        { arg: bId },
      );
      assertEqual(await ha.page.locator(`#people li[data-user-id="${bId}"]`).getAttribute('data-status'), 'away', 'shown away');
      await hb.page.selectOption('#me-status', 'online');
      await waitInfo(
        ha.page,
        (id) => window.edgeHub.info().people.some((p) => p.userId === id && p.status === 'online'),
        'A to see B online again',
        { arg: bId },
      );
      for (const u of [ha, hb]) {
        const feed = (await info(u.page)).feed.map((f) => f.text);
        assertEqual(feed, [fromA, fromB], `${u.label}'s feed, once each, in order`);
      }
    },
  },
  {
    name: 'hub: page B drops its transport, A chats, B comes back recovered with exactly what it missed',
    async run({ shared, log }) {
      const { ha, hb } = shared;
      const before = await info(hb.page);
      const historyStart = before.stateHistory.length;
      // Network gone: engine.io-client closes its transport on the browser's `offline` event by itself; should it
      // still be open, the page's hook cuts it as a lost network would.
      await hb.context.setOffline(true);
      await hb.page.evaluate(() => window.edgeHub.drop());
      await waitInfo(hb.page, () => window.edgeHub.info().state === 'reconnecting', 'B to show reconnecting');
      assertEqual(await hb.page.locator('#status').getAttribute('data-state'), 'reconnecting', 'the indicator says reconnecting');
      const missed = [];
      for (let i = 0; i < 3; i++) {
        const text = `while B was away ${i} ${Math.random().toString(36).slice(2, 7)}`;
        await say(ha, text);
        missed.push(text);
      }
      const away = await info(hb.page);
      assert(!away.connected, 'B is not connected while offline');
      assert(!away.feed.some((f) => missed.includes(f.text)), 'B saw nothing while offline');
      await hb.context.setOffline(false);
      const after = await waitInfo(
        hb.page,
        (n) => {
          const i = window.edgeHub.info();
          return i.state === 'connected' && i.recoveries > 0 && i.feed.length >= n;
        },
        'B to reconnect recovered and catch up',
        { arg: before.feed.length + missed.length, timeout: 30_000 },
      );
      assert(after.recovered === true, 'socket.recovered on B');
      assertEqual(
        after.feed.map((f) => f.text),
        [...before.feed.map((f) => f.text), ...missed],
        "B's feed: what it had, then every missed message once, in order",
      );
      const states = after.stateHistory.slice(historyStart);
      assertEqual(states, ['reconnecting', 'connected'], 'the indicator went reconnecting -> connected');
      assert((await hb.page.locator('#status-detail').textContent()).includes('recovered'), 'the indicator says recovered');
      // Still in the room without joining again: a new message reaches B live.
      const live = `after recovery ${Math.random().toString(36).slice(2, 7)}`;
      await say(ha, live);
      await seen(hb, live, 'a live message on B after recovery');
      log(`hub B: ${states.join(' -> ')}; transports ${after.transports.join(' -> ')}`);
      await shared.screenshotHub('hub-after-recovery');
      assertEqual(shared.hubErrors, [], 'no uncaught errors in either page');
      for (const u of [ha, hb]) await u.context.close();
    },
  },
];
