/**
 * Errors of the collaboration room's pure domain modules (canvas, dice, presence, turns, activity, methods).
 * No Workers or Hono types: a dialect maps a `RoomError` to its error frame and REST to
 * `new ApiError(e.code, e.message, { details: e.details })` (the code names are src/http/errors.ts's).
 */
export type RoomErrorCode = 'INVALID_REQUEST' | 'NOT_FOUND' | 'AUTHORIZATION_FAILED' | 'RATE_LIMIT_EXCEEDED';

/** `issue` is a stable snake_case reason clients can branch on; other keys add context (field, limits). */
export interface RoomErrorDetails {
  issue: string;
  [key: string]: unknown;
}

export class RoomError extends Error {
  readonly code: RoomErrorCode;
  readonly details?: RoomErrorDetails;

  constructor(code: RoomErrorCode, message: string, details?: RoomErrorDetails) {
    super(message);
    this.name = 'RoomError';
    this.code = code;
    this.details = details;
  }

  /** The wire shape `{ code, message, details? }`: what a dialect puts into its error frame. */
  toJSON(): { code: RoomErrorCode; message: string; details?: RoomErrorDetails } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export const isRoomError = (e: unknown): e is RoomError => e instanceof RoomError;

/** Shorthand for the common case: bad input. */
export const invalid = (message: string, details: RoomErrorDetails): RoomError =>
  new RoomError('INVALID_REQUEST', message, details);
