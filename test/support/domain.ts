import { type FieldError, isFieldError } from '../../src/errors';

/** Runs fn and returns the ApiError it throws; fails the test if it throws nothing or something else. */
export function errorOf(fn: () => unknown): FieldError {
  try {
    fn();
  } catch (e) {
    if (isFieldError(e)) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}
