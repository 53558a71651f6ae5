import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/actors/chunk';
import { chunkKey, collabRoomKey, orchestratorKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import type { StoredBudget } from '../../src/core/budgets';
import { CONNECTION_STATE_MAX_BYTES, type ConnectContext } from '../../src/core/connection';
import type { Connection } from '../../src/core/dialect';
import { forwardRequest } from '../../src/core/forward';
import { ApiError } from '../../src/errors';
import { uniqueTenant } from '../support/api';
import { openGame, playerAt } from '../support/game';
import { freshTenant, openActorSocket, openActorSse, player } from '../support/sockets';

/**
 * The core's per-connection state and connect context (partyserver's `Connection.state` / `onConnect`), on real
 * actors: the orchestrator channel (no state of its own, so only the core's), the Chunk (whose hand-off state is
 * set from the upgrade request) and a collaboration room (whose request budgets are connection state).
 */

const orchestrator = (tenant: string) => env.ROOM.getByName(orchestratorKey(tenant));

describe('connection state', () => {
  it('set on a WebSocket, survives eviction in the hibernation attachment; the socket stays open', async () => {
    const tenant = freshTenant();
    const stub = orchestrator(tenant);
    const a = await openActorSocket(stub, player('1', tenant));
    await a.nextOf('connected');
    const state = { cart: ['sword', 'shield'], step: 3 };
    await runInDurableObject(stub, (room: Room) => {
      const [conn] = room.getConnections({ dialect: 'orchestrator' });
      expect(conn?.state).toBeNull();
      expect(conn?.setState(state)).toEqual(state);
      expect(conn?.setState((prev: unknown) => ({ ...(prev as typeof state), step: 4 }))).toEqual({ ...state, step: 4 });
    });

    await evictDurableObject(stub);

    const attachmentBytes = await runInDurableObject(stub, (room: Room, ctx) => {
      const [conn] = room.getConnections();
      expect(conn).toMatchObject({ transport: 'websocket', identity: { userId: '1' } });
      expect(conn?.state).toEqual({ ...state, step: 4 });
      expect(room.getConnection(conn?.id ?? '')?.state).toEqual({ ...state, step: 4 });
      const [ws] = ctx.getWebSockets();
      return JSON.stringify(ws?.deserializeAttachment()).length;
    });
    // Identity, topics, limiter and this state: a few hundred bytes of the runtime's 16 KiB.
    expect(attachmentBytes).toBeLessThan(1024);
    a.send({ type: 'ping', payload: { timestamp: 7 } });
    expect(await a.nextOf('pong')).toMatchObject({ payload: { timestamp: 7 } });
    expect(a.closed).toBeNull();
    a.ws.close(1000);
  });

  it('refuses a state over the bound or undefined, and keeps the one it had', async () => {
    const tenant = freshTenant();
    const stub = orchestrator(tenant);
    const a = await openActorSocket(stub, player('1', tenant));
    await a.nextOf('connected');
    await runInDurableObject(stub, (room: Room) => {
      const [conn] = room.getConnections();
      conn?.setState({ keep: true });
      expect(() => conn?.setState({ blob: 'x'.repeat(CONNECTION_STATE_MAX_BYTES) })).toThrow(RangeError);
      expect(() => conn?.setState(() => undefined as unknown as null)).toThrow(TypeError);
      expect(conn?.state).toEqual({ keep: true });
      expect(room.getConnections()[0]?.state).toEqual({ keep: true });
      conn?.setState(null);
      expect(room.getConnections()[0]?.state).toBeNull();
    });
    a.ws.close(1000);
  });

  it('of an HTTP sender: the room budget lives in storage per user, from one request to the next', async () => {
    const tenant = uniqueTenant();
    const stub = env.ROOM.getByName(collabRoomKey(tenant, 'budget'));
    const alice = player('1', tenant);
    const send = (id: string, method: string) =>
      stub.sendFrame(alice, 'collab', JSON.stringify({ type: 'request', id, method, params: {} }));
    await send('a', 'room.join');
    const spent = () =>
      runInDurableObject(stub, (_room: Room, ctx) => {
        const stored = ctx.storage.kv.get<StoredBudget>('budget|collab|r|1') ?? { log: [], reserve: 0 };
        return stored.log.reduce((sum, [, n]) => sum + n, 0) + stored.reserve;
      });
    expect(await spent()).toBeGreaterThanOrEqual(1);
    await evictDurableObject(stub);
    await send('b', 'room.state');
    // The first hit stored a reservation; the fresh instance counted it, then spent one more.
    expect(await spent()).toBeGreaterThan(1);
  });
});

describe('connect context', () => {
  it('onConnect sees the upgrade request: the Chunk keeps the hand-off point of ?handoff_from=&handoff_seq= on the connection', async () => {
    const tenant = uniqueTenant();
    const me = await playerAt(tenant, 5_500);
    const { socket } = await openGame(me.access_token, '&handoff_from=0_4&handoff_seq=12');
    expect(socket.connected?.data.protocol).toBe('earthring-v1');
    const stub = env.CHUNK.getByName(chunkKey(tenant, '0_5'));
    const read = () => runInDurableObject(stub, (chunk: Chunk) => chunk.getConnections().map((c) => c.state));
    const expected = {
      protocol: 'earthring-v1',
      handoffTo: null,
      handedOff: null,
      handedOffAt: null,
      skipOrigin: '0_4',
      skipUpto: 12,
      batched: false,
    };
    expect(await read()).toEqual([expected]);
    await evictDurableObject(stub);
    expect(await read()).toEqual([expected]);
    socket.close();
  });

  it('a malformed hand-off point in the request is ignored, not stored', async () => {
    const tenant = uniqueTenant();
    const me = await playerAt(tenant, 5_500);
    const { socket } = await openGame(me.access_token, '&handoff_from=0_4&handoff_seq=twelve');
    const stub = env.CHUNK.getByName(chunkKey(tenant, '0_5'));
    const states = await runInDurableObject(stub, (chunk: Chunk) => chunk.getConnections().map((c) => c.state));
    expect(states).toEqual([expect.objectContaining({ skipOrigin: null, skipUpto: 0 })]);
    socket.close();
  });
});

describe('connect refusal', () => {
  it('an ApiError thrown by a connect hook refuses the socket or stream with its status and body; nobody joins', async () => {
    const tenant = freshTenant();
    const stub = orchestrator(tenant);
    // The hook a subclass would override, installed on this live instance for the test.
    await runInDurableObject(stub, (room: Room) => {
      const hooks = room as unknown as { onConnect(conn: Connection, ctx: ConnectContext): void };
      hooks.onConnect = (_conn, { url }) => {
        if (url.searchParams.get('invite') !== 'yes')
          throw new ApiError('AUTHORIZATION_FAILED', 'An invite is needed', { details: { field: 'invite' } });
      };
    });
    const connect = (query: string, upgrade: boolean) =>
      stub.fetch(
        forwardRequest(
          new Request(`https://edge.test/ws/orchestrator?${query}`, { headers: upgrade ? { Upgrade: 'websocket' } : {} }),
          player('1', tenant),
          'orchestrator',
        ),
      );
    for (const upgrade of [true, false]) {
      const res = await connect('invite=no', upgrade);
      expect(res.status).toBe(403);
      expect(res.webSocket).toBeNull();
      expect(await res.json()).toEqual({
        error: 'AUTHORIZATION_FAILED',
        message: 'An invite is needed',
        details: { field: 'invite' },
      });
    }
    expect(await runInDurableObject(stub, (room: Room) => room.getConnections().length)).toBe(0);
    const ok = await connect('invite=yes', true);
    expect(ok.status).toBe(101);
    ok.webSocket?.accept();
    expect(await runInDurableObject(stub, (room: Room) => room.getConnections().length)).toBe(1);
    ok.webSocket?.close(1000);
  });
});

describe('broadcast and the connection cache', () => {
  it('one broadcast reaches WebSockets and SSE streams alike; targets and exclusions hold on both', async () => {
    const tenant = freshTenant();
    const stub = orchestrator(tenant);
    const ws1 = await openActorSocket(stub, player('1', tenant));
    await ws1.nextOf('connected');
    const ws2 = await openActorSocket(stub, player('2', tenant));
    await ws2.nextOf('connected');
    const sse2 = await openActorSse(stub, player('2', tenant));
    expect((await sse2.next()).event).toBe('connected');

    const { sent, transports, sseId } = await runInDurableObject(stub, (room: Room) => {
      const conns = room.getConnections();
      const stream = conns.find((c) => c.transport === 'sse');
      stream?.setState({ seen: 1 });
      return {
        transports: conns.map((c) => `${c.transport}:${c.identity.userId}`).sort(),
        sent: room.broadcast((c) => ({ type: 'notice', to: c.transport })),
        sseId: stream?.id ?? '',
      };
    });
    expect(transports).toEqual(['sse:2', 'websocket:1', 'websocket:2']);
    expect(sent).toBe(3);
    expect(await ws1.nextOf('notice')).toEqual({ type: 'notice', to: 'websocket' });
    expect(await ws2.nextOf('notice')).toEqual({ type: 'notice', to: 'websocket' });
    const msg = await sse2.next();
    expect(msg.event).toBe('notice');
    expect(msg.id).toBeUndefined();
    expect(JSON.parse(msg.data)).toEqual({ type: 'notice', to: 'sse' });

    // A user target reaches that user's socket and stream; an exclusion leaves one out; state is the stream's own.
    const second = await runInDurableObject(stub, (room: Room) => ({
      sent: room.broadcast(() => ({ type: 'just2' }), { userId: '2', exclude: sseId }),
      state: room.getConnection(sseId)?.state,
    }));
    expect(second).toEqual({ sent: 1, state: { seen: 1 } });
    expect(await ws2.nextOf('just2')).toEqual({ type: 'just2' });
    await runInDurableObject(stub, (room: Room) => room.broadcast(() => ({ type: 'after' }), { userId: '2' }));
    // The stream's next message is the second broadcast that included it: `just2` never reached it.
    expect((await sse2.next()).event).toBe('after');
    expect(ws1.frames.some((f) => f.type === 'just2' || f.type === 'after')).toBe(false);
    ws1.ws.close(1000);
    ws2.ws.close(1000);
    await sse2.cancel();
  });
});
