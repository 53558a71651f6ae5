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
