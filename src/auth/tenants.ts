import { ApiError } from '../errors';

/** The tenant of requests that name none. Always exists (migrations/0001_tenants.sql). */
export const DEFAULT_TENANT = 'default';

/** Lowercase letters, digits and dashes, 1..63 characters, not starting with a dash. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const isTenantId = (value: string): boolean => TENANT_ID_PATTERN.test(value);

/**
 * The tenant a register or login acts in: the body's `tenant_id`, else the `X-Tenant-ID` header, else
 * `default`. Both given and different is a tenancy violation rather than a guess.
 */
export function resolveTenant(bodyTenant: string | undefined, headerTenant: string | undefined): string {
  if (headerTenant !== undefined && !isTenantId(headerTenant)) {
    throw new ApiError('INVALID_REQUEST', 'X-Tenant-ID must match ^[a-z0-9][a-z0-9-]{0,62}$', {
      details: { field: 'X-Tenant-ID' },
    });
  }
  if (bodyTenant !== undefined && headerTenant !== undefined && bodyTenant !== headerTenant) {
    throw new ApiError('TENANT_VIOLATION', `tenant_id "${bodyTenant}" does not match X-Tenant-ID "${headerTenant}"`, {
      details: { field: 'tenant_id' },
    });
  }
  return bodyTenant ?? headerTenant ?? DEFAULT_TENANT;
}
