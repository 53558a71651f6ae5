import { Hono } from 'hono';
import { ROOM_ID_PATTERN } from '../../actors/keys';
import { DEMO_CSS, DEMO_JS, DEMO_VERSION, HUB_JS } from '../../web/generated/assets';
import { hubPage } from '../../web/hub-page';
import { demoErrorPage, demoPage } from '../../web/page';
import type { AppEnv } from '../context';

/**
 * The demo page: `GET /demo` and `GET /demo/{roomId}` (HTML), `/demo/app.js` and `/demo/app.css` (the bundle
 * built from src/web/app by scripts/build-web.mjs); the Socket.IO hub page (seed 003) at `GET /demo/hub` and
 * `GET /demo/hub/{roomId}` with its script `/demo/hub/app.js`. A bad room id or an unknown /demo path gets an HTML
 * page. Not an API, so not in /openapi.json.
 */

/** The page only talks to its own origin (REST, SSE and the room's WebSocket). */
const CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-cache',
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The page a person sees for a room name that cannot be a room (400). */
function badRoomPage(roomId: string): string {
  const shown = roomId.length > 64 ? `${roomId.slice(0, 64)}…` : roomId;
  return demoErrorPage(
    400,
    'Not a room name',
    `"${shown}" cannot be a room: room names are 1-64 letters, digits, "_" or "-".`,
    DEMO_VERSION,
  );
}

function asset(body: string, type: string, requested: string | undefined, ifNoneMatch: string | undefined): Response {
  const etag = `"${DEMO_VERSION}"`;
  const headers: Record<string, string> = {
    'Content-Type': type,
    ETag: etag,
    'X-Content-Type-Options': 'nosniff',
    // The page asks for ?v=<content hash>: that URL never changes meaning and may be cached for good.
    'Cache-Control': requested === DEMO_VERSION ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  if (ifNoneMatch === etag) return new Response(null, { status: 304, headers });
  return new Response(body, { headers });
}

export const demo = new Hono<AppEnv>()
  .get('/demo/app.js', (c) => asset(DEMO_JS, 'text/javascript; charset=utf-8', c.req.query('v'), c.req.header('if-none-match')))
  .get('/demo/app.css', (c) => asset(DEMO_CSS, 'text/css; charset=utf-8', c.req.query('v'), c.req.header('if-none-match')))
  .get('/demo/hub/app.js', (c) =>
    asset(HUB_JS, 'text/javascript; charset=utf-8', c.req.query('v'), c.req.header('if-none-match')),
  )
  .get('/demo/hub', (c) => c.body(hubPage('', DEMO_VERSION), 200, PAGE_HEADERS))
  .get('/demo/hub/:roomId', (c) => {
    const roomId = c.req.param('roomId');
    if (!ROOM_ID_PATTERN.test(roomId)) return c.body(badRoomPage(roomId), 400, PAGE_HEADERS);
    return c.body(hubPage(roomId, DEMO_VERSION), 200, PAGE_HEADERS);
  })
  .get('/demo', (c) => c.body(demoPage('', DEMO_VERSION), 200, PAGE_HEADERS))
  .get('/demo/:roomId', (c) => {
    const roomId = c.req.param('roomId');
    if (!ROOM_ID_PATTERN.test(roomId)) return c.body(badRoomPage(roomId), 400, PAGE_HEADERS);
    return c.body(demoPage(roomId, DEMO_VERSION), 200, PAGE_HEADERS);
  })
  // Anything else under /demo is a page a person typed or followed: answer with a page too.
  .get('/demo/*', (c) =>
    c.body(
      demoErrorPage(404, 'No such page', `There is no demo page at ${new URL(c.req.url).pathname}.`, DEMO_VERSION),
      404,
      PAGE_HEADERS,
    ),
  );
