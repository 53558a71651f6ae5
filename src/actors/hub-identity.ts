import type { Identity } from '../auth/identity';
import { redeemTicket } from '../auth/tickets';
import { verifyAccessToken } from '../auth/tokens';
import { clientIdOf, errorEvent } from '../domain/hub';
import type { Env } from '../env';
import { isApiError } from '../errors';

/** Who a hub socket is, from its verified token. */
export interface HubSocketData {
  tenantId: string;
  userId: string;
  username: string;
  role: string;
  clientId: string;
  /** The access token's `exp` (seconds), `jti` and session: the socket is disconnected at `exp` or on revocation. */
  exp?: number;
  jti?: string;
  sessionId?: string;
}

export type Identified = { ok: true; data: HubSocketData } | { ok: false; message: string; data: unknown };

/**
 * A CONNECT's credentials: a connection ticket (POST /api/auth/ticket) in `auth.ticket` or `?ticket=` (which keeps
 * the JWT out of URLs), or an access token in `auth.token`; the refusal in seed 003's vocabulary otherwise.
 */
export async function identify(
  env: Env,
  auth: Record<string, unknown>,
  query: Record<string, string | undefined>,
  newId: () => string,
): Promise<Identified> {
  const ticket = typeof auth.ticket === 'string' && auth.ticket ? auth.ticket : query.ticket;
  const token = auth.token;
  if (!ticket && (typeof token !== 'string' || token.length === 0)) {
    return {
      ok: false,
      message: 'Authentication required: auth.token (an access token) or auth.ticket (a connection ticket)',
      data: { code: 'AUTH_FAILED' },
    };
  }
  let identity: Identity;
  try {
    identity = ticket ? await redeemTicket(env, ticket) : await verifyAccessToken(env, token as string);
  } catch (err) {
    if (isApiError(err)) return { ok: false, message: err.message, data: errorEvent(err) };
    console.error('hub: token verification failed', err);
    return { ok: false, message: 'Internal error', data: { code: 'INTERNAL_ERROR' } };
  }
  return {
    ok: true,
    data: {
      tenantId: identity.tenantId,
      userId: identity.userId,
      username: identity.username,
      role: identity.role,
      clientId: clientIdOf(query.clientId, `client-${newId()}`),
      ...sessionOf(identity),
    },
  };
}

/** The parts of an identity that bound a socket's life. */
export function sessionOf(identity: Identity): Pick<HubSocketData, 'exp' | 'jti' | 'sessionId'> {
  return {
    ...(identity.exp !== undefined ? { exp: identity.exp } : {}),
    ...(identity.jti ? { jti: identity.jti } : {}),
    ...(identity.sessionId ? { sessionId: identity.sessionId } : {}),
  };
}
