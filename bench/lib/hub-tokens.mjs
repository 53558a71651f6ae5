// Access tokens for the hub scenario, signed as EdgeRooms signs them (HS256, the local `.dev.vars` secret,
// issuer and audience `edgerooms`, 10 minutes): the hub verifies them at CONNECT, and so does the Socket.IO
// baseline, with the same key. Minting them here keeps 1,000 registrations out of the measured run.
import { SignJWT } from 'jose';

export const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef0123456789abcdef';
export const ISSUER = 'edgerooms';
export const AUDIENCE = 'edgerooms';
const key = new TextEncoder().encode(DEV_SECRET);

export function hubToken(userId, tenantId) {
  return new SignJWT({ tenantId, role: 'player', username: `hub${userId}` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(userId))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('10m')
    .setJti(`hub-${userId}-${Math.random().toString(36).slice(2)}`)
    .sign(key);
}
