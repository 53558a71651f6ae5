/**
 * Errors of EarthRing's pure domain modules. No Workers or Hono types here: the HTTP layer maps a
 * `DomainError` to `new ApiError(e.code, e.message, { details: e.details })` (src/http/errors.ts has the
 * same code names), and the /ws dialect puts the same fields into its error frame.
 */
export type DomainErrorCode = 'INVALID_ZONE' | 'INVALID_STRUCTURE' | 'INVALID_REQUEST' | 'CHUNK_NOT_FOUND';

/** `field` names the input that failed, `issue` is a stable snake_case reason; extra keys add context. */
export interface DomainErrorDetails {
  field: string;
  issue: string;
  [key: string]: unknown;
}

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly details: DomainErrorDetails;

  constructor(code: DomainErrorCode, message: string, details: DomainErrorDetails) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;

/** Outcome of a check that is expected to fail in normal play (racing checks), instead of a throw. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: DomainError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: DomainErrorCode, message: string, details: DomainErrorDetails): Result<T> => ({
  ok: false,
  error: new DomainError(code, message, details),
});

/** Runs a throwing validator and returns its outcome as a Result; other exceptions still propagate. */
export function attempt<T>(fn: () => T): Result<T> {
  try {
    return ok(fn());
  } catch (e) {
    if (isDomainError(e)) return { ok: false, error: e };
    throw e;
  }
}
