import { SELF } from 'cloudflare:test';
import { encode } from '@msgpack/msgpack';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonTextDepth, MAX_NESTING_DEPTH, valueDeeperThan } from '../../src/core/depth';
import { call, expectError, nextIp, rect, registerUser, type Session, tenantAdmin, uniqueTenant } from '../support/api';
import { expectErrorFrame, freshRoom, openRoom } from '../support/rooms';

/** `{"a":{"a":...}}` nested `n` deep around `leaf`. */
const nested = (n: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
};

let tenant: string;
let admin: Session;
let player: Session;

beforeAll(async () => {
  tenant = uniqueTenant();
  admin = await tenantAdmin(tenant);
  player = await registerUser({ tenant });
});

describe('the ingress guard: nesting depth', () => {
  it('measures depth without recursion, skipping brackets inside strings', () => {
    expect(jsonTextDepth('{"a":[1,{"b":"[[[{{{"}]}')).toBe(3);
    expect(jsonTextDepth('"\\"[["')).toBe(0);
    expect(jsonTextDepth(JSON.stringify(nested(100_000)))).toBe(100_000);
    expect(valueDeeperThan(nested(MAX_NESTING_DEPTH))).toBe(false);
    expect(valueDeeperThan(nested(MAX_NESTING_DEPTH + 1))).toBe(true);
  });

  it('answers a deeply nested REST body with 400 INVALID_REQUEST, never 500, and publishes nothing', async () => {
    const before = await call('/api/orchestrator/events', { method: 'GET', token: admin.access_token });
    const deep = await call('/api/orchestrator/events', {
      token: admin.access_token,
      body: { type: 'planning_output', payload: { output: 'x', extra: nested(2_500) } },
    });
    expectError(deep, 400, 'INVALID_REQUEST');
    expect(deep.body.details).toMatchObject({ issue: 'too_deep', limit: MAX_NESTING_DEPTH });
    const after = await call('/api/orchestrator/events', { method: 'GET', token: admin.access_token });
    expect(after.body.nextEventId).toBe(before.body.nextEventId);
    // The same on a body read by the handler itself (race start) and on a zone's free-form properties.
    expectError(
      await call('/api/racing/events/1/start', { token: admin.access_token, body: nested(2_500) }),
      400,
      'INVALID_REQUEST',
    );
    const zone = await call('/api/zones', {
      token: player.access_token,
      body: { name: 'Deep', zone_type: 'commercial', geometry: rect(0, 0, 10, 10), floor: 0, properties: nested(3_000) },
    });
    expectError(zone, 400, 'INVALID_REQUEST');
  });

  it('answers a deeply nested frame with the dialect error frame (JSON, MessagePack, HTTP-sent); the socket stays up', async () => {
    const room = freshRoom('deep');
    const s = await openRoom(player.access_token, room);
    await s.ok('room.join');
    s.ws.send(JSON.stringify({ type: 'request', id: 'deep1', method: 'chat.send', params: nested(2_500, 'x') }));
    expectErrorFrame(await s.waitFor((f) => f.type === 'error' && /deeper/.test(f.error.message)), 400, 'INVALID_REQUEST');
    s.ws.send(encode({ type: 'request', id: 'deep2', method: 'chat.send', params: nested(60, 'x') }));
    const deepErrors = () => s.frames.filter((f) => f.type === 'error' && /deeper/.test(f.error.message));
    await s.waitFor(() => deepErrors().length === 2);
    expectErrorFrame(deepErrors()[1] as Record<string, unknown>, 400, 'INVALID_REQUEST');
    // Still serving.
    await s.ok('chat.send', { text: 'still here' });
    const http = await call(`/api/rooms/${room}/messages`, {
      token: player.access_token,
      body: { type: 'request', id: 'deep3', method: 'chat.send', params: nested(2_500, 'x') },
    });
    expectError(http, 400, 'INVALID_REQUEST');
    s.close();
  });
});

describe('Upgrade only where an upgrade is served', () => {
  it('refuses DELETE /api/zones/{id} with Upgrade: websocket (400, the zone stays); a plain DELETE by a non-owner is 403', async () => {
    const owner = await registerUser({ tenant });
    const made = await call('/api/zones', {
      token: owner.access_token,
      body: { name: 'Kept', zone_type: 'commercial', geometry: rect(500, 0, 510, 10), floor: 0 },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const res = await SELF.fetch(`https://edge.test/api/zones/${made.body.id}`, {
      method: 'DELETE',
      headers: { Upgrade: 'websocket', Authorization: `Bearer ${player.access_token}`, 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json<{ error: string }>()).error).toBe('INVALID_REQUEST');
    expectError(
      await call(`/api/zones/${made.body.id}`, { method: 'DELETE', token: player.access_token }),
      403,
      'AUTHORIZATION_FAILED',
    );
    expect((await call(`/api/zones/${made.body.id}`, { method: 'GET', token: owner.access_token })).status).toBe(200);
  });

  it('refuses POST /api/orchestrator/events with Upgrade: websocket instead of answering a poll', async () => {
    const res = await SELF.fetch('https://edge.test/api/orchestrator/events', {
      method: 'POST',
      headers: {
        Upgrade: 'websocket',
        Authorization: `Bearer ${player.access_token}`,
        'Content-Type': 'application/json',
        'CF-Connecting-IP': nextIp(),
      },
      body: JSON.stringify({ type: 'planning_output', payload: { output: 'x' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'INVALID_REQUEST', details: { field: 'Upgrade' } });
  });
});
