import { abortAllDurableObjects, env, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { chunkKey } from '../../src/actors/keys';
import { call, uniqueTenant } from '../support/api';
import { type GameSocket, gameClient, openGame, playerAt, upgradeGame } from '../support/game';
import { type Frame, sleep } from '../support/sockets';

/**
 * EarthRing's movement tick (src/actors/chunk.ts): moves are acked once their tick committed them and reach the area once per tick, as one
 * `players_moved` frame per recipient that opted in with `?batch=1`. Waits are generous and nothing asserts a time:
 * a long tick (configured per chunk) only makes several moves share one.
 */

const chunk = (tenant: string, id: string) => env.CHUNK.getByName(chunkKey(tenant, id));

/** Waits until `done()` holds (checked every 20 ms), failing with `what` after `ms`. */
async function until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

const movesOf = (s: GameSocket, playerId: number) => s.events('player_moved').filter((e) => e.data.player_id === playerId);
const xs = (events: Frame[]) => events.map((e) => e.data.position.x);
const sequences = (events: Frame[]) => events.map((e) => e.sequence as number);
const increasing = (list: number[]) => list.every((v, i) => i === 0 || v > (list[i - 1] as number));

describe('movement tick', () => {
  it('sends each recipient one players_moved frame per tick, every player in order; unbatched sockets get player_moved', async () => {
    const t = uniqueTenant();
    await chunk(t, '0_5').configure({ moveTickMs: 1000 });
    const movers = await Promise.all([5100, 5200, 5300].map((x) => playerAt(t, x)));
    const watchers = await Promise.all([5800, 5900, 5950].map((x) => playerAt(t, x)));
    const m = await Promise.all(movers.map(async (p) => (await openGame(p.access_token, '&batch=1')).socket));
    const [w1, w2] = await Promise.all(
      watchers.slice(0, 2).map(async (p) => (await openGame(p.access_token, '&batch=1')).socket),
    );
    const plain = (await openGame(watchers[2]!.access_token, '&batch=0')).socket;
    expect(w1!.connected!.data.batched).toBe(true);
    expect(plain.connected!.data.batched).toBe(false);

    // Five moves from each mover, all sent at once; each is acked at once.
    const PER = 5;
    for (let i = 0; i < PER; i++) {
      for (const [k, s] of m.entries()) {
        s.send({ type: 'player_move', id: `m${k}-${i}`, data: { position: { x: 5100 + k * 100 + i + 1, y: 0 }, floor: 0 } });
      }
    }
    for (const [k, s] of m.entries()) await s.waitFor((f) => f.id === `m${k}-${PER - 1}`);
    expect(m[0]!.frames.filter((f) => f.type === 'player_move_ack')).toHaveLength(PER);
    // A chunk update goes out at once, after the moves logged before it.
    const builder = await playerAt(t, 90_000);
    const placed = await call('/api/structures', {
      token: builder.access_token,
      body: { structure_type: 'decoration', position: { x: 5400, y: 0 }, floor: 0 },
    });
    expect(placed.status).toBe(201);
    for (const s of [w1!, w2!, plain]) await s.event('chunk_updated');

    for (const s of [w1!, w2!, plain]) {
      const updateAt = s.frames.findIndex((f) => f.type === 'chunk_updated');
      const before = s.frames.slice(0, updateAt);
      const moves = s.events('player_moved');
      expect(moves).toHaveLength(PER * movers.length);
      expect(increasing(sequences(moves))).toBe(true);
      for (const [k, p] of movers.entries()) {
        expect(xs(movesOf(s, p.user_id))).toEqual(Array.from({ length: PER }, (_, i) => 5100 + k * 100 + i + 1));
      }
      // Every move came before the chunk update.
      const carried = before.flatMap((f) => (f.type === 'players_moved' ? f.data.moves : f.type === 'player_moved' ? [f] : []));
      expect(carried).toHaveLength(PER * movers.length);
    }
    // Batched: one frame per tick, the same ticks for every recipient, each frame's eventId its last move's.
    const batches = (s: GameSocket) => s.frames.filter((f) => f.type === 'players_moved');
    expect(batches(w1!).length).toBeLessThan(PER * movers.length);
    expect(batches(w1!).map((f) => f.data.moves)).toEqual(batches(w2!).map((f) => f.data.moves));
    for (const f of batches(w1!)) {
      const last = f.data.moves[f.data.moves.length - 1];
      expect(f.sequence).toBe(last.sequence);
      expect(f.eventId).toBe(`e${f.data.epoch}-${last.sequence}`);
      expect(f.data.moves[0]).toEqual({
        player_id: expect.any(Number),
        position: { x: expect.any(Number), y: 0 },
        floor: 0,
        rotation: 0,
        sequence: expect.any(Number),
      });
    }
    expect(w1!.frames.filter((f) => f.type === 'player_moved')).toEqual([]);
    // Unbatched: the same moves, one seed `player_moved` frame each.
    expect(plain.frames.filter((f) => f.type === 'players_moved')).toEqual([]);
    expect(sequences(plain.events('player_moved'))).toEqual(sequences(w1!.events('player_moved')));
    // A mover hears the others' moves, never its own.
    expect(movesOf(m[0]!, movers[0]!.user_id)).toEqual([]);
    await until(() => m[0]!.events('player_moved').length === PER * 2, 'mover 0 hears the other two');
    for (const s of [...m, w1!, w2!, plain]) s.close();
  });

  it('refuses a bad ?batch= before the upgrade and changes nothing', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const res = await upgradeGame(`?token=${p.access_token}&batch=yes`);
    expect(res.status).toBe(400);
    expect(res.webSocket).toBeNull();
    expect(await res.json()).toMatchObject({ error: 'INVALID_REQUEST', details: { field: 'batch', issue: 'bad_value' } });
    expect((await chunk(t, '0_5').state()).players).toEqual([]);
    // A bad move on a batched socket is an error frame; nothing reaches the area.
    const { socket } = await openGame(p.access_token, '&batch=true');
    const watcher = (await openGame((await playerAt(t, 5600)).access_token, '&batch=1')).socket;
    const bad = await socket.request('player_move', { position: { x: 'far', y: 0 } });
    expect(bad).toMatchObject({ type: 'error', code: 'INVALID_REQUEST' });
    const ok = await socket.request('player_move', { position: { x: 5510, y: 0 } });
    expect(ok.type).toBe('player_move_ack');
    const seen = await watcher.event('player_moved');
    expect(seen.data.position).toEqual({ x: 5510, y: 0 });
    await sleep(300);
    expect(watcher.events('player_moved')).toHaveLength(1);
    socket.close();
    watcher.close();
  });
});

describe('movement tick: hand-off, resync, eviction', () => {
  it('hands a batched player to the next chunk with every event delivered exactly once', async () => {
    const t = uniqueTenant();
    // A long tick leaves moves pending when the hand-off starts, ends and cuts the log.
    await Promise.all(['0_5', '0_6'].map((id) => chunk(t, id).configure({ moveTickMs: 300 })));
    const mover = await playerAt(t, 5900);
    const left = await playerAt(t, 5200);
    const right = await playerAt(t, 6700);
    const builder = await playerAt(t, 90_000);
    const m = (await openGame(mover.access_token, '&batch=1')).socket;
    const l = (await openGame(left.access_token, '&batch=1')).socket;
    const r = (await openGame(right.access_token, '&batch=1')).socket;

    const N = 24;
    const moves = (s: GameSocket, x0: number, from: number, to: number) => {
      for (let i = from; i < to; i++)
        s.send({ type: 'player_move', id: `mv${i}`, data: { position: { x: x0 + i, y: 0 }, floor: 0 } });
    };
    const place = (x: number) =>
      call('/api/structures', {
        token: builder.access_token,
        body: { structure_type: 'decoration', position: { x, y: 0 }, floor: 0 },
      });
    moves(l, 5200, 0, 8);
    moves(r, 6700, 0, 8);
    m.send({ type: 'player_move', id: 'cross', data: { position: { x: 6050, y: 0 }, floor: 0 } });
    moves(l, 5200, 8, 16);
    moves(r, 6700, 8, 16);
    const placed = [place(5300), place(6300)];
    const handoff = await m.waitFor((f) => f.type === 'chunk_handoff', 10_000);
    expect(handoff.data).toMatchObject({ chunk_id: '0_6', handoff_from: '0_5' });
    expect(new URLSearchParams(handoff.data.url.split('?')[1]).get('batch')).toBe('1');
    moves(l, 5200, 16, N);
    moves(r, 6700, 16, N);
    const next = (await openGame(mover.access_token, `&${handoff.data.url.split('?')[1]}`)).socket;
    expect(next.connected!.data).toMatchObject({ chunk_id: '0_6', batched: true });
    const afterHandoff = m.frames.length;
    m.close();
    for (const p of placed) expect((await p).status).toBe(201);

    const all = () => [...m.events(), ...next.events()];
    const countOf = (who: number) => all().filter((e) => e.type === 'player_moved' && e.data.player_id === who).length;
    await until(
      () =>
        countOf(left.user_id) >= N && countOf(right.user_id) >= N && all().filter((e) => e.type === 'chunk_updated').length >= 2,
      'the mover hears every move and both updates',
    );
    // Room for a duplicate to show up: more than a tick and a relay.
    await sleep(1_000);
    const handoffAt = m.frames.indexOf(handoff);
    expect(m.frames.slice(handoffAt + 1, afterHandoff).filter((f) => f.eventId !== undefined)).toEqual([]);
    for (const [who, x0] of [
      [left, 5200],
      [right, 6700],
    ] as const) {
      const seen = all().filter((e) => e.type === 'player_moved' && e.data.player_id === who.user_id);
      expect(xs(seen).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => x0 + i));
    }
    const updates = all()
      .filter((e) => e.type === 'chunk_updated')
      .map((e) => `${e.data.chunk_id}@${e.data.version}`);
    expect(updates.sort()).toEqual(['0_5@2', '0_6@2']);
    // Each socket got each player's moves in order.
    for (const s of [m, next, l, r]) {
      for (const who of [mover, left, right]) {
        expect(increasing(sequences(movesOf(s, who.user_id)))).toBe(true);
      }
    }
    // The others see the mover arrive in chunk 6, and its moves go on from there.
    expect((await r.event('player_moved', (d) => d.player_id === mover.user_id)).data.position).toEqual({ x: 6050, y: 0 });
    const ack = await next.request('player_move', { position: { x: 6060, y: 0 }, floor: 0 });
    expect(ack.data.chunk_id).toBe('0_6');
    expect((await l.event('player_moved', (d) => d.position.x === 6060, 10_000)).data.player_id).toBe(mover.user_id);
    for (const s of [next, l, r]) s.close();
  });

  it('a batched socket resumes from the last players_moved eventId: resync replays exactly the missed moves', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const q = await playerAt(t, 5300);
    const a = (await openGame(p.access_token, '&batch=1')).socket;
    const b = (await openGame(q.access_token, '&batch=1')).socket;
    await b.request('player_move', { position: { x: 5301, y: 0 }, floor: 0 });
    const first = await a.waitFor((f) => f.type === 'players_moved');
    a.close();
    await b.request('player_move', { position: { x: 5302, y: 0 }, floor: 0 });
    await b.request('player_move', { position: { x: 5303, y: 0 }, floor: 0 });
    const back = (await openGame(p.access_token, `&batch=1&lastEventId=${first.eventId}`)).socket;
    const resync = await back.waitFor((f) => f.type === 'resync');
    expect(resync.data.truncated).toBe(false);
    expect(resync.data.events.map((e: Frame) => [e.type, e.data.position.x])).toEqual([
      ['player_moved', 5302],
      ['player_moved', 5303],
    ]);
    // Live moves go on in batches after the replay, each once.
    await b.request('player_move', { position: { x: 5304, y: 0 }, floor: 0 });
    await back.event('player_moved', (d) => d.position.x === 5304);
    await sleep(300);
    expect(xs(back.events('player_moved'))).toEqual([5302, 5303, 5304]);
    back.close();
    b.close();
  });

  it('moves acked just before the chunk hibernates reach the hibernated sockets once, and moves go on after', async () => {
    const t = uniqueTenant();
    const stub = chunk(t, '0_5');
    await stub.configure({ moveTickMs: 1000 });
    const p = await playerAt(t, 5500);
    const q = await playerAt(t, 5300);
    const a = (await openGame(p.access_token, '&batch=1')).socket;
    const b = (await openGame(q.access_token, '&batch=1')).socket;
    await a.request('player_move', { position: { x: 5601, y: 0 }, floor: 0 });
    await evictDurableObject(stub, { webSockets: 'hibernate' });
    // A pending tick keeps the instance in memory until it ran; woken again by any call.
    expect((await stub.state()).players.find((x) => x.player_id === p.user_id)?.position).toEqual({ x: 5601, y: 0 });
    await b.event('player_moved', (d) => d.position.x === 5601);
    await a.request('player_move', { position: { x: 5602, y: 0 }, floor: 0 });
    await b.event('player_moved', (d) => d.position.x === 5602);
    await sleep(1_500);
    expect(xs(b.events('player_moved'))).toEqual([5601, 5602]);
    a.close();
    b.close();
  });
});

describe('movement tick: an ack means durable', () => {
  it('acks a move only after the tick that logs it has committed: an acked move survives a hard kill', async () => {
    const t = uniqueTenant();
    const stub = chunk(t, '0_5');
    await stub.configure({ moveTickMs: 1000 });
    const p = await playerAt(t, 5500);
    const a = (await openGame(p.access_token)).socket;
    const ack = await a.request('player_move', { position: { x: 5611, y: 0 }, floor: 0 });
    expect(ack).toMatchObject({ type: 'player_move_ack', data: { chunk_id: '0_5' } });
    // Every Durable Object's memory goes (the pending tick with it); only what was committed is left.
    await abortAllDurableObjects();
    const again = (await openGame(p.access_token)).socket;
    expect(again.connected!.data.position).toEqual({ x: 5611, y: 0 });
    expect(again.connected!.data.sequence).toBe(1);
    again.close();
    a.close();
  });
});

describe('movement tick: the client SDK', () => {
  it('unpacks players_moved into player_moved events, each once with its eventId, across a hand-off', {
    timeout: 40_000,
  }, async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5900);
    const right = await playerAt(t, 6500);
    const r = (await openGame(right.access_token)).socket;
    const { client, urls } = gameClient(p.access_token, 'wss://edge.test/ws?batch=1');
    const moved: Array<{ x: number; eventId?: string }> = [];
    client.on('event', (e) => {
      if (e.name === 'player_moved') moved.push({ x: (e.data as Frame).position.x, eventId: e.eventId });
    });
    const raw: string[] = [];
    client.on('message', (f) => raw.push(String((f as Frame).type)));
    await client.connect();
    await r.request('player_move', { position: { x: 6501, y: 0 }, floor: 0 });
    await until(() => moved.length >= 1, 'the first move');
    const ack = await client.request<Frame>('player_move', { position: { x: 6010, y: 0 }, floor: 0 }, 15_000);
    expect(ack.chunk_id).toBe('0_6');
    await r.request('player_move', { position: { x: 6502, y: 0 }, floor: 0 });
    await r.request('player_move', { position: { x: 6503, y: 0 }, floor: 0 });
    await until(() => moved.length >= 3, 'the moves after the hand-off');
    await sleep(500);
    expect(moved.map((m) => m.x)).toEqual([6501, 6502, 6503]);
    expect(moved.every((m) => /^e.+-\d+$/.test(m.eventId ?? ''))).toBe(true);
    expect(raw).toContain('players_moved');
    expect(raw).not.toContain('player_moved');
    expect(urls[1]).toContain('batch=1');
    expect(urls[1]).toContain('chunk=0_6');
    client.disconnect();
    r.close();
  });
});
