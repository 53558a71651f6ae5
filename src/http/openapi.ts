import { z } from '@hono/zod-openapi';

/**
 * The OpenAPI pieces every route declares with: one error schema (the shape `ApiError` renders), JSON request
 * and response content, fields documented here but checked by a domain validator, and bearer security.
 */

export const ErrorSchema = z
  .object({
    error: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    retry_after: z.number().int().optional(),
  })
  .openapi('Error');

/** A JSON error answer with its description. */
export const errorContent = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });

/** A JSON answer of `schema`. */
export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A JSON request body of `schema`. */
export const jsonRequest = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

/** A documented body field that a domain validator, not zod, checks (so zod lets anything through to it). */
export const documented = (
  type: 'string' | 'number' | 'integer' | 'object' | 'array' | 'boolean',
  description: string,
  example?: unknown,
) => z.unknown().openapi({ type, description, example });

/** Routes that take `Authorization: Bearer <access_token>`. */
export const bearer = [{ Bearer: [] }];
