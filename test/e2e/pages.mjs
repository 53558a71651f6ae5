// What both browser test files (demo.e2e.mjs, hub.e2e.mjs) need the same way: assertions, a client IP and a room
// per run, and reading a demo page's state through its `window[global].info()`.

export const WAIT_MS = 15_000;

/** A distinct client IP per browser context and run: the auth endpoints allow 5 calls a minute per IP. */
export const randomIp = () => `198.18.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;

/** A room no earlier run used. */
export const uniqueRoom = (prefix) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed: ${message}\n  expected ${e}\n  actual   ${a}`);
}

/** A page's state as its script tells it (`window[global].info()`), and guests who join it. */
export function pageState(global) {
  const info = (page) => page.evaluate((g) => window[g].info(), global);

  /** Waits for `predicate(arg)` in the page; on timeout the error says what was awaited and what the page had. */
  async function waitInfo(page, predicate, what, { arg = null, timeout = WAIT_MS } = {}) {
    try {
      await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
    } catch {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; page info: ${JSON.stringify(await info(page))}`);
    }
    return info(page);
  }

  /** One guest: a fresh browser context (own session, own client IP), the page at `url`, "Continue as guest", joined. */
  async function openGuest(browser, url, label, errors, viewport) {
    const context = await browser.newContext({ viewport, extraHTTPHeaders: { 'CF-Connecting-IP': randomIp() } });
    const page = await context.newPage();
    page.on('pageerror', (err) => errors.push(`${label}: ${err.message}`));
    await page.goto(url, { timeout: WAIT_MS });
    await page.click('#guest-btn', { timeout: WAIT_MS });
    await waitInfo(page, (g) => window[g].info()?.joined === true, `${label} to join`, { arg: global });
    return { context, page, label };
  }

  return { info, waitInfo, openGuest };
}
