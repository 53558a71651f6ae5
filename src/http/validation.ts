import type { Hook } from '@hono/zod-openapi';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import { ApiError, zodDetails, zodMessage } from '../errors';
import type { AppEnv } from './context';

/** Every OpenAPI route validates through this: 400 INVALID_REQUEST, one sentence per failing field, the fields in details. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result, c) => {
  if (!result.success) {
    // No Content-Type here means no body at all (`jsonBody` refuses an untyped one, and treats an empty one as none).
    if (result.target === 'json' && !c.req.header('content-type')) {
      throw new ApiError('INVALID_REQUEST', 'Request body is required (Content-Type: application/json)', {
        details: { field: '(body)', issue: 'required', location: 'json' },
      });
    }
    const details = zodDetails(result.error as z.ZodError);
    throw new ApiError('INVALID_REQUEST', zodMessage(result.error as z.ZodError), {
      details: { ...details, location: result.target },
    });
  }
};

/** A router whose routes validate with `validationHook` and appear in /openapi.json. */
export const router = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
