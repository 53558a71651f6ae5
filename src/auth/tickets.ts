import { accessRevocation } from '../db/revocations';
import { insertTicket, takeTicket } from '../db/tickets';
import type { Env } from '../env';
import { ApiError } from '../errors';
import { randomToken, sha256, toBase64Url } from './crypto';
import type { Identity } from './identity';
import { isoSeconds } from './tokens';

/**
 * Connection tickets: `POST /api/auth/ticket` with the access token gives a ticket that a WebSocket, SSE or
 * Socket.IO URL carries (`?ticket=`) instead of the JWT. A ticket is good for `TICKET_TTL_SECONDS` and one
 * connection, so a URL that lands in a log or a browser history is worthless by the time anyone reads it.
 */
export const TICKET_TTL_SECONDS = 30;

export interface IssuedTicket {
  ticket: string;
  expires_at: string;
}

const hashTicket = async (ticket: string) => toBase64Url(await sha256(ticket));

export async function issueTicket(env: Env, identity: Identity, nowMs = Date.now()): Promise<IssuedTicket> {
  const ticket = `tk_${randomToken(24)}`;
  // Never outlives the access token it stands for.
  const expSeconds = Math.min(Math.floor(nowMs / 1000) + TICKET_TTL_SECONDS, identity.exp);
  await insertTicket(
    env.DB,
    {
      ticketHash: await hashTicket(ticket),
      tenantId: identity.tenantId,
      userId: Number(identity.userId),
      identity: JSON.stringify(identity),
      expiresAt: new Date(expSeconds * 1000).toISOString(),
    },
    new Date(nowMs).toISOString(),
  );
  return { ticket, expires_at: isoSeconds(expSeconds) };
}

/** The identity a ticket stands for, once; 401 for an unknown, spent or expired ticket, or a revoked session. */
export async function redeemTicket(env: Env, ticket: string, nowMs = Date.now()): Promise<Identity> {
  const refused = (message: string) => new ApiError('AUTHENTICATION_REQUIRED', message, { details: { reason: 'ticket' } });
  if (!/^tk_[A-Za-z0-9_-]{16,64}$/.test(ticket)) throw refused('Connection ticket is malformed');
  const json = await takeTicket(env.DB, await hashTicket(ticket), new Date(nowMs).toISOString());
  if (!json) throw refused('Connection ticket is unknown, already used or expired');
  const identity = JSON.parse(json) as Identity;
  if (await accessRevocation(env.DB, identity.jti, identity.sessionId)) throw refused('The session of this ticket has ended');
  return identity;
}
