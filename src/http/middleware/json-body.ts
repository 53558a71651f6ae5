import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { jsonTextDepth, MAX_NESTING_DEPTH, tooDeepMessage } from '../../core/depth';
import { ApiError } from '../../errors';
import type { AppEnv } from '../context';

/** Largest REST request body accepted (zone polygons and chunk requests fit well inside it). */
export const MAX_BODY_BYTES = 256 * 1024;

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * An empty body is no body (`curl -X POST -H 'Content-Type: application/json' URL` sends one): without its
 * Content-Type the route validators see none, so an optional body passes as absent and a required one is 400
 * "Request body is required" (`validationHook`) instead of "Malformed JSON". Incoming headers are immutable,
 * hence the copy of the (bodiless) request.
 */
function treatAsNoBody(c: Context<AppEnv>): void {
  const raw = c.req.raw;
  if (!raw.headers.has('content-type')) return;
  const headers = new Headers(raw.headers);
  headers.delete('content-type');
  c.req.raw = new Request(raw.url, { method: raw.method, headers, signal: raw.signal, cf: raw.cf });
}

/** The ingress guard for REST bodies: nesting deeper than `MAX_NESTING_DEPTH` is 400 before anything parses it. */
const guardDepth: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Hono caches the text: the validator's `c.req.json()` and handlers' `c.req.text()` read it again for free.
  const text = await c.req.text();
  if (text === '') {
    treatAsNoBody(c);
    return next();
  }
  const depth = jsonTextDepth(text);
  if (depth > MAX_NESTING_DEPTH) {
    throw new ApiError('INVALID_REQUEST', tooDeepMessage(), {
      details: { field: '(body)', issue: 'too_deep', limit: MAX_NESTING_DEPTH },
    });
  }
  await next();
};

/**
 * `/api` speaks JSON only: a body must say `application/json`; oversize bodies are 413 and too deeply nested
 * ones 400 before parsing.
 */
export const jsonBody = (): MiddlewareHandler<AppEnv> => {
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', `Request body is larger than ${MAX_BODY_BYTES} bytes`, {
        details: { limit: MAX_BODY_BYTES },
      });
    },
  });
  return async (c, next) => {
    if (!WITH_BODY.has(c.req.method)) return next();
    const length = c.req.header('content-length');
    const hasBody = length !== undefined ? length !== '0' : c.req.raw.body !== null;
    if (hasBody) {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
        throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Request body must be JSON (Content-Type: application/json)', {
          details: { content_type: type || null },
        });
      }
    }
    if (!hasBody) {
      treatAsNoBody(c);
      return next();
    }
    return limit(c, async () => {
      await guardDepth(c, next);
    });
  };
};
