import type { Hook } from '@hono/zod-openapi';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import { ApiError, zodDetails } from '../errors';
import type { AppEnv } from './context';

/** Every OpenAPI route validates through this: 400 INVALID_REQUEST with the failing field in details. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) {
    const details = zodDetails(result.error as z.ZodError);
    throw new ApiError(
      'INVALID_REQUEST',
      `Invalid ${result.target === 'json' ? 'request body' : result.target}: ${details.field} ${(result.error as z.ZodError).issues[0]?.message ?? ''}`.trim(),
      { details: { ...details, location: result.target } },
    );
  }
};

/** A router whose routes validate with `validationHook` and appear in /openapi.json. */
export const router = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
