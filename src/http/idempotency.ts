import type { Context, MiddlewareHandler } from 'hono';
import { sha256, toBase64Url } from '../auth/crypto';
import { IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_WINDOW_MS } from '../core/idempotency';
import { claimIdempotencyKey, findIdempotencyKey, releaseIdempotencyKey, storeIdempotentAnswer } from '../db/idempotency';
import { ApiError } from '../errors';
import type { AppEnv } from './context';

/** The header a client sends to make a publishing or creating POST safe to retry (24 h, per user). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** Set on an answer replayed for a retry (the first answer, not a new write). */
export const IDEMPOTENT_REPLAY_HEADER = 'Idempotent-Replayed';

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

/**
 * `Idempotency-Key` for a creating POST whose write is D1's (mount after the auth middleware). The first request
 * with a key claims it in D1 before it runs, and its 2xx answer is stored for 24 h; a retry with the same key and
 * body gets that answer (with `Idempotent-Replayed: true`) and writes nothing. The same key with another body is
 * 422 `IDEMPOTENCY_KEY_REUSED`; a retry while the first is still running, or after it died mid-write, is 409
 * `CONFLICT` (never a second write: look the resource up). A first request that fails frees its key.
 */
export function idempotent(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = idempotencyKeyOf(c);
    const identity = c.get('identity');
    if (key === undefined || !identity) return next();
    const scope = `${identity.tenantId}|${identity.userId}|${c.req.method} ${c.req.path}`;
    const bodyHash = toBase64Url(await sha256(await c.req.text()));
    if (!(await claimIdempotencyKey(c.env.DB, { scope, key, bodyHash }, Date.now(), IDEMPOTENCY_WINDOW_MS))) {
      return replay(c, scope, key, bodyHash);
    }
    try {
      await next();
    } catch (err) {
      await releaseIdempotencyKey(c.env.DB, scope, key);
      throw err;
    }
    if (c.error || c.res.status < 200 || c.res.status >= 300) {
      await releaseIdempotencyKey(c.env.DB, scope, key);
      return;
    }
    const body = await c.res.clone().text();
    await storeIdempotentAnswer(c.env.DB, scope, key, {
      status: c.res.status,
      contentType: c.res.headers.get('content-type'),
      body,
    });
  };
}

async function replay(c: Context<AppEnv>, scope: string, key: string, bodyHash: string): Promise<Response> {
  const stored = await findIdempotencyKey(c.env.DB, scope, key);
  if (stored && stored.body_hash !== bodyHash) {
    throw new ApiError('IDEMPOTENCY_KEY_REUSED', `${IDEMPOTENCY_HEADER} was already used with another request body`, {
      details: { field: IDEMPOTENCY_HEADER, issue: 'key_reused' },
    });
  }
  if (stored?.state !== 'done' || stored.status === null) {
    throw new ApiError('CONFLICT', `A request with this ${IDEMPOTENCY_HEADER} is in progress or did not finish`, {
      details: { field: IDEMPOTENCY_HEADER, issue: 'in_progress' },
      headers: { 'Retry-After': '1' },
    });
  }
  const headers: Record<string, string> = { [IDEMPOTENT_REPLAY_HEADER]: 'true' };
  if (stored.content_type) headers['Content-Type'] = stored.content_type;
  return new Response(stored.body, { status: stored.status, headers });
}
