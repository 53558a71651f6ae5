import { ApiError, type ErrorCode } from '../errors';

/**
 * Reading untrusted input that every surface shares: JSON objects and seed 000's numeric ids.
 */

/** Seed 000's numeric ids (users and so players, races, zones, structures) as digits: a positive integer. */
export const ID_PATTERN = /^[1-9]\d{0,15}$/;

/** The positive integer an id string stands for, or null. */
export const parseId = (value: string): number | null => {
  if (!ID_PATTERN.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
};

/**
 * Seed 000's `player_id` of a user: players are the users with a numeric id; an identity without one (a
 * service account) is not a player.
 */
export const playerIdOf = (userId: string): number | null => parseId(userId);

/**
 * `value` as a JSON object, or `code` (INVALID_REQUEST) with `{field, issue: 'bad_type'}` and "`what` must be an
 * object". `optional` reads a missing value (undefined or null) as `{}`.
 */
export function asObject(
  value: unknown,
  field: string,
  options: { optional?: boolean; code?: ErrorCode; what?: string } = {},
): Record<string, unknown> {
  if (options.optional && (value === undefined || value === null)) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(options.code ?? 'INVALID_REQUEST', `${options.what ?? field} must be an object`, {
      details: { field, issue: 'bad_type' },
    });
  }
  return value as Record<string, unknown>;
}
