/** Roles a principal can hold. Every registration is a `player`. */
export const ROLES = ['player', 'admin', 'service'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who is calling, as proven by a verified access token. The Worker builds this once per request or
 * WebSocket handshake and hands it to actors; actors never re-parse a token from the client.
 */
export interface Identity {
  /** User id as a string (the JWT `sub`). */
  userId: string;
  tenantId: string;
  role: Role;
  username: string;
  /** The access token's id, for revocation. */
  jti: string;
  /** The refresh-token family this access token was minted in, if any (service tokens have none). */
  sessionId?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}
