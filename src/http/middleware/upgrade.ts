import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../errors';
import type { AppEnv } from '../context';

/** The only paths that serve a WebSocket upgrade: the dialects' `/ws...` sockets, seed 002's `/health/ws` and the Socket.IO hub. */
export const UPGRADE_PATH = /^\/(ws|socket\.io)(\/|$)|^\/health\/ws\/?$/;

/**
 * Upgrade only where an upgrade is served. The runtime (and wrangler dev's proxy) turns any request carrying
 * `Upgrade: websocket` into a GET handshake before the Worker sees it, so a `DELETE /api/zones/1` or a
 * `POST /api/orchestrator/events` with that header arrived as a GET and answered the read instead of the write.
 * The original method cannot be recovered, so such a request is refused, changing nothing.
 */
export const upgradeGuard = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const upgrade = c.req.header('upgrade');
  if (upgrade && !UPGRADE_PATH.test(c.req.path)) {
    throw new ApiError(
      'INVALID_REQUEST',
      `Upgrade: ${upgrade} is served only on WebSocket routes; send this request without it`,
      {
        details: { field: 'Upgrade', issue: 'not_an_upgrade_route' },
      },
    );
  }
  await next();
};
