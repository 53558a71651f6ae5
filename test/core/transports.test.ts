import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { publishOutputs, room, rpc } from '../support/orchestrator';
import { type Frame, freshTenant, openActorSocket, openActorSse, player, service, sleep } from '../support/sockets';

describe('one log, three transports', () => {
  it('WebSocket → SSE → polling: every event exactly once, in order', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const got: string[] = [];
    const ws = await openActorSocket(stub, player('1', tenant));
    await ws.nextOf('connected');
    await publishOutputs(stub, tenant, 1, 2);
    let lastId = '';
    for (let i = 0; i < 2; i++) {
      const f = await ws.next();
      got.push(f.payload.output);
      lastId = f.eventId;
    }
    ws.ws.close(1000);
    await publishOutputs(stub, tenant, 3, 4);

    const sse = await openActorSse(stub, player('1', tenant), '', lastId);
    expect((await sse.next()).event).toBe('connected');
    for (let i = 0; i < 2; i++) {
      const m = await sse.next();
      expect(m.event).toBe('iteration_output');
      const frame = JSON.parse(m.data);
      expect(m.id).toBe(frame.eventId);
      got.push(frame.payload.output);
      lastId = m.id!;
    }
    await publishOutputs(stub, tenant, 5, 5); // live over SSE
    const live = await sse.next();
    got.push(JSON.parse(live.data).payload.output);
    lastId = live.id!;
    await sse.cancel();

    await publishOutputs(stub, tenant, 6, 8);
    const page1 = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: lastId, limit: 2 });
    expect(page1.hasMore).toBe(true);
    const page2 = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: page1.nextEventId!, limit: 2 });
    expect(page2.hasMore).toBe(false);
    for (const f of [...page1.events, ...page2.events] as Frame[]) got.push(f.payload.output);
    expect(got).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8']);

    const empty = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: page2.nextEventId! });
    expect(empty).toMatchObject({ events: [], hasMore: false, nextEventId: page2.nextEventId });
  });

  it('long-polls until the next event, filters SSE by type, and flags an unknown poll reference', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const start = await rpc(stub).poll(player('1', tenant), 'orchestrator', {});
    expect(start.events).toEqual([]);
    expect(start.snapshot).toBeDefined();
    const sse = await openActorSse(stub, player('1', tenant), 'types=battle_start');
    await sse.next(); // connected
    const waiting = rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: start.nextEventId!, wait: 5 });
    await sleep(100);
    await publishOutputs(stub, tenant, 1, 1);
    await rpc(stub).publishOrchestrator(service(tenant), [{ type: 'battle_start', payload: { taskId: 'B', task: {} } }]);
    const answer = await waiting;
    expect((answer.events[0] as Frame).payload.output).toBe('line 1');
    const m = await sse.next();
    expect(m.event).toBe('battle_start'); // the iteration_output before it was filtered out
    await sse.cancel();

    const bad = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: 'e0-1' });
    expect(bad.truncated).toBe(true);
  });

  it('answers a first poll (no reference) at once with its snapshot, even when asked to wait', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const started = Date.now();
    const first = rpc(stub).poll(player('1', tenant), 'orchestrator', { wait: 5 });
    await sleep(100);
    await publishOutputs(stub, tenant, 1, 1);
    const answer = await first;
    expect(answer.snapshot).toBeDefined();
    expect(answer.events).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2000);
    // The event published meanwhile is the next poll's, not lost.
    const next = await rpc(stub).poll(player('1', tenant), 'orchestrator', { lastEventId: answer.nextEventId! });
    expect((next.events[0] as Frame).payload.output).toBe('line 1');
  });

  it('SSE resume from a reference that left the ring gets a resync_response snapshot with the latest id', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    await rpc(stub).configure({ ringSize: 3 });
    const events = await publishOutputs(stub, tenant, 1, 6);
    const sse = await openActorSse(stub, player('1', tenant), '', events[0]!.eventId);
    await sse.next(); // connected
    const m = await sse.next();
    expect(m.event).toBe('resync_response');
    expect(m.id).toBe(events[5]!.eventId);
    expect(JSON.parse(m.data).payload.truncated).toBe(true);
    await sse.cancel();
  });
});

describe('codecs', () => {
  it('speaks MessagePack binary frames with the same envelope as JSON', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const m = await openActorSocket(stub, player('1', tenant), 'codec=msgpack');
    const j = await openActorSocket(stub, player('2', tenant));
    const mc = await m.nextOf('connected');
    await j.nextOf('connected');
    expect(mc.payload.connectionId).toMatch(/^conn_/);
    m.ws.send(encode({ type: 'ping', payload: { timestamp: 'bin' } }));
    expect(await m.next()).toMatchObject({ type: 'pong', payload: { timestamp: 'bin' } });
    await publishOutputs(stub, tenant, 1, 1);
    const [fm, fj] = [await m.next(), await j.next()];
    expect(fm.binary).toBe(true);
    expect(fj.binary).toBeUndefined();
    const { binary: _b, ...envelope } = fm;
    expect(envelope).toEqual(fj);
    m.ws.send(new Uint8Array([0xc1])); // never-used MessagePack byte
    expect(await m.next()).toMatchObject({ type: 'error', payload: { message: 'Malformed MessagePack frame' } });
    // a JSON client that sends a binary frame is answered in MessagePack from then on
    j.ws.send(encode({ type: 'ping', payload: { timestamp: 'switch' } }));
    expect(await j.next()).toMatchObject({ binary: true, type: 'pong', payload: { timestamp: 'switch' } });
  });
});

describe('HTTP-sent frames', () => {
  it('handles a frame sent over HTTP like a WebSocket frame and answers the frames sent back', async () => {
    const tenant = freshTenant();
    const stub = room(tenant);
    const pong = await rpc(stub).sendFrame(
      player('1', tenant),
      'orchestrator',
      JSON.stringify({ type: 'ping', payload: { timestamp: 'h' } }),
    );
    expect(pong).toMatchObject({ tooLarge: false, frames: [{ type: 'pong', payload: { timestamp: 'h' } }] });
    const bad = await rpc(stub).sendFrame(player('1', tenant), 'orchestrator', '{oops');
    expect(bad.frames).toMatchObject([{ type: 'error', payload: { code: 'INVALID_REQUEST' } }]);
    const big = await rpc(stub).sendFrame(player('1', tenant), 'orchestrator', 'x'.repeat(65 * 1024));
    expect(big.tooLarge).toBe(true);
  });
});
