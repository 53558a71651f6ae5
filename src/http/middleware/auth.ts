import type { MiddlewareHandler } from 'hono';
import type { Identity, Role } from '../../auth/identity';
import { tokenFromRequest, verifyAccessTokenClaims } from '../../auth/tokens';
import type { LimitName } from '../../core/limits';
import { ApiError } from '../../errors';
import type { AppEnv } from '../context';
import { admitUser, withRateLimitHeaders } from './rate-limit';

/**
 * Tenancy (seed 003): a request may name its tenant in `X-Tenant-ID`; it must be the token's. A request
 * without the header acts in the token's tenant.
 */
export function assertTenant(identity: Identity, headerTenant: string | undefined | null): void {
  if (headerTenant === undefined || headerTenant === null) return;
  if (headerTenant.trim() !== identity.tenantId) {
    throw new ApiError('TENANT_VIOLATION', `X-Tenant-ID "${headerTenant}" does not match the token's tenant`, {
      details: { field: 'X-Tenant-ID' },
    });
  }
}

/**
 * The token's signature and claims here; its revocation and the user's limits in one call to the user's
 * limiter object (`admitUser`), so an authenticated request costs no D1 read.
 */
async function authenticate(c: Parameters<MiddlewareHandler<AppEnv>>[0], token: string, limits: LimitName[]): Promise<void> {
  const identity = await verifyAccessTokenClaims(c.env, token);
  assertTenant(identity, c.req.header('x-tenant-id'));
  await admitUser(c, identity, ['USER', ...limits]);
  c.set('identity', identity);
}

/**
 * 401 AUTHENTICATION_REQUIRED without a valid access token; sets `identity`; 403 TENANT_VIOLATION on a tenant
 * mismatch; then the per-user limit (500/min, seed 000), so no authenticated route can forget it.
 */
export const requireAuth: MiddlewareHandler<AppEnv> = (c, next) => requireAuthLimited()(c, next);

/**
 * `requireAuth` plus per-user route limits (`ZONE_CREATE`, ...), counted with the 500/min user limit in ONE call
 * to the user's limiter object.
 */
export function requireAuthLimited(...limits: LimitName[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = tokenFromRequest(c.req.raw);
    if (!token) {
      throw new ApiError('AUTHENTICATION_REQUIRED', 'Authentication required: send Authorization: Bearer <access_token>', {
        details: { reason: 'missing' },
      });
    }
    await authenticate(c, token, limits);
    await withRateLimitHeaders(c, next);
  };
}

/** Like requireAuth when a token is sent (a bad one is still 401); lets anonymous requests through. */
export const optionalAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = tokenFromRequest(c.req.raw);
  if (!token) return next();
  await authenticate(c, token, []);
  await withRateLimitHeaders(c, next);
};

/** 403 AUTHORIZATION_FAILED unless the caller holds one of `roles`. Use after requireAuth. */
export const requireRole =
  (...roles: Role[]): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const identity = c.get('identity');
    if (!identity) throw new ApiError('AUTHENTICATION_REQUIRED', 'Authentication required');
    if (!roles.includes(identity.role)) {
      throw new ApiError('AUTHORIZATION_FAILED', `This action requires role ${roles.join(' or ')}`, {
        details: { required: roles, role: identity.role },
      });
    }
    await next();
  };
