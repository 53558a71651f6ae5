import type { RateDecision } from '../core/limiter';
import { LIMITS, type LimitName, retryAfterSeconds } from '../core/limits';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { rateLimiterActor, userLimiterKey } from './keys';

/**
 * A per-user route limit (ZONE_CREATE, STRUCTURE_PLACE, CHUNK_REQUEST) counted outside an HTTP request: the
 * /ws game socket spends the same quota as the REST route, in the same `RateLimiter` object and key
 * (`user:<tenant>:<userId>`, as `rateLimitBy(name, 'user')`), so a client cannot double its budget by
 * switching transports. Fails open like the middleware: an unreachable limiter never blocks play.
 */
export async function consumeUserLimit(env: Env, name: LimitName, who: { tenantId: string; userId: string }): Promise<void> {
  const { id, limit, windowMs } = LIMITS[name];
  let decision: RateDecision | undefined;
  try {
    [decision] = await rateLimiterActor(env, userLimiterKey(who.tenantId, who.userId)).hit([{ id, limit, windowMs }]);
  } catch (err) {
    console.error(`rate limiter ${id} unavailable`, err);
    return;
  }
  if (decision && !decision.allowed) {
    const retryAfter = retryAfterSeconds(decision);
    throw new ApiError('RATE_LIMIT_EXCEEDED', 'Too many requests. Please try again later.', {
      details: { limit, window_seconds: Math.round(windowMs / 1000), scope: id, retry_after: retryAfter },
      extra: { retry_after: retryAfter },
    });
  }
}
