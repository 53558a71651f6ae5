import { ROLES } from '../auth/identity';
import type { ActorIdentity } from './dialect';

/**
 * How the Worker hands an authenticated connection to an actor. The actor's `fetch` is reachable only through
 * an actor handle the Worker holds, and the Worker builds that request from scratch: only a whitelist of the client's
 * headers is copied, so a client can never supply the identity header itself.
 */
export const IDENTITY_HEADER = 'x-edgerooms-identity';
export const DIALECT_HEADER = 'x-edgerooms-dialect';

/** Client headers an actor needs for a WebSocket upgrade or an SSE stream; everything else stays behind. */
const PASSED_HEADERS = [
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'last-event-id',
  'accept',
];

/** Query parameters never forwarded (the token stays in the Worker). */
const DROPPED_PARAMS = ['token', 'access_token', 'ticket'];

/** Builds the request the Worker sends to the actor's `fetch` for an upgrade or SSE stream of `identity`. */
export function forwardRequest(request: Request, identity: ActorIdentity, dialect: string): Request {
  const incoming = new URL(request.url);
  const url = new URL(`https://actor.internal${incoming.pathname}`);
  for (const [key, value] of incoming.searchParams) if (!DROPPED_PARAMS.includes(key)) url.searchParams.append(key, value);
  const headers = new Headers();
  for (const name of PASSED_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const { userId, tenantId, role, username, exp, jti, sessionId } = identity;
  headers.set(IDENTITY_HEADER, JSON.stringify({ userId, tenantId, role, username, exp, jti, sessionId }));
  headers.set(DIALECT_HEADER, dialect);
  return new Request(url, { method: 'GET', headers });
}

/** Actor side: the identity and dialect the Worker set, or null when the request did not come from it. */
export function readForwarded(request: Request): { identity: ActorIdentity; dialect: string } | null {
  const raw = request.headers.get(IDENTITY_HEADER);
  const dialect = request.headers.get(DIALECT_HEADER);
  if (!raw || !dialect) return null;
  try {
    const v = JSON.parse(raw) as Partial<ActorIdentity>;
    if (typeof v.userId !== 'string' || typeof v.tenantId !== 'string' || typeof v.username !== 'string') return null;
    if (!ROLES.includes(v.role as ActorIdentity['role'])) return null;
    const identity: ActorIdentity = {
      userId: v.userId,
      tenantId: v.tenantId,
      role: v.role as ActorIdentity['role'],
      username: v.username,
    };
    if (typeof v.exp === 'number') identity.exp = v.exp;
    if (typeof v.jti === 'string') identity.jti = v.jti;
    if (typeof v.sessionId === 'string') identity.sessionId = v.sessionId;
    return { identity, dialect };
  } catch {
    return null;
  }
}

/** The identity an actor needs from the Worker's verified token (user ids are strings everywhere in actors). */
export function actorIdentity(identity: {
  userId: string | number;
  tenantId: string;
  role: ActorIdentity['role'];
  username: string;
  exp?: number;
  jti?: string;
  sessionId?: string;
}): ActorIdentity {
  const out: ActorIdentity = {
    userId: String(identity.userId),
    tenantId: identity.tenantId,
    role: identity.role,
    username: identity.username,
  };
  // The token's lifetime and revocation handles travel with the identity, so the actor can end the session.
  if (identity.exp !== undefined) out.exp = identity.exp;
  if (identity.jti !== undefined) out.jti = identity.jti;
  if (identity.sessionId !== undefined) out.sessionId = identity.sessionId;
  return out;
}
