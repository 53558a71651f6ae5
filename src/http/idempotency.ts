import type { Context } from 'hono';
import { IDEMPOTENCY_KEY_PATTERN } from '../core/idempotency';
import { ApiError } from '../errors';
import type { AppEnv } from './context';

/** The header a client sends to make a publishing or creating POST safe to retry (24 h, per user). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The request's `Idempotency-Key`, if any; a malformed one is 400 before anything is written. */
export function idempotencyKeyOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.header(IDEMPOTENCY_HEADER);
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ApiError('INVALID_REQUEST', `${IDEMPOTENCY_HEADER} must be 1-128 visible ASCII characters`, {
      details: { field: IDEMPOTENCY_HEADER },
    });
  }
  return key;
}
