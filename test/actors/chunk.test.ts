import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/actors/chunk';
import { chunkKey } from '../../src/actors/keys';
import { uniqueTenant } from '../support/api';
import { openGame, playerAt } from '../support/game';
import { sleep } from '../support/sockets';

/** The Chunk actor's RPC surface: relays from neighbours, personal deliveries and their forwarding, admit. */

const chunk = (tenant: string, id: string) => env.CHUNK.getByName(chunkKey(tenant, id));

describe('Chunk actor', () => {
  it('logs relayed neighbour events with their origin and delivers them to its sockets', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const { socket } = await openGame(p.access_token);
    await chunk(t, '0_5').relay('0_6', [
      { type: 'player_moved', data: { player_id: 999, position: { x: 6100, y: 0 }, floor: 0 }, seq: 41 },
    ]);
    const e = await socket.event('player_moved');
    expect(e.data).toEqual({ player_id: 999, position: { x: 6100, y: 0 }, floor: 0 });
    expect(typeof e.eventId).toBe('string');
    await runInDurableObject(chunk(t, '0_5'), (_i: Chunk, state) => {
      const row = state.storage.sql.exec<{ data: string }>("SELECT data FROM _core_events WHERE type = 'player_moved'").one();
      expect(JSON.parse(row.data)).toMatchObject({ o: '0_6', s: 41 });
    });
    socket.close();
  });

  it('delivers personal frames to a player standing here only, and reports unknown players gone', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const q = await playerAt(t, 5600);
    const a = (await openGame(p.access_token)).socket;
    const b = (await openGame(q.access_token)).socket;
    const r = await chunk(t, '0_5').deliverToPlayers(
      [String(p.user_id), '424242'],
      [{ type: 'racing_update', data: { event_id: 1, players: [] } }],
    );
    expect(r.gone).toEqual(['424242']);
    expect((await a.event('racing_update')).data).toEqual({ event_id: 1, players: [] });
    await sleep(200);
    expect(b.events('racing_update')).toEqual([]);
    a.close();
    b.close();
  });

  it('forwards personal frames of a player who left to their new chunk', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5900);
    const { socket } = await openGame(p.access_token);
    await socket.request('player_move', { position: { x: 6100, y: 0 }, floor: 0 });
    const handoff = await socket.waitFor((f) => f.type === 'chunk_handoff');
    socket.close();
    const next = (await openGame(p.access_token, `&${handoff.data.url.split('?')[1]}`)).socket;
    const r = await chunk(t, '0_5').deliverToPlayers(
      [String(p.user_id)],
      [{ type: 'chunk_updated', data: { chunk_id: '0_90', version: 4 } }],
    );
    expect(r.gone).toEqual([]);
    expect((await next.event('chunk_updated')).data).toEqual({ chunk_id: '0_90', version: 4 });
    next.close();
  });

  it('admit answers the head of its log and takes the player in; the D1 row follows at once', async () => {
    const t = uniqueTenant();
    const p = await playerAt(t, 5500);
    const before = await chunk(t, '0_6').state();
    expect(before).toEqual({ chunk_id: '0_6', version: 1, players: [] });
    const identity = { userId: String(p.user_id), tenantId: t, role: 'player' as const, username: p.username };
    const answer = await chunk(t, '0_6').admit({
      identity,
      position: { x: 6200, y: 1 },
      floor: 0,
      rotation: 0,
      from: '0_5',
      watching: ['0_77'],
    });
    expect(answer.sequence).toBe(0);
    const row = await env.DB.prepare('SELECT current_position_x AS x FROM players WHERE tenant_id = ? AND user_id = ?')
      .bind(t, p.user_id)
      .first<{ x: number }>();
    expect(row?.x).toBe(6200);
    await sleep(100);
    // The requested far chunk now knows it is watched from chunk 6.
    await runInDurableObject(chunk(t, '0_77'), (_i: Chunk, state) => {
      expect(state.storage.sql.exec('SELECT user_id, watcher FROM chunk_watchers').toArray()).toEqual([
        { user_id: String(p.user_id), watcher: '0_6' },
      ]);
    });
  });

  it('refuses a chunk_updated meant for another chunk and keeps the highest version across eviction', async () => {
    const t = uniqueTenant();
    const c = chunk(t, '2_10');
    expect(
      await c.chunkChanged({ chunk_id: '2_11', floor: 2, chunk_index: 11, version: 9, changes: { structures: [], zones: [] } }),
    ).toBe(false);
    await c.chunkChanged({
      chunk_id: '2_10',
      floor: 2,
      chunk_index: 10,
      version: 3,
      changes: { structures: ['added'], zones: [] },
    });
    await evictDurableObject(c);
    expect((await c.state()).version).toBe(3);
  });
});
