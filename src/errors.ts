import type { z } from 'zod';

/**
 * The one error type of EdgeRooms, below every layer: domain, core, dialects, actors and routes throw it; each
 * transport renders it (REST in `http/errors.ts`, error frames in each dialect). No Workers or Hono types here.
 *
 * Codes are the seeds' (seed 000 first; seed 003's AUTH_FAILED/AUTHZ_FAILED/RATE_LIMIT/INTERNAL_ERROR are the
 * same conditions under these names).
 */
export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  INVALID_ZONE: 400,
  INVALID_STRUCTURE: 400,
  AUTHENTICATION_REQUIRED: 401,
  AUTHORIZATION_FAILED: 403,
  TENANT_VIOLATION: 403,
  NOT_FOUND: 404,
  CHUNK_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMIT_EXCEEDED: 429,
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/** The one REST error body: `{ error: CODE, message, details? }` (plus `retry_after` on 429, as seed 000 shows). */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  retry_after?: number;
}

/**
 * Thrown anywhere; the app's error handler turns it into the REST error body and dialects turn the same code,
 * message and details into their own error frames.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: ErrorStatus;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
  readonly extra?: Partial<ErrorBody>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; headers?: Record<string, string>; extra?: Partial<ErrorBody> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers;
    this.extra = options.extra;
  }

  /** The error again from its body, as it comes back across Durable Object RPC (which drops custom errors' fields). */
  static fromBody(body: ErrorBody): ApiError {
    return new ApiError(body.error, body.message, body.details ? { details: body.details } : {});
  }

  toBody(): ErrorBody {
    return {
      ...this.extra,
      error: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;

/** Turns a zod failure into details that name the failing field(s). */
export function zodDetails(error: z.ZodError): Record<string, unknown> {
  const issues = error.issues.map((i) => ({
    field: i.path.length ? i.path.join('.') : ((i as { keys?: string[] }).keys?.join(',') ?? '(body)'),
    issue: i.code,
    message: i.message,
  }));
  return { field: issues[0]?.field, issues };
}
