import { verifyAccessToken } from '../auth/tokens';
import { revokedAmong } from '../db/revocations';
import { errorEvent } from '../domain/hub';
import type { Env } from '../env';
import { ApiError, isApiError } from '../errors';
import type { EngineSession } from './engineio-actor';
import { type HubSocketData, sessionOf } from './hub-identity';
import type { Ack, SocketIoState, SocketRecord } from './socketio-actor';

/** How often open sockets' sessions are checked against D1 for revocation (logout, role change, reuse). */
export const HUB_SESSION_CHECK_MS = 5_000;

type Session = EngineSession<SocketIoState<HubSocketData>>;
type Socket = SocketRecord<HubSocketData>;

/** What the watch needs from its shard. */
export interface TokenWatchShard {
  readonly env: Env;
  /** Wakes `check` no later than `at`. */
  wakeAt(at: number): void;
  sessions(): Session[];
  emit(session: Session, socket: Socket, event: string, args: unknown[]): void;
  persist(session: Session): void;
  /** Tells the socket why (`AUTH_FAILED`) and disconnects it. */
  end(session: Session, socket: Socket, message: 'Access token expired' | 'Session revoked'): Promise<void>;
}

/** A hub socket's token lifetime: expiry, revocation, and the in-band refresh (`auth`). */
export class HubTokenWatch {
  constructor(private readonly shard: TokenWatchShard) {}

  /** Wakes the session check at the earlier of the token's `exp` and the next revocation read. */
  watch(data: HubSocketData, now: number): void {
    if (data.exp === undefined && data.jti === undefined) return;
    this.shard.wakeAt(Math.min(data.exp !== undefined ? data.exp * 1000 : Number.POSITIVE_INFINITY, now + HUB_SESSION_CHECK_MS));
  }

  /**
   * Disconnects sockets whose token expired (`AUTH_FAILED` "Access token expired") or whose token or session was
   * revoked (`AUTH_FAILED` "Session revoked"), reading every open socket's revocation in one D1 query.
   */
  async check(now: number): Promise<void> {
    const open: Array<{ session: Session; socket: Socket }> = [];
    for (const session of this.shard.sessions()) {
      for (const socket of Object.values(session.state.sockets)) {
        if (socket.data.exp !== undefined && socket.data.exp * 1000 <= now)
          await this.shard.end(session, socket, 'Access token expired');
        else if (socket.data.jti) open.push({ session, socket });
      }
    }
    if (open.length === 0) return;
    let revoked = new Set<string>();
    try {
      revoked = await revokedAmong(
        this.shard.env.DB,
        open.map(({ socket }) => ({ jti: socket.data.jti as string, sessionId: socket.data.sessionId })),
      );
    } catch (err) {
      console.error('hub: revocation check failed; retrying', err);
    }
    for (const { session, socket } of open) {
      if (revoked.has(socket.data.jti as string)) await this.shard.end(session, socket, 'Session revoked');
      else this.watch(socket.data, now);
    }
  }

  /** `auth` event `{token}`: a fresh access token of the same user replaces the socket's; the ack says `exp`. */
  async reauthenticate(session: Session, socket: Socket, raw: unknown, ack: Ack | null): Promise<void> {
    try {
      const token = (raw as { token?: unknown } | null)?.token;
      if (typeof token !== 'string' || !token) {
        throw new ApiError('INVALID_REQUEST', 'auth needs { token: <access token> }', { details: { field: 'token' } });
      }
      const fresh = await verifyAccessToken(this.shard.env, token);
      if (fresh.tenantId !== socket.data.tenantId || fresh.userId !== socket.data.userId) {
        throw new ApiError('AUTHORIZATION_FAILED', "The new token is another user's", { details: { field: 'token' } });
      }
      Object.assign(socket.data, sessionOf(fresh), { role: fresh.role });
      this.shard.persist(session);
      this.watch(socket.data, Date.now());
      const answer = { ok: true, exp: fresh.exp };
      this.shard.emit(session, socket, 'auth_ok', [answer]);
      ack?.([answer]);
    } catch (err) {
      const apiError = isApiError(err) ? err : new ApiError('SERVER_ERROR', 'Internal error checking the token');
      const payload = errorEvent(apiError);
      this.shard.emit(session, socket, 'error', [payload]);
      ack?.([payload]);
    }
  }
}
