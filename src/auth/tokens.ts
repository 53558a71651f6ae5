import { errors, jwtVerify, SignJWT } from 'jose';
import { accessRevocation } from '../db/revocations';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { randomToken } from './crypto';
import { type Identity, ROLES, type Role } from './identity';

/** Access tokens live 15 minutes (DESIGN.md); refresh tokens carry the session beyond that. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;

/** Service tokens (`POST /api/admin/service-tokens`) may be minted for up to a year; nothing else outlives 15 min. */
export const SERVICE_TOKEN_MAX_TTL_SECONDS = 365 * 24 * 60 * 60;

/** The longest lifetime (`exp - iat`) a token of `role` is ever issued with: a longer one was not minted here. */
export const maxLifetimeSeconds = (role: Role): number =>
  role === 'service' ? SERVICE_TOKEN_MAX_TTL_SECONDS : ACCESS_TOKEN_TTL_SECONDS;

/** Clock skew tolerated for `iat` in the future (seconds). */
const IAT_SKEW_SECONDS = 60;

/** The only algorithm signed or accepted: `alg: none`, RS*, ES* and the rest are refused. */
const ALGORITHM = 'HS256';

/** Below this the HMAC key is guessable; a misconfigured Worker fails loudly instead of signing weakly. */
const MIN_SECRET_BYTES = 32;

const encoder = new TextEncoder();

function signingKey(env: Env): Uint8Array {
  const key = encoder.encode(env.JWT_SECRET ?? '');
  if (key.byteLength < MIN_SECRET_BYTES) {
    throw new Error(`JWT_SECRET must be set to at least ${MIN_SECRET_BYTES} bytes`);
  }
  return key;
}

/** The secret as an HMAC CryptoKey, imported once per isolate (and per secret) instead of on every verify. */
let verifyKey: { secret: string; key: Promise<CryptoKey> } | undefined;
function verifyingKey(env: Env): Promise<CryptoKey> {
  const secret = env.JWT_SECRET ?? '';
  if (verifyKey?.secret !== secret) {
    const raw = signingKey(env);
    const key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    verifyKey = { secret, key };
  }
  return verifyKey.key;
}

/** Who an access token is for. */
export interface TokenSubject {
  userId: number | string;
  tenantId: string;
  role: Role;
  username: string;
  /** Refresh family id; absent for service tokens, which have no session to refresh. */
  sessionId?: string;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  /** `exp` as ISO-8601 without milliseconds, the form seed 000 shows (`2024-01-01T00:15:00Z`). */
  expiresAt: string;
}

/** ISO-8601 of whole epoch seconds, as seed 000 writes `expires_at`. */
export const isoSeconds = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

/** Signs an HS256 access token with the claims every part of EdgeRooms reads (seed 000 and seed 003). */
export async function issueAccessToken(
  env: Env,
  subject: TokenSubject,
  options: { ttlSeconds?: number; now?: number } = {},
): Promise<IssuedAccessToken> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const exp = iat + (options.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS);
  const jti = randomToken(16);
  const sub = String(subject.userId);
  const claims: Record<string, unknown> = {
    userId: sub, // seed 003 reads `userId`; the same value as `sub`
    tenantId: subject.tenantId,
    role: subject.role,
    username: subject.username,
  };
  if (subject.sessionId) claims.sid = subject.sessionId;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(env.JWT_ISSUER)
    .setAudience(env.JWT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(signingKey(env));
  return { token, jti, exp, expiresAt: isoSeconds(exp) };
}

const unauthenticated = (message: string, reason: string) =>
  new ApiError('AUTHENTICATION_REQUIRED', message, { details: { reason } });

/** Maps jose's failures to a message a client can act on; never echoes the token. */
function explain(err: unknown): ApiError {
  if (err instanceof errors.JWTExpired) return unauthenticated('Access token has expired', 'expired');
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated('Access token signature is invalid', 'bad_signature');
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return unauthenticated(`Access token algorithm is not accepted (only ${ALGORITHM})`, 'algorithm');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`Access token "${err.claim}" claim is invalid: ${err.reason}`, 'claim');
  }
  return unauthenticated('Access token is malformed', 'malformed');
}

function stringClaim(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw unauthenticated(`Access token is malformed: "${name}" claim missing`, 'malformed');
  }
  return value;
}

/** The 401 for a token that was revoked (`token`: logged out) or whose session was ended (`session`). */
export function revokedError(revoked: 'token' | 'session'): ApiError {
  return revoked === 'token'
    ? unauthenticated('Access token has been revoked (logged out)', 'revoked')
    : unauthenticated('Access token has been revoked: its session was ended', 'revoked');
}

/**
 * Verifies signature (HS256 only), expiry, issuer and audience, the claims' shape, and that neither the
 * token (logout) nor its session (logout, refresh reuse, role change) was revoked.
 * Throws `ApiError('AUTHENTICATION_REQUIRED')` saying which of these failed.
 */
export async function verifyAccessToken(env: Env, token: string): Promise<Identity> {
  const identity = await verifyAccessTokenClaims(env, token);
  const revoked = await accessRevocation(env.DB, identity.jti, identity.sessionId);
  if (revoked) throw revokedError(revoked);
  return identity;
}

/**
 * `verifyAccessToken` without the revocation read: for callers that learn revocation another way (the REST
 * middleware asks the user's limiter object, which caches it; see `RateLimiter.admit`).
 */
export async function verifyAccessTokenClaims(env: Env, token: string): Promise<Identity> {
  if (typeof token !== 'string' || token.split('.').length !== 3) throw unauthenticated('Access token is malformed', 'malformed');
  const key = await verifyingKey(env);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [ALGORITHM],
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    }));
  } catch (err) {
    throw explain(err);
  }
  const userId = stringClaim(payload, 'sub');
  const role = stringClaim(payload, 'role');
  if (!/^\d+$/.test(userId)) throw unauthenticated('Access token is malformed: "sub" is not a user id', 'malformed');
  if (!(ROLES as readonly string[]).includes(role)) {
    throw unauthenticated('Access token is malformed: unknown role', 'malformed');
  }
  // A token signed with the secret but with a lifetime this service never issues (a 10-year `exp`) is refused.
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  if (exp - iat > maxLifetimeSeconds(role as Role) || iat > Date.now() / 1000 + IAT_SKEW_SECONDS) {
    throw unauthenticated('Access token lifetime is longer than this service issues', 'too_old');
  }
  const identity: Identity = {
    userId,
    tenantId: stringClaim(payload, 'tenantId'),
    role: role as Role,
    username: stringClaim(payload, 'username'),
    jti: stringClaim(payload, 'jti'),
    exp: payload.exp as number,
  };
  if (typeof payload.sid === 'string') identity.sessionId = payload.sid;
  return identity;
}

/**
 * The access token a request carries: `Authorization: Bearer <jwt>`, else the `?token=` query parameter
 * (WebSocket handshakes and EventSource cannot always set headers). Null when there is none.
 */
export function tokenFromRequest(req: Request): string | null {
  const header = req.headers.get('authorization');
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m?.[1]) return m[1];
  }
  const query = new URL(req.url).searchParams.get('token');
  return query ? query : null;
}
