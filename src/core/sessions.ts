import { verifyAccessToken } from '../auth/tokens';
import { revokedAmong } from '../db/revocations';
import type { Env } from '../env';
import { ApiError, isApiError } from '../errors';
import type { Attachment } from './attachment';
import type { ActorIdentity, Connection, Dialect } from './dialect';
import { CLOSE } from './protocol';
import type { Scheduler } from './scheduler';
import type { SocketRegistry } from './sockets';
import { formatSse, type SseHub } from './sse';

/** Ends connections whose token expired or whose session was revoked. */
export const TIMER_SESSION = 'core:session';
/** How often an actor with open sessions asks D1 whether any was revoked: the most a logout takes to bite. */
export const SESSION_CHECK_MS = 5_000;
/** The in-band re-authentication frame every dialect accepts on an open socket: `{"type":"auth","token":"<jwt>"}`. */
export const AUTH_FRAME_TYPE = 'auth';

/** What session upkeep reaches through the actor. */
export interface SessionHost {
  env: Env;
  sockets: SocketRegistry;
  sse: SseHub;
  timers: Scheduler;
  dialects: Record<string, Dialect>;
  /** The actor's `sessionCheckMs` setting, if set. */
  sessionCheckMs: number | undefined;
  socketConnection(ws: WebSocket, att: Attachment): Connection;
  closeSocket(ws: WebSocket, att: Attachment, code: number, reason: string): void;
}

/** Schedules the session sweep for a connection whose token can expire or be revoked. */
export function watchSession(host: SessionHost, identity: ActorIdentity, now: number): void {
  if (identity.exp === undefined && identity.jti === undefined) return;
  const check = host.sessionCheckMs ?? SESSION_CHECK_MS;
  const at = Math.min(identity.exp !== undefined ? identity.exp * 1000 : Number.POSITIVE_INFINITY, now + check);
  void host.timers.scheduleNoLaterThan(TIMER_SESSION, at);
}

/**
 * Ends every socket and SSE stream whose token has expired (close 4001) or whose token or session was revoked
 * (close 4003): logout, refresh-token reuse, role change. Revocations are read from D1 in one query per sweep,
 * every `SESSION_CHECK_MS` while sessions are open, so a logout reaches open connections within that time.
 */
export async function sweepSessions(host: SessionHost, now: number): Promise<void> {
  const sockets = host.sockets.open().filter(({ att }) => att.identity.exp !== undefined || att.identity.jti !== undefined);
  const streams = [...host.sse.all()].filter((st) => st.identity.exp !== undefined || st.identity.jti !== undefined);
  if (sockets.length === 0 && streams.length === 0) return;
  const expired = (identity: ActorIdentity) => identity.exp !== undefined && identity.exp * 1000 <= now;
  const sessions = new Map<string, { jti: string; sessionId?: string }>();
  for (const identity of [...sockets.map((x) => x.att.identity), ...streams.map((x) => x.identity)]) {
    if (identity.jti && !expired(identity)) sessions.set(identity.jti, { jti: identity.jti, sessionId: identity.sessionId });
  }
  let revoked = new Set<string>();
  try {
    revoked = await revokedAmong(host.env.DB, [...sessions.values()]);
  } catch (err) {
    console.error('session revocation check failed; retrying at the next sweep', err);
  }
  let next = now + (host.sessionCheckMs ?? SESSION_CHECK_MS);
  for (const { ws, att } of sockets) {
    if (expired(att.identity)) host.closeSocket(ws, att, CLOSE.TOKEN_EXPIRED, 'Access token expired');
    else if (att.identity.jti && revoked.has(att.identity.jti))
      host.closeSocket(ws, att, CLOSE.SESSION_REVOKED, 'Session revoked');
    else if (att.identity.exp !== undefined) next = Math.min(next, att.identity.exp * 1000);
  }
  for (const stream of streams) {
    const reason = expired(stream.identity)
      ? 'token_expired'
      : stream.identity.jti && revoked.has(stream.identity.jti)
        ? 'session_revoked'
        : null;
    if (reason) {
      stream.write(formatSse({ event: 'session_ended', data: { reason } }));
      stream.end();
    } else if (stream.identity.exp !== undefined) next = Math.min(next, stream.identity.exp * 1000);
  }
  await host.timers.schedule(TIMER_SESSION, next);
}

/**
 * In-band re-authentication: `{"type":"auth","token":"<new access token>"}` on an open socket, in any dialect,
 * replaces the connection's token (same user and tenant) before it expires. Answers `{"type":"auth_ok","exp"}`
 * or the dialect's error frame. False when the frame is not an auth frame (it goes to the dialect).
 */
export async function reauthenticate(host: SessionHost, ws: WebSocket, att: Attachment, message: string): Promise<boolean> {
  let frame: unknown;
  try {
    frame = JSON.parse(message);
  } catch {
    return false;
  }
  if (typeof frame !== 'object' || frame === null || (frame as { type?: unknown }).type !== AUTH_FRAME_TYPE) return false;
  const conn = host.socketConnection(ws, att);
  const dialect = host.dialects[att.dialect];
  const token = (frame as { token?: unknown }).token;
  try {
    if (typeof token !== 'string') throw new ApiError('INVALID_REQUEST', 'auth needs {"token": "<access token>"}');
    const fresh = await verifyAccessToken(host.env, token);
    if (fresh.userId !== att.identity.userId || fresh.tenantId !== att.identity.tenantId) {
      throw new ApiError('AUTHORIZATION_FAILED', 'The new token is for another user or tenant');
    }
    att.identity = {
      ...att.identity,
      role: fresh.role,
      exp: fresh.exp,
      jti: fresh.jti,
      ...(fresh.sessionId ? { sessionId: fresh.sessionId } : {}),
    };
    host.sockets.save(ws, att, Date.now());
    watchSession(host, att.identity, Date.now());
    conn.send({ type: 'auth_ok', exp: fresh.exp });
  } catch (err) {
    const e = isApiError(err) ? err : new ApiError('SERVER_ERROR', 'Re-authentication failed');
    conn.send(dialect ? dialect.renderError({ code: e.code, message: e.message, details: e.details }) : { type: 'error' });
  }
  return true;
}
