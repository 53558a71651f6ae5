#!/usr/bin/env node
// Baseline for scenario 5: what EdgeRooms' authenticated `GET /api/players/me` does, served by Hono on Node.
// The same JWT verify (jose, HS256, the same secret, issuer, audience and claim checks as src/auth/tokens.ts), the
// same revocation read and the same player read (the SQL of src/db/revocations.ts and src/db/players.ts) against a
// snapshot of EdgeRooms' own local D1 database, with `node:sqlite`. No rate limiter: that is EdgeRooms' own cost.
// `node rest-node.mjs --port P --source <D1 .sqlite file> --copy <snapshot path>`; env JWT_SECRET, JWT_ISSUER,
// JWT_AUDIENCE. Tells its parent (IPC) when it listens.
import { rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { jwtVerify } from 'jose';

const { values: args } = parseArgs({
  options: { port: { type: 'string' }, source: { type: 'string' }, copy: { type: 'string' } },
});
// A consistent snapshot (the live file belongs to workerd), so both servers read the same users and rows.
rmSync(args.copy, { force: true }); // VACUUM INTO refuses to overwrite the last run's snapshot
const source = new DatabaseSync(args.source, { readOnly: true });
source.exec(`VACUUM INTO '${args.copy.replaceAll("'", "''")}'`);
source.close();
const db = new DatabaseSync(args.copy, { readOnly: true });

const revocation = db.prepare(
  `SELECT
     EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?1) AS by_token,
     EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?2 AND revoked_at IS NOT NULL) AS by_session`,
);
const findPlayer = db.prepare('SELECT * FROM players WHERE tenant_id = ?1 AND user_id = ?2');

const key = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
const ROLES = ['player', 'admin', 'service'];
const MAX_LIFETIME = { service: 365 * 24 * 60 * 60 };
const ACCESS_TTL = 15 * 60;

const unauthenticated = (c, reason) =>
  c.json({ error: { code: 'AUTHENTICATION_REQUIRED', message: 'Authentication required', details: { reason } } }, 401);

const app = new Hono();
app.get('/health', (c) => c.json({ ok: true }));
app.get('/api/players/me', async (c) => {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
  if (!m) return unauthenticated(c, 'missing');
  let payload;
  try {
    ({ payload } = await jwtVerify(m[1], key, {
      algorithms: ['HS256'],
      issuer: process.env.JWT_ISSUER,
      audience: process.env.JWT_AUDIENCE,
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    }));
  } catch {
    return unauthenticated(c, 'invalid');
  }
  const { sub, role, tenantId, username, jti, sid, iat, exp } = payload;
  if (typeof sub !== 'string' || !/^\d+$/.test(sub) || !ROLES.includes(role)) return unauthenticated(c, 'malformed');
  if (typeof tenantId !== 'string' || typeof username !== 'string' || typeof jti !== 'string') {
    return unauthenticated(c, 'malformed');
  }
  if (exp - iat > (MAX_LIFETIME[role] ?? ACCESS_TTL) || iat > Date.now() / 1000 + 60) return unauthenticated(c, 'too_old');
  const revoked = revocation.get(jti, typeof sid === 'string' ? sid : null);
  if (revoked?.by_token || revoked?.by_session) return unauthenticated(c, 'revoked');
  const r = findPlayer.get(tenantId, Number(sub));
  if (!r) return c.json({ error: { code: 'NOT_FOUND', message: `No player ${sub}` } }, 404);
  return c.json({
    id: r.user_id,
    username: r.username,
    level: r.level,
    experience_points: r.experience_points,
    currency_amount: r.currency_amount,
    current_position: { x: r.current_position_x, y: r.current_position_y },
    current_floor: r.current_floor,
    created_at: r.created_at,
    last_login: r.last_login,
  });
});

serve({ fetch: app.fetch, port: Number(args.port), hostname: '127.0.0.1' }, () => process.send?.('ready'));
