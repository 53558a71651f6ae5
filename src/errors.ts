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
  /** An `Idempotency-Key` sent again with another body (the IETF Idempotency-Key draft's 422). */
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMIT_EXCEEDED: 429,
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/**
 * What an error says beyond its code and message. Input checks name the failing `field` and a stable snake_case
 * `issue` clients can branch on (the pure domain always does); other keys add context (limits, ids).
 */
export interface ErrorDetails {
  field?: string;
  issue?: string;
  [key: string]: unknown;
}

/** The one REST error body: `{ error: CODE, message, details? }` (plus `retry_after` on 429, as seed 000 shows). */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details?: ErrorDetails;
  retry_after?: number;
}

/**
 * Thrown anywhere; the app's error handler turns it into the REST error body and dialects turn the same code,
 * message and details into their own error frames.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: ErrorStatus;
  readonly details?: ErrorDetails;
  readonly headers?: Record<string, string>;
  readonly extra?: Partial<ErrorBody>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetails; headers?: Record<string, string>; extra?: Partial<ErrorBody> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers;
    this.extra = options.extra;
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
export function zodDetails(error: z.ZodError): ErrorDetails {
  const issues = error.issues.map((i) => ({
    field: i.path.length ? i.path.join('.') : ((i as { keys?: string[] }).keys?.join(',') ?? '(body)'),
    issue: i.code,
    message: i.message,
  }));
  return { field: issues[0]?.field, issues };
}

/** zod's own default messages ("Invalid input: …", "Too small: …"): rephrased from the issue; custom ones kept. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Unrecognized key)/;

const described = (value: unknown): string =>
  value === undefined ? 'nothing' : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;

const units: Record<string, [string, string]> = {
  string: ['character', 'characters'],
  array: ['item', 'items'],
  set: ['item', 'items'],
  file: ['byte', 'bytes'],
};

/** The rule an issue broke, as the end of a sentence ("must be at least 8 characters long"). */
function issueRule(issue: z.core.$ZodIssue, field: string): string {
  if (issue.code === 'custom' || !ZOD_DEFAULT_MESSAGE.test(issue.message)) {
    // A schema's own message; drop a leading field name ("Password must …" → "must …").
    const own = issue.message.trim();
    const head = own.split(/\s+/, 1)[0] ?? '';
    const last = field.split('.').pop() ?? '';
    const rest = head.toLowerCase() === last.toLowerCase() ? own.slice(head.length).trim() : own;
    return rest.charAt(0).toLowerCase() + rest.slice(1);
  }
  switch (issue.code) {
    case 'invalid_type': {
      // zod leaves the input out of issues; its default message names what it received.
      const received = 'input' in issue ? described(issue.input) : (/received (\w+)/.exec(issue.message)?.[1] ?? 'nothing');
      const article = /^[aeiou]/.test(issue.expected) ? 'an' : 'a';
      return received === 'undefined' || received === 'nothing'
        ? `is required (${article} ${issue.expected})`
        : `must be ${article} ${issue.expected}, not ${received}`;
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = Number(small ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum);
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false;
      const unit = units[issue.origin];
      if (unit) {
        const word = bound === 1 ? unit[0] : unit[1];
        if ((issue as { exact?: boolean }).exact) return `must have exactly ${bound} ${word}`;
        return `must be at ${small ? 'least' : 'most'} ${bound} ${word} long`.replace(/ (items?) long$/, ' $1');
      }
      if (inclusive) return `must be at ${small ? 'least' : 'most'} ${bound}`;
      return `must be ${small ? 'greater' : 'less'} than ${bound}`;
    }
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`;
    case 'invalid_format':
      return issue.format === 'regex' ? 'has the wrong format' : `must be a valid ${issue.format}`;
    case 'unrecognized_keys':
      return `has unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_union':
      return 'matches none of the allowed shapes';
    default:
      return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
  }
}

/**
 * One clear sentence per failing field: `password: must be at least 8 characters long. floor: is required (a
 * number).` The same fields, in the same order, as `zodDetails(error).issues`; `whole` names the value itself.
 */
export function zodMessage(error: z.ZodError, whole = '(body)'): string {
  const seen = new Set<string>();
  const sentences: string[] = [];
  for (const issue of error.issues) {
    const field = issue.path.length ? issue.path.join('.') : whole;
    if (seen.has(field)) continue;
    seen.add(field);
    sentences.push(`${field}: ${issueRule(issue, field).replace(/\.$/, '')}.`);
  }
  return sentences.join(' ');
}

/**
 * The details of a failed input check in the pure domain: `field` names the input that failed (EarthRing's REST
 * and /ws surfaces), `issue` is a stable snake_case reason clients can branch on; other keys add context.
 */
export interface FieldIssue {
  field: string;
  issue: string;
  [key: string]: unknown;
}

/** An ApiError of an input check: its details always name the field and the issue. */
export type FieldError = ApiError & { readonly details: FieldIssue };

export const isFieldError = (e: unknown): e is FieldError =>
  isApiError(e) && typeof e.details?.field === 'string' && typeof e.details.issue === 'string';

/** The details of a collaboration room's refusal: `issue` always, `field` or limits when they help. */
export interface Issue {
  issue: string;
  [key: string]: unknown;
}

/** Shorthand for the common case: bad input (INVALID_REQUEST) with its issue. */
export const invalid = (message: string, details: Issue): ApiError => new ApiError('INVALID_REQUEST', message, { details });

// ---- results: checks that are expected to fail in normal play, without a throw --------------------------------

export type Result<T> = { ok: true; value: T } | { ok: false; error: FieldError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: ErrorCode, message: string, details: FieldIssue): Result<T> => ({
  ok: false,
  error: new ApiError(code, message, { details }) as FieldError,
});

/** Runs a throwing validator and returns its outcome as a Result; other exceptions still propagate. */
export function attempt<T>(fn: () => T): Result<T> {
  try {
    return ok(fn());
  } catch (e) {
    if (isFieldError(e)) return { ok: false, error: e };
    throw e;
  }
}

/** A Result's value, or its error thrown. */
export function unwrapResult<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

// ---- across Durable Object RPC --------------------------------------------------------------------------------

/**
 * What an actor's RPC method answers when it can fail: an exception crossing RPC keeps only its message (custom
 * errors lose their class, code and details), so the error travels as its body and is thrown again on the other side.
 */
export type Failure = { ok: false; error: ErrorBody };
export type Reply<T> = { ok: true; value: T } | Failure;

/** Inside the actor: runs `fn`; an ApiError becomes a Failure, anything else still throws (an internal error). */
export async function toReply<T>(fn: () => T | Promise<T>): Promise<Reply<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (isApiError(err)) return { ok: false, error: err.toBody() };
    throw err;
  }
}

/** At the caller: the value, or the actor's ApiError thrown again with the same code, message and details. */
export function fromReply(reply: Failure): never;
export function fromReply<T>(reply: Reply<T>): T;
export function fromReply<T>(reply: Reply<T>): T {
  if (reply.ok) return reply.value;
  const { error, message, details, ...extra } = reply.error;
  throw new ApiError(error, message, {
    ...(details ? { details } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
  });
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
  IDEMPOTENCY_KEY_REUSED: 'INVALID_REQUEST',
  RATE_LIMIT_EXCEEDED: 'RATE_LIMIT',
  SERVER_ERROR: 'INTERNAL_ERROR',
  SERVICE_UNAVAILABLE: 'INTERNAL_ERROR',
};

/** The code `code` is rendered as in `vocabulary`. */
export const codeIn = (vocabulary: Vocabulary, code: ErrorCode): string =>
  vocabulary === 'seed003' ? SEED_003_CODES[code] : code;
