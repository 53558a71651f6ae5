import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, expectError, nextIp, registerUser } from '../support/api';
import { freshRoom } from '../support/rooms';

const upgradeRoom = (room: string, query: string) =>
  SELF.fetch(`https://edge.test/ws/rooms/${room}${query}`, { headers: { Upgrade: 'websocket', 'CF-Connecting-IP': nextIp() } });

describe('connection tickets instead of tokens in URLs', () => {
  it('opens a socket and an SSE stream with ?ticket=, once each; a spent, unknown or unauthenticated ticket is 401', async () => {
    const s = await registerUser();
    const issued = await call('/api/auth/ticket', { token: s.access_token, body: {} });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    expect(issued.body.ticket).toMatch(/^tk_/);
    expect(issued.body.ticket).not.toContain(s.access_token.slice(0, 20));
    const room = freshRoom('ticket');
    const ok = await upgradeRoom(room, `?ticket=${issued.body.ticket}`);
    expect(ok.status).toBe(101);
    ok.webSocket?.accept();
    ok.webSocket?.close(1000);
    // Single use.
    const again = await upgradeRoom(room, `?ticket=${issued.body.ticket}`);
    expect(again.status).toBe(401);
    expect((await again.json<{ details: { reason: string } }>()).details.reason).toBe('ticket');
    // SSE takes one too.
    const forSse = await call('/api/auth/ticket', { token: s.access_token, body: {} });
    const sse = await SELF.fetch(`https://edge.test/sse/orchestrator?ticket=${forSse.body.ticket}`, {
      headers: { 'CF-Connecting-IP': nextIp() },
    });
    expect(sse.status).toBe(200);
    await sse.body?.cancel();
    expect((await upgradeRoom(room, '?ticket=tk_unknownunknownunknown')).status).toBe(401);
    expect((await upgradeRoom(room, '?ticket=garbage')).status).toBe(401);
    expectError(await call('/api/auth/ticket', { body: {} }), 401, 'AUTHENTICATION_REQUIRED');
  });

  it('refuses a ticket whose session was logged out before it was used', async () => {
    const s = await registerUser();
    const issued = await call('/api/auth/ticket', { token: s.access_token, body: {} });
    await call('/api/auth/logout', { token: s.access_token, body: {} });
    expect((await upgradeRoom(freshRoom('ticket'), `?ticket=${issued.body.ticket}`)).status).toBe(401);
  });

  it('does not count ticket requests against the 5-a-minute auth limit', async () => {
    const s = await registerUser();
    const ip = nextIp();
    for (let i = 0; i < 7; i++) {
      const r = await call('/api/auth/ticket', { token: s.access_token, body: {}, headers: { 'CF-Connecting-IP': ip } });
      expect(r.status).toBe(201);
    }
  });
});
