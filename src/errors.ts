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

/** An actor's RPC answer: RPC drops a thrown ApiError's fields, so actors return the error's body instead. */
export type Reply<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

/** Runs `fn` and answers its value, or the body of the ApiError it threw (anything else still throws). */
export async function replyOf<T>(fn: () => T | Promise<T>): Promise<Reply<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (isApiError(err)) return { ok: false, error: err.toBody() };
    throw err;
  }
}

/** The value of a reply, or its error thrown again as the ApiError it was. */
export function unwrap<T>(reply: Reply<T>): T {
  if (!reply.ok) throw ApiError.fromBody(reply.error);
  return reply.value;
}

/**
 * A seed's own words for the project's codes, applied where an error is rendered (REST body, Socket.IO `error`
 * event), never by a second error class: the code, status and details stay the ApiError's. `default` renders the
 * codes as they are (seed 000's words, the project's own); `seed003` renders seed 003's table (AUTH_FAILED,
 * AUTHZ_FAILED, TENANT_VIOLATION, RATE_LIMIT, INVALID_REQUEST, NOT_FOUND, INTERNAL_ERROR): a code the seed has no
 * word for takes the seed's nearest one, by status.
 */
export type Vocabulary = 'default' | 'seed003';

const SEED_003_CODES: Record<ErrorCode, string> = {
  INVALID_REQUEST: 'INVALID_REQUEST',
  INVALID_ZONE: 'INVALID_REQUEST',
  INVALID_STRUCTURE: 'INVALID_REQUEST',
  AUTHENTICATION_REQUIRED: 'AUTH_FAILED',
  AUTHORIZATION_FAILED: 'AUTHZ_FAILED',
  TENANT_VIOLATION: 'TENANT_VIOLATION',
  NOT_FOUND: 'NOT_FOUND',
  CHUNK_NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'INVALID_REQUEST',
  CONFLICT: 'INVALID_REQUEST',
  PAYLOAD_TOO_LARGE: 'INVALID_REQUEST',
  UNSUPPORTED_MEDIA_TYPE: 'INVALID_REQUEST',
  RATE_LIMIT_EXCEEDED: 'RATE_LIMIT',
  SERVER_ERROR: 'INTERNAL_ERROR',
  SERVICE_UNAVAILABLE: 'INTERNAL_ERROR',
};

/** The code `code` is rendered as in `vocabulary`. */
export const codeIn = (vocabulary: Vocabulary, code: ErrorCode): string =>
  vocabulary === 'seed003' ? SEED_003_CODES[code] : code;
