import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser } from '../support/api';
import {
  advance,
  api,
  type Crafters,
  crafters,
  openCraftSocket,
  queueStub,
  sessionStub,
  startSession,
  upgrade,
} from './crafting-helpers';

let t: Crafters;
beforeAll(async () => {
  t = await crafters();
});

describe('GET /api/crafting/recipes', () => {
  it('lists recipes, materials and the starter kit; needs a token', async () => {
    const r = await api('/api/crafting/recipes', t.alice.access_token);
    expect(r.status).toBe(200);
    expect(r.body.recipes.map((x: { id: string }) => x.id)).toContain('iron_sword');
    expect(r.body.starterKit).toMatchObject({ iron_ore: 10, wood: 10 });
    expectError(await api('/api/crafting/recipes', undefined), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('materials', () => {
  it('a newcomer holds the starter kit; only they, an admin or a service may read it', async () => {
    const me = await api(`/api/crafting/materials/${t.bob.user_id}`, t.bob.access_token);
    expect(me.status).toBe(200);
    expect(me.body.materials).toMatchObject({ iron_ore: 10, leather: 6 });
    expectError(await api(`/api/crafting/materials/${t.bob.user_id}`, t.alice.access_token), 403, 'AUTHORIZATION_FAILED');
    expect((await api(`/api/crafting/materials/${t.bob.user_id}`, t.admin.access_token)).status).toBe(200);
    expect((await api(`/api/crafting/materials/${t.bob.user_id}`, t.service)).status).toBe(200);
    expectError(await api('/api/crafting/materials/bad!id', t.bob.access_token), 400, 'INVALID_REQUEST');
  });

  it('grants and takes for service and admin tokens only; bad changes change nothing', async () => {
    const path = `/api/crafting/materials/${t.bob.user_id}`;
    expectError(
      await api(path, t.bob.access_token, { method: 'POST', body: { changes: { wood: 5 } } }),
      403,
      'AUTHORIZATION_FAILED',
    );
    const before = (await api(path, t.bob.access_token)).body;
    const granted = await api(path, t.service, { method: 'POST', body: { changes: { wood: 5, crystal: -1 }, reason: 'quest' } });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body.materials.wood).toBe(before.materials.wood + 5);
    expect(granted.body.version).toBe(before.version + 1);
    expectError(await api(path, t.admin.access_token, { method: 'POST', body: { changes: { wood: -10_000 } } }), 409, 'CONFLICT');
    expectError(
      await api(path, t.admin.access_token, { method: 'POST', body: { changes: { gold: 1 } } }),
      400,
      'INVALID_REQUEST',
    );
    expectError(await api(path, t.admin.access_token, { method: 'POST', body: { changes: {} } }), 400, 'INVALID_REQUEST');
    expectError(
      await api(path, t.admin.access_token, { method: 'POST', body: { changes: { wood: 1.5 } } }),
      400,
      'INVALID_REQUEST',
    );
    const after = (await api(path, t.bob.access_token)).body;
    expect(after).toEqual(granted.body);
  });
  it('answers each of concurrent grants with the version it wrote, as its material_update says (found by test:chaos)', async () => {
    // A running session makes every grant await the session actors, so grants interleave in the queue actor.
    const carol = await registerUser({ tenant: t.tenant });
    await startSession(carol.access_token, 'plank', 1);
    const path = `/api/crafting/materials/${carol.user_id}`;
    const since = (await api(path, carol.access_token)).body.version as number;
    const watcher = await openCraftSocket(`/ws/queue/${carol.user_id}`, carol.access_token);
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api(path, t.admin.access_token, { method: 'POST', body: { changes: { herb: 1 }, reason: `grant-${i}` } }),
      ),
    );
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    const updates = await Promise.all(
      answers.map((_, i) => watcher.waitFor((f) => f.type === 'material_update' && f.data.reason === `grant-${i}`)),
    );
    expect(answers.map((a) => a.body.version)).toEqual(updates.map((u) => u.data.version));
    expect(new Set(answers.map((a) => a.body.version)).size).toBe(6);
    expect(Math.min(...answers.map((a) => a.body.version))).toBe(since + 1);
    watcher.close();
  });
});

describe('crafting sessions', () => {
  it('POST starts a session that runs at once, taking its inputs; GET shows it to the tenant', async () => {
    const r = await startSession(t.alice.access_token, 'iron_ingot', 2);
    expect(r.id).toMatch(/^cs_/);
    expect(r.session).toMatchObject({
      status: 'running',
      recipeId: 'iron_ingot',
      quantity: 2,
      consumed: { iron_ore: 4 },
      stageName: 'smelting',
    });
    expect(r.queue.entries[0]).toMatchObject({ sessionId: r.id, position: 1, status: 'running' });
    const mats = await api(`/api/crafting/materials/${t.alice.user_id}`, t.alice.access_token);
    expect(mats.body.materials.iron_ore).toBe(6);
    const seen = await api(`/api/crafting/sessions/${r.id}`, t.bob.access_token);
    expect(seen.status).toBe(200);
    expect(seen.body.sessionId).toBe(r.id);
  });

  it('refuses bad orders and changes nothing', async () => {
    const before = (await api(`/api/crafting/queue/${t.alice.user_id}`, t.alice.access_token)).body;
    for (const body of [
      { recipeId: 'gold_bar', quantity: 1 },
      { recipeId: 'plank', quantity: 0 },
      { recipeId: 'plank', quantity: 11 },
      { recipeId: 'plank', extra: 1 },
      {},
    ]) {
      expectError(await api('/api/crafting/sessions', t.alice.access_token, { method: 'POST', body }), 400, 'INVALID_REQUEST');
    }
    expectError(
      await api('/api/crafting/sessions', undefined, { method: 'POST', body: { recipeId: 'plank' } }),
      401,
      'AUTHENTICATION_REQUIRED',
    );
    const after = (await api(`/api/crafting/queue/${t.alice.user_id}`, t.alice.access_token)).body;
    expect(after.length).toBe(before.length);
  });

  it("another tenant's session is not found; unknown and malformed ids are 404 and 400", async () => {
    const r = await startSession(t.alice.access_token, 'plank');
    const other = await crafters();
    expectError(await api(`/api/crafting/sessions/${r.id}`, other.alice.access_token), 404, 'NOT_FOUND');
    expectError(await api(`/api/crafting/sessions/${r.id}`, other.admin.access_token, { method: 'DELETE' }), 404, 'NOT_FOUND');
    expectError(await api('/api/crafting/sessions/cs_nothing_here', t.alice.access_token), 404, 'NOT_FOUND');
    expectError(await api('/api/crafting/sessions/bad.id', t.alice.access_token), 400, 'INVALID_REQUEST');
    expectError(
      await api(`/api/crafting/sessions/${r.id}`, t.alice.access_token, { headers: { 'X-Tenant-ID': other.tenant } }),
      403,
      'TENANT_VIOLATION',
    );
  });

  it('stages advance by the actor alarm; completion adds the output and quality; D1 gets the row', async () => {
    const r = await startSession(t.bob.access_token, 'plank', 1);
    await advance(t.tenant, r.id, 3_000);
    const done = await api(`/api/crafting/sessions/${r.id}`, t.bob.access_token);
    expect(done.body).toMatchObject({ status: 'completed', output: { itemId: 'plank', quantity: 2 }, progress: 1 });
    expect(done.body.quality).toBeGreaterThanOrEqual(0);
    const mats = await api(`/api/crafting/materials/${t.bob.user_id}`, t.bob.access_token);
    expect(mats.body.materials.plank).toBeGreaterThanOrEqual(2);
    // The write-behind flush runs on the actor's alarm.
    await sessionStub(t.tenant, r.id).configure({ flushDelayMs: 0 });
    await runDurableObjectAlarm(sessionStub(t.tenant, r.id));
    const row = await env.DB.prepare('SELECT status, quality, output FROM crafting_sessions WHERE tenant_id = ? AND id = ?')
      .bind(t.tenant, r.id)
      .first<{ status: string; quality: number; output: string }>();
    expect(row?.status).toBe('completed');
    expect(JSON.parse(row?.output ?? 'null')).toEqual({ itemId: 'plank', quantity: 2 });
  });

  it('pause, resume and cancel: owner or admin only; cancel returns the inputs by the rule', async () => {
    const t = await crafters();
    const r = await startSession(t.alice.access_token, 'health_potion', 1);
    const path = `/api/crafting/sessions/${r.id}`;
    expectError(await api(`${path}/pause`, t.bob.access_token, { method: 'POST' }), 403, 'AUTHORIZATION_FAILED');
    const paused = await api(`${path}/pause`, t.alice.access_token, { method: 'POST' });
    expect(paused.body.status, JSON.stringify(paused.body)).toBe('paused');
    expectError(await api(`${path}/pause`, t.alice.access_token, { method: 'POST' }), 409, 'CONFLICT');
    expect((await api(`${path}/resume`, t.admin.access_token, { method: 'POST' })).body.status).toBe('running');
    const before = (await api(`/api/crafting/materials/${t.alice.user_id}`, t.alice.access_token)).body.materials;
    expectError(await api(path, t.bob.access_token, { method: 'DELETE' }), 403, 'AUTHORIZATION_FAILED');
    const cancelled = await api(path, t.alice.access_token, { method: 'DELETE' });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', returned: { herb: 2, water: 1 } });
    const after = (await api(`/api/crafting/materials/${t.alice.user_id}`, t.alice.access_token)).body.materials;
    expect(after.herb).toBe(before.herb + 2);
    expectError(await api(path, t.alice.access_token, { method: 'DELETE' }), 409, 'CONFLICT');
  });

  it('a session without its inputs waits; a grant starts it and tells its watchers', async () => {
    const c = await crafters();
    // Two leather armors need 8 leather; the kit has 6: the second waits for materials.
    const a = await startSession(c.alice.access_token, 'leather_armor');
    const b = await startSession(c.alice.access_token, 'leather_armor');
    expect(b.session.status).toBe('queued');
    const queue = await api(`/api/crafting/queue/${c.alice.user_id}`, c.alice.access_token);
    expect(queue.body.entries.map((e: { sessionId: string; status: string }) => [e.sessionId, e.status])).toEqual([
      [a.id, 'running'],
      [b.id, 'waiting_materials'],
    ]);
    expect(queue.body.entries[1].missing).toEqual({ leather: 2 });
    expectError(await api(`/api/crafting/queue/${c.alice.user_id}`, c.bob.access_token), 403, 'AUTHORIZATION_FAILED');

    const watcher = await openCraftSocket(`/ws/crafting/${b.id}`, c.alice.access_token);
    const q = await openCraftSocket(`/ws/queue/${c.alice.user_id}`, c.alice.access_token);
    await api(`/api/crafting/materials/${c.alice.user_id}`, c.service, { method: 'POST', body: { changes: { leather: 2 } } });
    const notice = await watcher.waitFor((f) => f.type === 'material_notification' && f.data.status === 'available');
    // 6 + 2 leather, all 8 taken by the two armors.
    expect(notice.data.materials.leather ?? 0).toBe(0);
    expect(notice.data.missing).toEqual({});
    await watcher.waitFor((f) => f.type === 'session_started');
    await q.waitFor((f) => f.type === 'session_started' && f.data.sessionId === b.id);
    await q.waitFor((f) => f.type === 'material_update');
    const now = await api(`/api/crafting/sessions/${b.id}`, c.alice.access_token);
    expect(now.body.status).toBe('running');
    watcher.close();
    q.close();
  });
});

describe('GET /ws/crafting/{session_id}', () => {
  it('sends the state first, then events; answers ping; resyncs on reconnect from the log', async () => {
    const t = await crafters();
    const r = await startSession(t.alice.access_token, 'plank');
    const s = await openCraftSocket(`/ws/crafting/${r.id}`, t.bob.access_token);
    const hello = s.frames[0]!;
    expect(hello).toMatchObject({
      type: 'connected',
      sessionId: r.id,
      data: { heartbeatIntervalMs: 30_000, compression: 'none' },
    });
    expect(hello.data.state.sessionId).toBe(r.id);
    s.send({ type: 'ping', id: 'p1', timestamp: 42 });
    expect(await s.waitFor((f) => f.type === 'pong')).toMatchObject({ id: 'p1', data: { timestamp: 42 } });
    s.send({ type: 'pause', id: 'c1' });
    const refused = await s.waitFor((f) => f.type === 'error' && f.id === 'c1');
    expect(refused.data.code).toBe('AUTHORIZATION_FAILED');
    s.send({ type: 'warp' });
    expect((await s.waitFor((f) => f.type === 'error' && f.data.details?.issue === 'unknown_message_type')).data.code).toBe(
      'INVALID_REQUEST',
    );
    s.send('{not json');
    await s.waitFor((f) => f.type === 'error' && f.data.message === 'Malformed JSON frame');
    const lastEventId = hello.data.lastEventId;
    s.close();

    await api(`/api/crafting/sessions/${r.id}/pause`, t.alice.access_token, { method: 'POST' });
    await api(`/api/crafting/sessions/${r.id}/resume`, t.alice.access_token, { method: 'POST' });
    const again = await openCraftSocket(`/ws/crafting/${r.id}?lastEventId=${lastEventId}`, t.bob.access_token);
    const resync = await again.waitFor((f) => f.type === 'resync');
    expect(resync.data.truncated).toBe(false);
    expect(resync.data.events.map((e: { type: string }) => e.type)).toEqual(['session_paused', 'session_resumed']);
    expect(resync.data.events[0].eventId).toBeTruthy();

    // The owner's controls over the socket answer with an ack.
    const owner = await openCraftSocket(`/ws/crafting/${r.id}`, t.alice.access_token);
    owner.send({ type: 'pause', id: 'c2' });
    expect((await owner.waitFor((f) => f.type === 'ack' && f.id === 'c2')).data.state.status).toBe('paused');
    await again.waitFor((f) => f.type === 'session_paused');
    again.close();
    owner.close();
  });

  it('refuses a plain GET, a missing or bad token, another tenant, an unknown session, unknown subprotocols', async () => {
    const r = await startSession(t.admin.access_token, 'plank');
    const path = `/ws/crafting/${r.id}`;
    expect((await api(path, t.alice.access_token)).status).toBe(426);
    expectError(await bodyOf(upgrade(path, null)), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await bodyOf(upgrade(path, 'not.a.token')), 401, 'AUTHENTICATION_REQUIRED');
    const other = await crafters();
    expectError(await bodyOf(upgrade(path, other.alice.access_token)), 404, 'NOT_FOUND');
    expectError(await bodyOf(upgrade('/ws/crafting/cs_unknown', t.alice.access_token)), 404, 'NOT_FOUND');
    expectError(
      await bodyOf(upgrade(path, t.alice.access_token, { 'Sec-WebSocket-Protocol': 'crafting.v9' })),
      400,
      'INVALID_REQUEST',
    );
    expectError(await bodyOf(upgrade(`${path}?compression=zip`, t.alice.access_token)), 400, 'INVALID_REQUEST');
  });

  it('limits sockets per player on a session (5) and watchers per session, refusing with 429 before the upgrade', async () => {
    const t = await crafters();
    const r = await startSession(t.alice.access_token, 'plank');
    const path = `/ws/crafting/${r.id}`;
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await openCraftSocket(path, t.alice.access_token));
    const sixth = await bodyOf(upgrade(path, t.alice.access_token));
    expectError(sixth, 429, 'RATE_LIMIT_EXCEEDED');
    expect(sixth.body.details).toMatchObject({ issue: 'too_many_connections', limit: 5 });
    // Another player of the tenant still gets in: the limit is per player.
    const bob = await openCraftSocket(path, t.bob.access_token);
    // The per-session limit (200 by default), lowered for the test: 6 sockets are open.
    await sessionStub(t.tenant, r.id).configure({ craftingMaxWatchers: 6 });
    const full = await bodyOf(upgrade(path, t.admin.access_token));
    expectError(full, 429, 'RATE_LIMIT_EXCEEDED');
    expect(full.body.details).toMatchObject({ issue: 'too_many_watchers', limit: 6 });
    for (const s of [...mine, bob]) s.close();
  });

  it('LZ4: negotiated by subprotocol or query; frames over the threshold are binary LZ4 frames of the JSON', async () => {
    const r = await startSession(t.alice.access_token, 'plank');
    const s = await openCraftSocket(`/ws/crafting/${r.id}`, t.alice.access_token, {
      'Sec-WebSocket-Protocol': 'crafting.v1.lz4, crafting.v1',
    });
    expect(s.protocol).toBe('crafting.v1.lz4');
    // The connected frame carries the whole state (> 512 bytes): it came compressed.
    expect(s.frames[0]).toMatchObject({ type: 'connected', lz4: true, data: { compression: 'lz4' } });
    s.send({ type: 'ping' });
    const pong = await s.waitFor((f) => f.type === 'pong');
    expect(pong.lz4).toBeUndefined(); // small frames stay JSON text
    const q = await openCraftSocket(`/ws/crafting/${r.id}?compression=lz4`, t.alice.access_token);
    expect(q.protocol).toBeNull();
    expect(q.frames[0]).toMatchObject({ type: 'connected', lz4: true });
    s.close();
    q.close();
  });
});

describe('GET /ws/queue/{player_id}', () => {
  it('the player or an admin watch the queue; others are refused', async () => {
    const s = await openCraftSocket(`/ws/queue/${t.bob.user_id}`, t.bob.access_token);
    expect(s.frames[0]).toMatchObject({ type: 'connected', playerId: String(t.bob.user_id) });
    expect(Array.isArray(s.frames[0]!.data.queue.entries)).toBe(true);
    const r = await startSession(t.bob.access_token, 'plank');
    const update = await s.waitFor((f) => f.type === 'queue_update' && f.data.sessionId === r.id);
    expect(update.eventId).toBeTruthy();
    expect(update.data.queue.entries.some((e: { sessionId: string }) => e.sessionId === r.id)).toBe(true);
    const admin = await openCraftSocket(`/ws/queue/${t.bob.user_id}`, t.admin.access_token);
    expectError(await bodyOf(upgrade(`/ws/queue/${t.bob.user_id}`, t.alice.access_token)), 403, 'AUTHORIZATION_FAILED');
    expectError(await bodyOf(upgrade(`/ws/queue/${t.bob.user_id}`, t.service)), 403, 'AUTHORIZATION_FAILED');
    s.close();
    admin.close();
  });

  it('limits sockets on one queue to 5, refusing the sixth with 429', async () => {
    const t = await crafters();
    const path = `/ws/queue/${t.bob.user_id}`;
    const open = [];
    for (let i = 0; i < 5; i++) open.push(await openCraftSocket(path, i % 2 ? t.admin.access_token : t.bob.access_token));
    const sixth = await bodyOf(upgrade(path, t.bob.access_token));
    expectError(sixth, 429, 'RATE_LIMIT_EXCEEDED');
    expect(sixth.body.details).toMatchObject({ issue: 'too_many_connections', limit: 5 });
    for (const s of open) s.close();
  });

  it('queue and session actors keep state across eviction (SQLite)', async () => {
    const before = await queueStub(t.tenant, String(t.bob.user_id)).materials({
      userId: String(t.bob.user_id),
      tenantId: t.tenant,
      role: 'player',
      username: 'bob',
    });
    expect(before.ok).toBe(true);
  });
});

async function bodyOf(res: Promise<Response>): Promise<{ status: number; body: ReturnType<typeof JSON.parse> }> {
  const r = await res;
  return { status: r.status, body: await r.json() };
}
