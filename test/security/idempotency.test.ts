import { abortAllDurableObjects } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, expectError, registerUser, type Session, tenantAdmin, uniqueTenant } from '../support/api';
import { freshRoom, openRoom } from '../support/rooms';

let tenant: string;
let admin: Session;
let member: Session;

beforeAll(async () => {
  tenant = uniqueTenant();
  admin = await tenantAdmin(tenant);
  member = await registerUser({ tenant });
});

const publish = (key: string | undefined, output: string) =>
  call('/api/orchestrator/events', {
    token: admin.access_token,
    headers: key ? { 'Idempotency-Key': key } : {},
    body: { type: 'planning_output', payload: { output } },
  });

const eventsSince = async (lastEventId: string | null) =>
  (
    await call(`/api/orchestrator/events${lastEventId ? `?lastEventId=${lastEventId}` : ''}`, {
      method: 'GET',
      token: admin.access_token,
    })
  ).body;

describe('Idempotency-Key', () => {
  it('answers a retried publish with the first answer and publishes once, across a hard kill of every actor', async () => {
    const start = (await eventsSince(null)).nextEventId as string | null;
    const key = crypto.randomUUID();
    const first = await publish(key, 'once');
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    await abortAllDurableObjects();
    const retry = await publish(key, 'once');
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    // Without a key (or with another) it is a new publish.
    const other = await publish(crypto.randomUUID(), 'once');
    expect(other.body.eventId).not.toBe(first.body.eventId);
    const seen = await eventsSince(start);
    expect(seen.events.filter((e: { payload: { output: string } }) => e.payload.output === 'once')).toHaveLength(2);
  });

  it('refuses a malformed key with 400 and publishes nothing', async () => {
    const start = (await eventsSince(null)).nextEventId;
    expectError(await publish('x'.repeat(129), 'bad'), 400, 'INVALID_REQUEST');
    expect((await eventsSince(null)).nextEventId).toBe(start);
  });

  it('handles a retried room HTTP frame once: one chat message, the same answer frames', async () => {
    const room = freshRoom('idem');
    const watcher = await openRoom(member.access_token, room);
    await watcher.ok('room.join');
    const send = () =>
      call(`/api/rooms/${room}/messages`, {
        token: admin.access_token,
        headers: { 'Idempotency-Key': 'chat-1' },
        body: { type: 'request', id: 'c1', method: 'chat.send', params: { text: 'exactly once' } },
      });
    await call(`/api/rooms/${room}/messages`, {
      token: admin.access_token,
      body: { type: 'request', id: 'j', method: 'room.join' },
    });
    const a = await send();
    await abortAllDurableObjects();
    const b = await send();
    expect(b.body).toEqual(a.body);
    const again = await openRoom(member.access_token, room);
    const state = await again.ok('room.state');
    expect(JSON.stringify(state).split('exactly once').length - 1).toBe(1);
    again.close();
  });
});
