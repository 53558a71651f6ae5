import type { DomainError } from '../domain/errors';
import { ApiError } from '../errors';

/**
 * The one mapping from the pure domain's errors to REST errors: same code, same message, and the domain's
 * `{field, issue, ...}` as `details`. The app's error handler applies it to any DomainError a route lets
 * escape, so routes call the domain validators directly.
 */
export const apiErrorFromDomain = (e: DomainError): ApiError => new ApiError(e.code, e.message, { details: { ...e.details } });
