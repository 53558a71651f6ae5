import { env, evictDurableObject, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { chunkKey } from '../../src/actors/keys';
import { formatRaceTime } from '../../src/domain/racing';
import { call, uniqueTenant } from '../support/api';
import { GameSocket, gameClient, openGame, playerAt, square, upgradeGame } from '../support/game';
import { createRace, drive, race as driveRace, identityOf, keySamples, raceView, seedRace } from '../support/racing';
import { type Frame, sleep, TestSocket } from '../support/sockets';

describe('GET /ws handshake', () => {
  it('refuses before any upgrade: 426 without Upgrade, 401 without or with a bad token', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const plain = await call(`/ws?token=${p.access_token}`, { method: 'GET' });
    expect(plain.status).toBe(426);
    const none = await upgradeGame('');
    expect(none.status).toBe(401);
    expect(((await none.json()) as Frame).error).toBe('AUTHENTICATION_REQUIRED');
    const bad = await upgradeGame('?token=not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.webSocket).toBeNull();
  });

  it('takes the token from Authorization: Bearer too', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const res = await upgradeGame('', { Authorization: `Bearer ${p.access_token}` });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close(1000);
  });

  it('negotiates earthring-v1: JSON text frames, the version echoed', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket, res } = await openGame(p.access_token, '', { 'Sec-WebSocket-Protocol': 'earthring-v1' });
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBe('earthring-v1');
    expect(socket.connected!.binary).toBeUndefined();
    expect(socket.connected!.data).toMatchObject({ protocol: 'earthring-v1', chunk_id: '0_5', player_id: p.user_id });
    const pong = await socket.request('ping');
    expect(pong.type).toBe('pong');
    socket.close();
  });

  it('negotiates earthring-v2: MessagePack binary frames both ways, the version echoed', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket, res } = await openGame(p.access_token, '', { 'Sec-WebSocket-Protocol': 'earthring-v2' });
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBe('earthring-v2');
    expect(socket.connected!.binary).toBe(true);
    expect(socket.connected!.data.protocol).toBe('earthring-v2');
    socket.binaryOut = true;
    const ack = await socket.request('player_move', { position: { x: 5600, y: 1 }, floor: 0 });
    expect(ack).toMatchObject({ type: 'player_move_ack', binary: true, data: { position: { x: 5600, y: 1 } } });
    socket.close();
  });

  it('picks the highest common version when both are offered', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket, res } = await openGame(p.access_token, '', { 'Sec-WebSocket-Protocol': 'earthring-v1, earthring-v2' });
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBe('earthring-v2');
    expect(socket.connected!.binary).toBe(true);
    socket.close();
  });

  it('refuses a client offering no version we speak with 400 INVALID_REQUEST naming the supported ones', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const res = await upgradeGame(`?token=${p.access_token}`, { 'Sec-WebSocket-Protocol': 'earthring-v9, chat' });
    expect(res.status).toBe(400);
    expect(res.webSocket).toBeNull();
    const body = (await res.json()) as Frame;
    expect(body.error).toBe('INVALID_REQUEST');
    expect(body.message).toContain('earthring-v1');
    expect(body.message).toContain('earthring-v2');
    expect(body.details).toMatchObject({ issue: 'unsupported_protocol', supported: ['earthring-v2', 'earthring-v1'] });
  });

  it('accepts a client sending no subprotocol at all as earthring-v1 (JSON), without echoing a header', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket, res } = await openGame(p.access_token);
    expect(res.headers.get('Sec-WebSocket-Protocol')).toBeNull();
    expect(socket.connected!.data.protocol).toBe('earthring-v1');
    expect(socket.connected!.binary).toBeUndefined();
    socket.close();
  });

  it('puts the socket in the chunk of the D1 position; ?chunk= must be that chunk or a neighbour', async () => {
    const p = await playerAt(uniqueTenant(), 263_999_500);
    const a = await openGame(p.access_token);
    expect(a.socket.connected!.data).toMatchObject({ chunk_id: '0_263999', position: { x: 263_999_500, y: 0 } });
    a.socket.close();
    const wrap = await openGame(p.access_token, '&chunk=0_0');
    expect(wrap.socket.connected!.data.chunk_id).toBe('0_0');
    wrap.socket.close();
    const far = await upgradeGame(`?token=${p.access_token}&chunk=0_5`);
    expect(far.status).toBe(400);
    expect(((await far.json()) as Frame).details.issue).toBe('not_your_chunk');
    const malformed = await upgradeGame(`?token=${p.access_token}&chunk=0_01`);
    expect(malformed.status).toBe(400);
    const outside = await upgradeGame(`?token=${p.access_token}&chunk=16_1`);
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as Frame).error).toBe('CHUNK_NOT_FOUND');
  });
});

describe('message types', () => {
  it('ping → pong with the id echoed', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    socket.send({ type: 'ping', id: 'ping_123' });
    expect(await socket.waitFor((f) => f.type === 'pong')).toEqual({ type: 'pong', id: 'ping_123' });
    socket.close();
  });

  it('chunk_request → chunk_data with the same content as POST /api/chunks/request; bad ids get an error frame', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    const body = { chunks: ['0_5', '0_6'], lod_level: 'low' };
    const data = await socket.request('chunk_request', body);
    expect(data.type).toBe('chunk_data');
    const rest = await call('/api/chunks/request', { token: p.access_token, body });
    expect(rest.status).toBe(200);
    expect(data.data).toEqual(rest.body);

    const bad = await socket.request('chunk_request', { chunks: ['0_01'] });
    expect(bad).toMatchObject({ type: 'error', code: 'INVALID_REQUEST', data: { code: 'INVALID_REQUEST' } });
    expect(bad.data.details).toMatchObject({ field: 'chunks[0]', issue: 'bad_format' });
    const gone = await socket.request('chunk_request', { chunks: ['0_264000'] });
    expect(gone.data.code).toBe('CHUNK_NOT_FOUND');
    expect((await socket.request('ping')).type).toBe('pong');
    socket.close();
  });

  it('player_move → player_move_ack to the sender, player_moved to the same and neighbouring chunks only', async () => {
    const t = uniqueTenant();
    const mover = await playerAt(t, 5500);
    const same = await playerAt(t, 5100);
    const next = await playerAt(t, 6900);
    const far = await playerAt(t, 7500);
    const m = (await openGame(mover.access_token)).socket;
    const s = (await openGame(same.access_token)).socket;
    const n = (await openGame(next.access_token)).socket;
    const f = (await openGame(far.access_token)).socket;
    const ack = await m.request('player_move', { position: { x: 5700, y: 3 }, floor: 0, rotation: 45 });
    expect(ack).toMatchObject({ type: 'player_move_ack', data: { position: { x: 5700, y: 3 }, floor: 0, chunk_id: '0_5' } });
    const expected = { player_id: mover.user_id, position: { x: 5700, y: 3 }, floor: 0 };
    expect((await s.event('player_moved')).data).toMatchObject(expected);
    expect((await n.event('player_moved')).data).toMatchObject(expected);
    await sleep(300);
    expect(f.events('player_moved')).toEqual([]);
    expect(m.events('player_moved')).toEqual([]);
    // Persisted: D1 gets it behind (the alarm), the chunk keeps it at once.
    await runDurableObjectAlarm(env.CHUNK.getByName(chunkKey(t, '0_5')));
    const me = await call('/api/players/me', { method: 'GET', token: mover.access_token });
    expect(me.body.current_position).toEqual({ x: 5700, y: 3 });
    for (const x of [m, s, n, f]) x.close();
  });

  it('player_move with bad input gets an error frame with the seed codes and changes nothing', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    const out = await socket.request('player_move', { position: { x: 264_000_001, y: 0 }, floor: 0 });
    expect(out).toMatchObject({
      type: 'error',
      code: 'INVALID_REQUEST',
      error: expect.any(String),
      message: expect.any(String),
      data: { code: 'INVALID_REQUEST', details: { field: 'position', issue: 'out_of_range' } },
    });
    const floor = await socket.request('player_move', { position: { x: 5600, y: 0 }, floor: 16 });
    expect(floor.data.details).toMatchObject({ field: 'floor' });
    const noData = await socket.request('player_move');
    expect(noData.data.code).toBe('INVALID_REQUEST');
    const rot = await socket.request('player_move', { position: { x: 5600, y: 0 }, rotation: 'north' });
    expect(rot.data.details.field).toBe('rotation');
    const me = await call('/api/players/me', { method: 'GET', token: p.access_token });
    expect(me.body.current_position).toEqual({ x: 5500, y: 0 });
    socket.close();
  });

  it('broadcasts moves to neighbours across the wrap (chunk 263,999 ↔ 0) and not further', async () => {
    const t = uniqueTenant();
    const last = await playerAt(t, 263_999_900);
    const first = await playerAt(t, 200);
    const two = await playerAt(t, 2500);
    const a = (await openGame(last.access_token)).socket;
    const b = (await openGame(first.access_token)).socket;
    const c = (await openGame(two.access_token)).socket;
    expect(a.connected!.data.chunk_id).toBe('0_263999');
    await b.request('player_move', { position: { x: 300, y: 0 }, floor: 0 });
    expect((await a.event('player_moved')).data).toMatchObject({ player_id: first.user_id, position: { x: 300, y: 0 } });
    await a.request('player_move', { position: { x: 263_999_950, y: 5 }, floor: 0 });
    expect((await b.event('player_moved')).data).toMatchObject({ player_id: last.user_id, position: { x: 263_999_950, y: 5 } });
    await sleep(300);
    expect(c.events('player_moved')).toEqual([]);
    for (const x of [a, b, c]) x.close();
  });

  it('zone_create → zone_created (same validation and D1 row as REST) and chunk_updated to watchers', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const watcher = await playerAt(t, 6500);
    const { socket } = await openGame(p.access_token);
    const w = (await openGame(watcher.access_token)).socket;
    const created = await socket.request('zone_create', {
      name: 'New Zone',
      zone_type: 'residential',
      geometry: square(5500, 0),
    });
    expect(created.type).toBe('zone_created');
    expect(created.data).toMatchObject({ name: 'New Zone', zone_type: 'residential', floor: 0, owner_id: p.user_id });
    const rest = await call(`/api/zones/${created.data.id}`, { method: 'GET', token: p.access_token });
    expect(rest.body).toEqual(created.data);
    const update = await w.event('chunk_updated', (d) => d.chunk_id === '0_5');
    expect(update.data).toEqual({ chunk_id: '0_5', version: 2, changes: { structures: [], zones: ['added'] } });
    expect((await socket.event('chunk_updated')).data.chunk_id).toBe('0_5');

    const bowtie = {
      type: 'Polygon',
      coordinates: [
        [
          [5400, 0],
          [5500, 100],
          [5500, 0],
          [5400, 100],
          [5400, 0],
        ],
      ],
    };
    const bad = await socket.request('zone_create', { name: 'Bad', zone_type: 'residential', geometry: bowtie });
    expect(bad).toMatchObject({
      type: 'error',
      code: 'INVALID_ZONE',
      data: { code: 'INVALID_ZONE', details: { field: 'geometry', issue: 'self_intersection' } },
    });
    socket.close();
    w.close();
  });

  it('structure_place → structure_placed on the player floor; a bad placement is INVALID_STRUCTURE', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500, 3);
    const { socket } = await openGame(p.access_token);
    expect(socket.connected!.data.chunk_id).toBe('3_5');
    const placed = await socket.request('structure_place', {
      structure_type: 'building',
      position: { x: 5510, y: 100 },
      properties: { height: 20 },
    });
    expect(placed).toMatchObject({
      type: 'structure_placed',
      data: { structure_type: 'building', position: { x: 5510, y: 100 }, floor: 3, owner_id: p.user_id },
    });
    expect((await socket.event('chunk_updated')).data).toMatchObject({ chunk_id: '3_5', changes: { structures: ['added'] } });
    const bad = await socket.request('structure_place', { structure_type: 'spaceship', position: { x: 5510, y: 0 } });
    expect(bad.data).toMatchObject({ code: 'INVALID_STRUCTURE', details: { field: 'structure_type' } });
    const noZone = await socket.request('structure_place', {
      structure_type: 'building',
      position: { x: 5510, y: 0 },
      zone_id: 999999,
    });
    expect(noZone.data.details.issue).toBe('zone_not_found');
    socket.close();
  });

  it('chunk_updated reaches players in the chunk and its neighbours after a REST zone create, update and delete', async () => {
    const t = uniqueTenant();
    const owner = await playerAt(t, 100_000);
    const inside = await playerAt(t, 8500);
    const beside = await playerAt(t, 9100);
    const a = (await openGame(inside.access_token)).socket;
    const b = (await openGame(beside.access_token)).socket;
    const zone = await call('/api/zones', {
      token: owner.access_token,
      body: { name: 'Plaza', zone_type: 'commercial', floor: 0, geometry: square(8500, 0) },
    });
    expect(zone.status).toBe(201);
    expect((await a.event('chunk_updated', (d) => d.version === 2)).data).toEqual({
      chunk_id: '0_8',
      version: 2,
      changes: { structures: [], zones: ['added'] },
    });
    expect((await b.event('chunk_updated', (d) => d.version === 2)).data.chunk_id).toBe('0_8');
    const del = await call(`/api/zones/${zone.body.id}`, { method: 'DELETE', token: owner.access_token });
    expect(del.status).toBe(200);
    expect((await a.event('chunk_updated', (d) => d.version === 3)).data.changes.zones).toEqual(['removed']);
    a.close();
    b.close();
  });

  it('a requested far chunk is watched: its chunk_updated reaches the requester only', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const other = await playerAt(t, 5600);
    const builder = await playerAt(t, 50_500);
    const a = (await openGame(p.access_token)).socket;
    const o = (await openGame(other.access_token)).socket;
    await a.request('chunk_request', { chunks: ['0_50'], lod_level: 'low' });
    await sleep(100);
    const r = await call('/api/structures', {
      token: builder.access_token,
      body: { structure_type: 'decoration', position: { x: 50_400, y: 0 }, floor: 0 },
    });
    expect(r.status).toBe(201);
    expect((await a.event('chunk_updated', (d) => d.chunk_id === '0_50')).data.changes.structures).toEqual(['added']);
    await sleep(200);
    expect(o.events('chunk_updated')).toEqual([]);
    a.close();
    o.close();
  });

  it('unknown types, malformed JSON and non-object frames get error frames; the socket stays open', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    socket.send({ type: 'teleport', id: 'x1' });
    const unknown = await socket.waitFor((f) => f.id === 'x1');
    expect(unknown).toMatchObject({
      type: 'error',
      code: 'INVALID_REQUEST',
      data: { code: 'INVALID_REQUEST', details: { issue: 'unknown_message_type' } },
    });
    expect(unknown.message).toContain('teleport');
    socket.ws.send('{"type": "ping", ');
    socket.ws.send('[1,2]');
    socket.ws.send('"ping"');
    await socket.waitFor((f) => f.type === 'error' && /Malformed JSON/.test(f.message));
    await socket.waitFor((f) => f.type === 'error' && f.data.details?.issue === 'invalid_message_format');
    const noType = await socket.request('', {});
    expect(noType.data.code).toBe('INVALID_REQUEST');
    expect((await socket.request('ping')).type).toBe('pong');
    expect(socket.closed).toBeNull();
    socket.close();
  });

  it('allows 1,000 messages a minute per player in the chunk, then RATE_LIMIT_EXCEEDED, then 1008 after 10 refusals in a row', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    // A sliding window: exactly 1,000 in any minute, however long the 1,200 frames take to process.
    const total = 1200;
    for (let i = 0; i < total; i++) socket.send({ type: 'ping', id: `p${i}` });
    const closed = await socket.waitClosed(20_000);
    expect(closed).toEqual({ code: 1008, reason: 'Rate limit exceeded' });
    const pongs = socket.frames.filter((f) => f.type === 'pong').length;
    const refused = socket.frames.filter((f) => f.type === 'error');
    expect(socket.frames.slice(1, 1001).every((f) => f.type === 'pong')).toBe(true);
    expect(pongs).toBe(1000);
    expect(refused).toHaveLength(9);
    expect(refused[0]).toMatchObject({
      code: 'RATE_LIMIT_EXCEEDED',
      data: { code: 'RATE_LIMIT_EXCEEDED', details: { limit: 1000, retryAfterMs: expect.any(Number) } },
    });
    // A reconnect does not hand out a new budget: the player's budget in this chunk is spent.
    const second = (await openGame(p.access_token)).socket;
    second.send({ type: 'ping', id: 'again' });
    expect((await second.waitFor((f) => f.type === 'error')).code).toBe('RATE_LIMIT_EXCEEDED');
    second.close();
  }, 30_000);

  it('zone_create spends the REST quota (10 a minute per user)', async () => {
    const p = await playerAt(uniqueTenant(), 5500);
    const { socket } = await openGame(p.access_token);
    for (let i = 0; i < 10; i++) {
      const r = await call('/api/zones', {
        token: p.access_token,
        body: { name: `Z${i}`, zone_type: 'park', floor: 0, geometry: square(5000 + i * 50, 0, 10) },
      });
      expect(r.status).toBe(201);
    }
    const refused = await socket.request('zone_create', { name: 'Z', zone_type: 'park', geometry: square(4000, 0, 10) });
    expect(refused.data).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', details: { scope: 'zone_create' } });
    socket.close();
  });
});

describe('hand-off between chunk actors', () => {
  it('moves the player to the next chunk with every event delivered exactly once across both sockets', async () => {
    const t = uniqueTenant();
    const mover = await playerAt(t, 5900);
    const left = await playerAt(t, 5200);
    const right = await playerAt(t, 6700);
    const builder = await playerAt(t, 90_000);
    const m = (await openGame(mover.access_token)).socket;
    const l = (await openGame(left.access_token)).socket;
    const r = (await openGame(right.access_token)).socket;

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
    const handoff = await m.waitFor((f) => f.type === 'chunk_handoff');
    expect(handoff.data).toMatchObject({ chunk_id: '0_6', handoff_from: '0_5' });
    expect(m.frames.find((f) => f.id === 'cross')).toMatchObject({ type: 'player_move_ack', data: { chunk_id: '0_6' } });
    moves(l, 5200, 16, N);
    moves(r, 6700, 16, N);
    await sleep(30);
    // The client follows: the URL from the hand-off frame, old socket closed once the new one is open.
    const next = (await openGame(mover.access_token, `&${handoff.data.url.split('?')[1]}`)).socket;
    expect(next.connected!.data).toMatchObject({ chunk_id: '0_6', position: { x: 6050, y: 0 } });
    const afterHandoff = m.frames.length;
    m.close();
    for (const p of placed) expect((await p).status).toBe(201);
    await l.waitFor((f) => f.id === `mv${N - 1}`);
    await r.waitFor((f) => f.id === `mv${N - 1}`);
    // Moves reach the area with the chunk's tick and the neighbour through a relay: wait for the count, not a time.
    const movesSeen = () =>
      [...m.events(), ...next.events()].filter(
        (e) => e.type === 'player_moved' && (e.data.player_id === left.user_id || e.data.player_id === right.user_id),
      ).length;
    for (const end = Date.now() + 10_000; movesSeen() < 2 * N && Date.now() < end; ) await sleep(50);
    // A late duplicate would show up here.
    await sleep(300);

    // Nothing was delivered on the old socket after the hand-off frame.
    const handoffAt = m.frames.indexOf(handoff);
    expect(m.frames.slice(handoffAt + 1, afterHandoff).filter((f) => f.eventId !== undefined)).toEqual([]);
    const all = [...m.events(), ...next.events()];
    for (const [who, x0] of [
      [left, 5200],
      [right, 6700],
    ] as const) {
      const xs = all.filter((e) => e.type === 'player_moved' && e.data.player_id === who.user_id).map((e) => e.data.position.x);
      expect([...xs].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => x0 + i));
    }
    const updates = all.filter((e) => e.type === 'chunk_updated').map((e) => `${e.data.chunk_id}@${e.data.version}`);
    expect(updates.sort()).toEqual(['0_5@2', '0_6@2']);
    // The others now see the mover in chunk 6.
    expect((await r.event('player_moved', (d) => d.player_id === mover.user_id)).data.position).toEqual({ x: 6050, y: 0 });
    const me = await call('/api/players/me', { method: 'GET', token: mover.access_token });
    expect(me.body.current_position).toEqual({ x: 6050, y: 0 });
    // Moves go on from the new chunk.
    const ack = await next.request('player_move', { position: { x: 6060, y: 0 }, floor: 0 });
    expect(ack.data.chunk_id).toBe('0_6');
    expect((await l.event('player_moved', (d) => d.position.x === 6060)).data.player_id).toBe(mover.user_id);
    for (const s of [next, l, r]) s.close();
  });

  it('a move on a handed-off socket is refused; the old chunk closes it after the grace period', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5900);
    await env.CHUNK.getByName(chunkKey(t, '0_5')).configure({ handoffGraceMs: 300 });
    const { socket } = await openGame(p.access_token);
    await socket.request('player_move', { position: { x: 7100, y: 0 }, floor: 0 });
    const handoff = await socket.waitFor((f) => f.type === 'chunk_handoff');
    expect(handoff.data.chunk_id).toBe('0_7');
    const refused = await socket.request('player_move', { position: { x: 7200, y: 0 }, floor: 0 });
    expect(refused.data).toMatchObject({ code: 'INVALID_REQUEST', details: { issue: 'handed_off', chunk_id: '0_7' } });
    expect((await socket.request('ping')).type).toBe('pong');
    // The old chunk closes the handed-off socket after its grace period (shortened here).
    await socket.waitClosed(3000).then((c) => expect(c.code).toBe(1000));
    // A move to another floor is a hand-off too.
    const again = (await openGame(p.access_token)).socket;
    expect(again.connected!.data.chunk_id).toBe('0_7');
    await again.request('player_move', { position: { x: 7100, y: 0 }, floor: 2 });
    expect((await again.waitFor((f) => f.type === 'chunk_handoff')).data.chunk_id).toBe('2_7');
    again.close();
  });
});

describe('PUT /api/players/{id}/position reaches the live game socket', () => {
  const putPosition = (p: { user_id: number; access_token: string }, x: number, floor = 0) =>
    call(`/api/players/${p.user_id}/position`, { method: 'PUT', token: p.access_token, body: { position: { x, y: 0 }, floor } });

  it('a move within the chunk is a player_moved to the same and neighbouring chunks', async () => {
    const t = uniqueTenant();
    const mover = await playerAt(t, 5500);
    const same = await playerAt(t, 5100);
    const next = await playerAt(t, 6900);
    const m = (await openGame(mover.access_token)).socket;
    const s = (await openGame(same.access_token)).socket;
    const n = (await openGame(next.access_token)).socket;
    const r = await putPosition(mover, 5800);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const expected = { player_id: mover.user_id, position: { x: 5800, y: 0 }, floor: 0 };
    expect((await s.event('player_moved')).data).toMatchObject(expected);
    expect((await n.event('player_moved')).data).toMatchObject(expected);
    const state = await env.CHUNK.getByName(chunkKey(t, '0_5')).state();
    expect(state.players.find((x) => x.player_id === mover.user_id)?.position).toEqual({ x: 5800, y: 0 });
    // Moves from the socket go on from there.
    expect((await m.request('player_move', { position: { x: 5810, y: 0 }, floor: 0 })).data.chunk_id).toBe('0_5');
    for (const x of [m, s, n]) x.close();
  });

  it('a move to another chunk hands the socket off; the client follows to the new chunk', async () => {
    const t = uniqueTenant();
    const mover = await playerAt(t, 5500);
    const watcher = await playerAt(t, 7300);
    const m = (await openGame(mover.access_token)).socket;
    const w = (await openGame(watcher.access_token)).socket;
    expect((await putPosition(mover, 7100)).status).toBe(200);
    const handoff = await m.waitFor((f) => f.type === 'chunk_handoff');
    expect(handoff.data).toMatchObject({ chunk_id: '0_7', handoff_from: '0_5' });
    expect((await w.event('player_moved', (d) => d.player_id === mover.user_id)).data.position).toEqual({ x: 7100, y: 0 });
    const next = (await openGame(mover.access_token, `&${handoff.data.url.split('?')[1]}`)).socket;
    expect(next.connected!.data).toMatchObject({ chunk_id: '0_7', position: { x: 7100, y: 0 } });
    for (const x of [m, next, w]) x.close();
  });

  it('a player without a socket gets 200, and their next connect stands where REST put them', async () => {
    const t = uniqueTenant();
    const never = await playerAt(t, 5500);
    expect((await putPosition(never, 5600)).status).toBe(200);
    const p = await playerAt(t, 5500);
    const a = (await openGame(p.access_token)).socket;
    await a.request('player_move', { position: { x: 5550, y: 0 }, floor: 0 });
    a.close();
    const chunk = env.CHUNK.getByName(chunkKey(t, '0_5'));
    for (let i = 0; (await chunk.state()).players.some((x) => x.player_id === p.user_id); i++) {
      expect(i).toBeLessThan(200);
      await sleep(10);
    }
    const r = await putPosition(p, 5900);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, position: { x: 5900, y: 0 }, floor: 0 });
    // The chunk's pending write-behind must not put the old spot back.
    await runDurableObjectAlarm(chunk);
    const me = await call('/api/players/me', { method: 'GET', token: p.access_token });
    expect(me.body.current_position).toEqual({ x: 5900, y: 0 });
    const again = (await openGame(p.access_token)).socket;
    expect(again.connected!.data).toMatchObject({ chunk_id: '0_5', position: { x: 5900, y: 0 } });
    again.close();
  });
});

describe('durability', () => {
  it('keeps positions across eviction (sockets hibernated) and writes them behind to D1', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const q = await playerAt(t, 5300);
    const a = (await openGame(p.access_token)).socket;
    const b = (await openGame(q.access_token)).socket;
    await a.request('player_move', { position: { x: 5678.5, y: -12 }, floor: 0, rotation: 90 });
    const stub = env.CHUNK.getByName(chunkKey(t, '0_5'));
    await evictDurableObject(stub, { webSockets: 'hibernate' });
    const state = await stub.state();
    expect(state.players.find((x) => x.player_id === p.user_id)).toMatchObject({ position: { x: 5678.5, y: -12 }, rotation: 90 });
    // The hibernated sockets still work and still get the area's events.
    await a.request('player_move', { position: { x: 5679, y: -12 }, floor: 0 });
    expect((await b.event('player_moved', (d) => d.position.x === 5679)).data.player_id).toBe(p.user_id);
    await runDurableObjectAlarm(stub);
    const me = await call('/api/players/me', { method: 'GET', token: p.access_token });
    expect(me.body.current_position).toEqual({ x: 5679, y: -12 });
    a.close();
    await evictDurableObject(stub);
    const again = (await openGame(p.access_token)).socket;
    expect(again.connected!.data.position).toEqual({ x: 5679, y: -12 });
    again.close();
    b.close();
  });

  it('replays missed events on reconnect with lastEventId', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const q = await playerAt(t, 5300);
    const a = (await openGame(p.access_token)).socket;
    const b = (await openGame(q.access_token)).socket;
    await b.request('player_move', { position: { x: 5301, y: 0 }, floor: 0 });
    const seen = await a.event('player_moved');
    a.close();
    await b.request('player_move', { position: { x: 5302, y: 0 }, floor: 0 });
    await b.request('player_move', { position: { x: 5303, y: 0 }, floor: 0 });
    const back = new GameSocket(
      await (async () => {
        const res = await upgradeGame(`?token=${p.access_token}&lastEventId=${seen.eventId}`);
        res.webSocket!.accept();
        return res.webSocket!;
      })(),
    );
    const resync = await back.waitFor((f) => f.type === 'resync');
    expect(resync.data.truncated).toBe(false);
    expect(resync.data.events.map((e: Frame) => e.data.position.x)).toEqual([5302, 5303]);
    back.close();
    b.close();
  });
});

describe('racing over /ws', () => {
  it('racing_start and racing_update go to the Race actor; its events reach participants in other chunks', async () => {
    const t = uniqueTenant();
    const organiser = await playerAt(t, 12_345);
    const racer = await playerAt(t, 200_000);
    const other = await playerAt(t, 400_000);
    const race = await call('/api/racing/events', {
      token: organiser.access_token,
      body: {
        name: 'Downtown Street Race',
        start_point: { x: 12345, y: 100 },
        end_point: { x: 15678, y: 200 },
        checkpoints: [{ x: 14000, y: 150 }],
        floor: 0,
        route_generation: 'auto',
        properties: { vehicle_type: 'sports_car', laps: 1 },
      },
    });
    expect(race.status, JSON.stringify(race.body)).toBe(201);
    const id = race.body.id as number;
    for (const s of [racer, other]) {
      const j = await call(`/api/racing/events/${id}/join`, { token: s.access_token });
      expect(j.status, JSON.stringify(j.body)).toBe(200);
    }
    const o = (await openGame(organiser.access_token)).socket;
    const r = (await openGame(racer.access_token)).socket;
    const x = (await openGame(other.access_token)).socket;

    const missing = await o.request('racing_start', {});
    expect(missing.data).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'event_id' } });
    const started = await o.request('racing_start', { event_id: id });
    expect(started).toMatchObject({ type: 'racing_started', data: { event_id: id } });
    const got = await r.event('racing_started');
    expect(got.data).toMatchObject({ event_id: id, participants: expect.arrayContaining([racer.user_id, other.user_id]) });
    expect(got.data.route.type).toBe('LineString');
    await x.event('racing_started');
    await sleep(300);
    // The non-participant starter has its answer; the participants have the race's event: each exactly once.
    for (const s of [o, r, x]) expect(s.frames.filter((f) => f.type === 'racing_started')).toHaveLength(1);

    const start = got.data.route.coordinates[0] as [number, number];
    r.send({
      type: 'racing_update',
      id: 'u1',
      data: { event_id: id, position: { x: start[0], y: start[1] }, speed: 0, checkpoint_reached: 0 },
    });
    const update = await x.event('racing_update');
    expect(update.data.players[0]).toMatchObject({ player_id: racer.user_id, checkpoint_reached: 0 });
    expect((await r.event('racing_update')).data.event_id).toBe(id);

    const notRacing = await o.request('racing_update', { event_id: id, position: { x: start[0], y: start[1] } });
    expect(notRacing.data.code).toBe('AUTHORIZATION_FAILED');
    const skipped = await r.request('racing_update', {
      event_id: id,
      position: { x: start[0], y: start[1] },
      checkpoint_reached: 3,
    });
    expect(skipped.type).toBe('error');
    for (const s of [o, r, x]) s.close();
  });
});

describe('race events reach /ws however the race is driven', () => {
  const count = (s: GameSocket, type: string) => s.frames.filter((f) => f.type === type).length;

  it('a REST start, a racing_update on /ws/racing/{id}, RPC updates and a REST result all reach participants on /ws', async () => {
    const t = uniqueTenant();
    const organiser = await playerAt(t, 12_345);
    const a = await playerAt(t, 200_000);
    const b = await playerAt(t, 400_000);
    const created = await createRace(organiser.access_token, seedRace());
    const id = created.id as number;
    for (const s of [a, b]) expect((await call(`/api/racing/events/${id}/join`, { token: s.access_token })).status).toBe(200);
    const ga = (await openGame(a.access_token)).socket;
    const gb = (await openGame(b.access_token)).socket;
    const go = (await openGame(organiser.access_token)).socket;

    const started = await call(`/api/racing/events/${id}/start`, { token: organiser.access_token, body: { event_id: id } });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    for (const g of [ga, gb]) {
      const e = await g.event('racing_started');
      expect(e.data).toMatchObject({ event_id: id, start_time: started.body.start_time, participants: [a.user_id, b.user_id] });
    }

    // b drives from the race's own socket; a hears it on the game socket.
    const res = await SELF.fetch(`https://edge.test/ws/racing/${id}?token=${b.access_token}`, {
      headers: { Upgrade: 'websocket' },
    });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const rb = new TestSocket(res.webSocket!);
    await rb.next();
    const [sx, sy] = created.route_geometry.coordinates[0] as [number, number];
    rb.send({ type: 'racing_update', id: 'u1', data: { event_id: id, position: { x: sx, y: sy }, speed: 0 } });
    const update = await ga.event('racing_update', (d) => d.players[0].player_id === b.user_id);
    expect(update.data).toMatchObject({ event_id: id, players: [{ checkpoint_reached: 0, finished: false }] });

    // Both finish through RPC (as a relaying actor would), with the few updates a race needs to count a drive
    // (each one relayed to every participant's chunk); a's result goes in over REST.
    const startAt = Date.parse(started.body.start_time);
    const plan = drive(await raceView(t, id), { speed: 50 });
    await driveRace(t, id, identityOf(a, t), startAt, keySamples(plan.samples));
    await driveRace(t, id, identityOf(b, t), startAt + 5000, keySamples(plan.samples));
    const finished = await gb.event('racing_finished');
    expect(finished.data.event_id).toBe(id);
    await ga.event('racing_finished');
    const result = await call(`/api/racing/events/${id}/result`, {
      token: a.access_token,
      body: { finish_time: formatRaceTime(plan.finish) },
    });
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    const got = await gb.event('racing_result');
    expect(got.data).toMatchObject({ event_id: id, player_id: a.user_id, position: 1 });

    await sleep(300);
    for (const g of [ga, gb]) {
      expect(count(g, 'racing_started')).toBe(1);
      expect(count(g, 'racing_finished')).toBe(1);
      expect(count(g, 'racing_result')).toBe(1);
      // Lobby chatter stays on the race's own channels.
      expect(count(g, 'racing_joined')).toBe(0);
    }
    // In log order on each socket: the start before any update, the finish after the last update.
    const order = ga.events().map((e) => e.type);
    expect(order.indexOf('racing_started')).toBeLessThan(order.indexOf('racing_update'));
    expect(order.lastIndexOf('racing_update')).toBeLessThan(order.indexOf('racing_finished'));
    // The organiser is not racing: nothing of the race reaches its game socket.
    expect(go.frames.filter((f) => String(f.type).startsWith('racing_'))).toEqual([]);
    rb.ws.close(1000);
    for (const g of [ga, gb, go]) g.close();
  });

  it('a racing_start over /ws reaches each participant exactly once, the starter included; bad input is refused', async () => {
    const t = uniqueTenant();
    const organiser = await playerAt(t, 12_345);
    const racer = await playerAt(t, 12_400);
    const far = await playerAt(t, 300_000);
    const id = (await createRace(organiser.access_token, seedRace())).id as number;
    for (const s of [organiser, racer, far]) await call(`/api/racing/events/${id}/join`, { token: s.access_token });
    const go = (await openGame(organiser.access_token)).socket;
    const gr = (await openGame(racer.access_token)).socket;
    const gf = (await openGame(far.access_token)).socket;

    const wrong = await go.request('racing_start', { event_id: 'abc' });
    expect(wrong.type).toBe('error');
    go.send({ type: 'racing_start', id: 's1', data: { event_id: id } });
    for (const g of [go, gr, gf]) {
      const e = await g.event('racing_started');
      expect(e.data.participants).toEqual([organiser.user_id, racer.user_id, far.user_id]);
    }
    await sleep(400);
    for (const g of [go, gr, gf]) expect(count(g, 'racing_started')).toBe(1);
    const again = await go.request('racing_start', { event_id: id });
    expect(again.data).toMatchObject({ code: 'INVALID_REQUEST', details: { issue: 'race_started' } });
    for (const g of [go, gr, gf]) g.close();
  });
});

describe('client SDK follows the hand-off', () => {
  // Generous timeouts: on a loaded 2-core machine a hand-off (admit, replay, reconnect) can take seconds.
  it('reconnects to the next chunk by itself and keeps receiving, each event once', { timeout: 40_000 }, async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5900);
    const right = await playerAt(t, 6500);
    const r = (await openGame(right.access_token)).socket;
    const { client, urls } = gameClient(p.access_token);
    const controls: Frame[] = [];
    client.on('control', (c) => controls.push(c as Frame));
    const moved: Frame[] = [];
    client.on('event', (e) => {
      if (e.name === 'player_moved') moved.push(e.data as Frame);
    });
    await client.connect();
    const until = async (ok: () => boolean) => {
      const end = Date.now() + 4000;
      while (!ok() && Date.now() < end) await sleep(20);
    };
    await until(() => controls.length > 0);
    expect(controls[0]).toMatchObject({ name: 'connected', data: { chunk_id: '0_5', protocol: 'earthring-v2' } });
    await r.request('player_move', { position: { x: 6501, y: 0 }, floor: 0 });
    const ack = await client.request<Frame>('player_move', { position: { x: 6010, y: 0 }, floor: 0 }, 15_000);
    expect(ack.chunk_id).toBe('0_6');
    // Frames sent right after the hand-off wait for the new socket.
    const pong = client.request<Frame>('chunk_request', { chunks: ['0_6'], lod_level: 'low' }, 15_000);
    await r.request('player_move', { position: { x: 6502, y: 0 }, floor: 0 });
    expect((await pong).chunks[0].id).toBe('0_6');
    await until(() => moved.length >= 2);
    expect(moved.map((m) => m.position.x)).toEqual([6501, 6502]);
    expect(controls.map((c) => c.name)).toEqual(['connected', 'chunk_handoff', 'connected']);
    expect(controls[2]!.data.chunk_id).toBe('0_6');
    expect(urls[1]).toContain('chunk=0_6');
    expect(urls[1]).toContain('handoff_from=0_5');
    expect(client.state).toBe('connected');
    client.disconnect();
    r.close();
  });
});
