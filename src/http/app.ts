import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ApiError, isApiError } from '../errors';
import type { AppEnv } from './context';
import { errorResponse, vocabularyFor } from './errors';
import { compress } from './middleware/compress';
import { corsPolicy } from './middleware/cors';
import { jsonBody } from './middleware/json-body';
import { globalRateLimit } from './middleware/rate-limit';
import { upgradeGuard } from './middleware/upgrade';
import { admin } from './routes/admin';
import { auth } from './routes/auth';
import { chunks } from './routes/chunks';
import { crafting } from './routes/crafting';
import { craftingHealth } from './routes/crafting-health';
import { craftingUdp, isUdpPacketPath } from './routes/crafting-udp';
import { demo } from './routes/demo';
import { docs } from './routes/docs';
import { events } from './routes/events';
import { gameWs } from './routes/game-ws';
import { health } from './routes/health';
import { hub } from './routes/hub';
import { orchestrator } from './routes/orchestrator';
import { players } from './routes/players';
import { procgen } from './routes/procgen';
import { racing } from './routes/racing';
import { reconciliation } from './routes/reconciliation';
import { rooms } from './routes/rooms';
import { socketio } from './routes/socketio';
import { structures } from './routes/structures';
import { zones } from './routes/zones';
import { router } from './validation';
import { apiVersion } from './versioning';

/** Hono errors (malformed JSON from the validator, ...) and anything unexpected, in the one error shape. */
export function handleError(err: unknown, c: Context<AppEnv>): Response {
  const vocabulary = vocabularyFor(new URL(c.req.url).pathname);
  if (isApiError(err)) return errorResponse(err, vocabulary);
  if (err instanceof HTTPException) {
    const status = err.status;
    const code =
      status === 401
        ? 'AUTHENTICATION_REQUIRED'
        : status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : status >= 500
            ? 'SERVER_ERROR'
            : 'INVALID_REQUEST';
    const message = /malformed json/i.test(err.message) ? 'Malformed JSON in request body' : err.message || 'Invalid request';
    return errorResponse(new ApiError(code, message), vocabulary);
  }
  console.error(`[${c.req.method} ${new URL(c.req.url).pathname}]`, err);
  return errorResponse(new ApiError('SERVER_ERROR', 'Internal server error'), vocabulary);
}

/** The Worker's HTTP surface. Middleware order matters: see the README's "Request pipeline". */
export function createApp() {
  const app = router();
  app.onError(handleError);
  app.notFound((c) => {
    const { pathname } = new URL(c.req.url);
    return errorResponse(new ApiError('NOT_FOUND', `No route for ${c.req.method} ${pathname}`), vocabularyFor(pathname));
  });

  // Socket.IO transport requests first: a held poll or an upgrade is neither compressed nor limited per request
  // (the route limits handshakes; the hub limits messages per connection).
  app.route('/', socketio);

  // Outermost first: compression sees the final answer; limits run before any body is read.
  app.use('*', compress());
  app.use('*', corsPolicy()); // before every limit: preflights are answered here and spend nothing
  // UDP-style data packets (20 Hz per peer) are limited per peer in their session actor instead.
  app.use('*', (c, next) => (isUdpPacketPath(c.req.path) ? next() : globalRateLimit(c, next)));
  app.use('*', upgradeGuard());
  app.use('*', apiVersion());
  app.use('/api/*', jsonBody());

  app.route('/', health);
  app.route('/api/auth', auth);
  app.route('/api/admin', admin);
  app.route('/', orchestrator);
  app.route('/', rooms);
  app.route('/', gameWs);
  app.route('/', demo);
  app.route('/api/players', players);
  app.route('/api/zones', zones);
  app.route('/api/structures', structures);
  app.route('/api/chunks', chunks);
  app.route('/api/chunks', procgen);
  app.route('/', racing);
  app.route('/', crafting);
  app.route('/', craftingUdp);
  app.route('/', craftingHealth);
  app.route('/api/events', events);
  app.route('/api/hub', hub);
  app.route('/api/reconciliation', reconciliation);

  app.route('/', docs(app)); // last: describes every route above
  return app;
}
