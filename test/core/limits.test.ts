import { describe, expect, it } from 'vitest';
import { room, rpc } from '../support/orchestrator';
import { freshTenant, openActorSocket, player } from '../support/sockets';

describe('connection limits', () => {
  it('closes with 1009 on an oversize frame', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    s.ws.send(JSON.stringify({ type: 'ping', payload: { timestamp: 'x'.repeat(70 * 1024) } }));
    expect((await s.waitClosed()).code).toBe(1009);
  });

  it('answers malformed and unknown frames with error frames and keeps the socket open', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    s.ws.send('{not json');
    expect(await s.next()).toMatchObject({
      type: 'error',
      payload: { code: 'INVALID_REQUEST', message: 'Malformed JSON frame' },
    });
    s.ws.send('[1,2]');
    expect((await s.next()).type).toBe('error');
    s.send({ type: 'launch_missiles' });
    expect(await s.next()).toMatchObject({
      type: 'error',
      payload: { code: 'INVALID_REQUEST', details: { type: 'launch_missiles' } },
    });
    s.send({ type: 'ping', payload: { timestamp: 42 } });
    expect(await s.next()).toMatchObject({ type: 'pong', payload: { timestamp: 42 } });
    s.send({ type: 'ping', timestamp: '2026-01-30T12:00:00Z' });
    expect(await s.next()).toMatchObject({ type: 'pong', payload: { timestamp: '2026-01-30T12:00:00Z' } });
    expect(s.closed).toBeNull();
  });

  it('sends RATE_LIMIT_EXCEEDED over the limit and closes with 1008 when it goes on', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ messagesPerMinute: 5, rateLimitStrikes: 3 });
    const s = await openActorSocket(stub, player('1', tenant));
    await s.nextOf('connected');
    for (let i = 0; i < 5; i++) s.send({ type: 'ping', payload: { timestamp: `${i}` } });
    for (let i = 0; i < 5; i++) expect((await s.next()).type).toBe('pong');
    s.send({ type: 'ping' });
    const err = await s.next();
    expect(err).toMatchObject({ type: 'error', payload: { code: 'RATE_LIMIT_EXCEEDED' } });
    expect(err.payload.details.retryAfterMs).toBeGreaterThan(0);
    expect(s.closed).toBeNull();
    s.send({ type: 'ping' });
    s.send({ type: 'ping' });
    expect((await s.waitClosed()).code).toBe(1008);
  });
});
