import { isApiError } from '../errors';
import { decodeFrame, exceedsBytes } from './codec';
import type { Connection, Dialect, DialectApi, FrameError } from './dialect';
import type { DialectRuntime } from './dialect-runtime';
import type { RateDecision } from './limiter';
import { frameBytes, type Meter } from './metrics';
import { CLOSE } from './protocol';
import { AUTH_FRAME_TYPE, reauthenticate, type SessionHost } from './sessions';
import { safeClose } from './sockets';

/** What the frame-in path reaches through the actor. */
export interface FramesHost {
  api: DialectApi;
  meter: Meter;
  session: SessionHost;
  runtimeOf(dialect: string): DialectRuntime;
  spendMessage(userId: string, dialect: string, now: number): RateDecision;
}

/**
 * One WebSocket frame: counted, bounded, checked against the session and the sender's budget, then decoded and
 * handed to the dialect. Refusals answer with the dialect's error frame; repeated ones, or an oversize frame, close.
 */
export async function receiveFrame(host: FramesHost, ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
  const { sockets, dialects } = host.session;
  const att = sockets.attachmentOf(ws);
  if (!att) {
    safeClose(ws, CLOSE.INTERNAL_ERROR, 'Unknown connection');
    return;
  }
  const dialect = dialects[att.dialect];
  if (!dialect) {
    safeClose(ws, CLOSE.INTERNAL_ERROR, 'Unknown dialect');
    return;
  }
  sockets.spoke(ws);
  const rt = host.runtimeOf(att.dialect);
  const limits = rt.limits;
  rt.framesIn.messages.value += 1;
  rt.framesIn.bytes.value += frameBytes(message);
  host.meter.dirty = true;
  const close = (code: number, reason: string) => host.session.closeSocket(ws, att, code, reason);
  if (exceedsBytes(message, limits.maxMessageBytes)) {
    close(CLOSE.MESSAGE_TOO_BIG, `Message larger than ${limits.maxMessageBytes} bytes`);
    return;
  }
  const now = Date.now();
  // A frame never extends a session: past `exp` the connection ends, whatever it sends.
  if (att.identity.exp !== undefined && att.identity.exp * 1000 <= now) {
    close(CLOSE.TOKEN_EXPIRED, 'Access token expired');
    return;
  }
  if (
    typeof message === 'string' &&
    message.includes(`"${AUTH_FRAME_TYPE}"`) &&
    (await reauthenticate(host.session, ws, att, message))
  )
    return;
  const decision = host.spendMessage(att.identity.userId, att.dialect, now);
  att.lastSeen = now;
  // A binary frame means the client speaks MessagePack: answer it the same way from now on.
  const switched = typeof message !== 'string' && att.codec !== 'msgpack';
  if (switched) att.codec = 'msgpack';
  if (!decision.allowed) {
    host.meter.inc('edgerooms_rate_limited_total', { limit: 'ws_messages' });
    att.strikes += 1;
    sockets.save(ws, att, now);
    if (att.strikes >= limits.rateLimitStrikes) {
      close(CLOSE.POLICY_VIOLATION, 'Rate limit exceeded');
      return;
    }
    host.session
      .socketConnection(ws, att)
      .send(dialect.renderError(rateLimitError(decision.retryAfterMs, limits.messagesPerMinute)));
    return;
  }
  const struck = att.strikes !== 0;
  att.strikes = 0;
  // lastSeen and the limiter state change on every frame; writing them at most every few seconds keeps the
  // idle sweep and the limit right across hibernation (which needs seconds of silence) at a fraction of the cost.
  if (switched || struck || sockets.due(ws, now)) sockets.save(ws, att, now);
  await dispatchFrame(host.api, dialect, host.session.socketConnection(ws, att), message);
}

/** Decodes, validates and hands one frame to the dialect; bad frames get an error frame, never a crash. */
export async function dispatchFrame(
  api: DialectApi,
  dialect: Dialect,
  conn: Connection,
  message: string | ArrayBuffer,
): Promise<void> {
  const decoded = decodeFrame(message);
  if (!decoded.ok) {
    conn.send(dialect.renderError({ code: 'INVALID_REQUEST', message: decoded.reason }));
    return;
  }
  try {
    await dialect.handle(api, conn, decoded.value);
  } catch (err) {
    if (isApiError(err)) {
      conn.send(dialect.renderError({ code: err.code, message: err.message, details: err.details }, decoded.value));
    } else {
      console.error(`[${dialect.name}] frame failed`, err);
      conn.send(dialect.renderError({ code: 'SERVER_ERROR', message: 'Internal error handling the message' }, decoded.value));
    }
  }
}

export function rateLimitError(retryAfterMs: number, perMinute: number): FrameError {
  return {
    code: 'RATE_LIMIT_EXCEEDED',
    message: `More than ${perMinute} messages per minute`,
    details: { retryAfterMs, limit: perMinute },
  };
}
