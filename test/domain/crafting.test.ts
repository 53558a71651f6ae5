import { describe, expect, it } from 'vitest';
import {
  type CraftingSession,
  changeMaterials,
  createSession,
  MAX_PAUSE_MS,
  nextDeadline,
  progressOf,
  qualityOf,
  RECIPES,
  reduce,
  STARTER_KIT,
} from '../../src/domain/crafting';
import {
  adjustMaterials,
  admit,
  createQueue,
  enqueue,
  finish,
  MAX_QUEUE_LENGTH,
  queueStatus,
  report,
} from '../../src/domain/crafting-queue';
import { ApiError } from '../../src/errors';

const T0 = 1_700_000_000_000;
const session = (recipeId = 'iron_ingot', quantity = 1, id = 's1'): CraftingSession =>
  createSession({ id, playerId: 'p1', recipeId, quantity }, T0);

const errorOf = (fn: () => unknown): ApiError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
};

describe('recipes and materials', () => {
  it('every recipe has inputs, stages and an output; the starter kit covers every raw recipe', () => {
    for (const r of RECIPES) {
      expect(r.stages.length).toBeGreaterThan(0);
      expect(r.output.quantity).toBeGreaterThan(0);
    }
    for (const id of ['iron_ingot', 'plank', 'health_potion', 'leather_armor', 'mana_crystal']) {
      const r = RECIPES.find((x) => x.id === id)!;
      for (const [m, n] of Object.entries(r.inputs)) expect(STARTER_KIT[m] ?? 0).toBeGreaterThanOrEqual(n);
    }
  });

  it('changes materials and refuses unknown ids, fractions, going below zero', () => {
    expect(changeMaterials({ wood: 2 }, { wood: -2, herb: 3 })).toEqual({ herb: 3 });
    expect(errorOf(() => changeMaterials({}, { gold: 1 })).details?.issue).toBe('unknown_material');
    expect(errorOf(() => changeMaterials({}, { wood: 1.5 })).details?.issue).toBe('not_integer');
    const e = errorOf(() => changeMaterials({ wood: 1 }, { wood: -2 }));
    expect(e.code).toBe('CONFLICT');
    expect(e.details?.issue).toBe('insufficient_materials');
  });

  it('refuses unknown recipes and quantities out of range', () => {
    expect(errorOf(() => session('gold_bar')).details?.issue).toBe('unknown_recipe');
    expect(errorOf(() => session('plank', 0)).details?.field).toBe('quantity');
    expect(errorOf(() => session('plank', 11)).details?.field).toBe('quantity');
    expect(errorOf(() => session('plank', 1.5)).details?.field).toBe('quantity');
  });
});

describe('a crafting session', () => {
  it('starts, advances stage by stage with time, completes with output and quality', () => {
    let s = session('iron_ingot', 2);
    const started = reduce(s, { type: 'start' }, T0);
    s = started.session;
    expect(s.status).toBe('running');
    expect(s.consumed).toEqual({ iron_ore: 4 });
    expect(nextDeadline(s)).toBe(T0 + 8_000); // smelting 4 s × 2
    expect(reduce(s, { type: 'tick' }, T0 + 7_999).events).toEqual([]);
    const mid = reduce(s, { type: 'tick' }, T0 + 8_000);
    expect(mid.events.map((e) => e.type)).toEqual(['stage_changed']);
    expect(mid.session.stageIndex).toBe(1);
    expect(nextDeadline(mid.session)).toBe(T0 + 12_000);
    expect(progressOf(mid.session, T0 + 10_000)).toMatchObject({ stageName: 'cooling', stageProgress: 0.5, progress: 10 / 12 });
    const done = reduce(mid.session, { type: 'tick' }, T0 + 50_000);
    expect(done.events.map((e) => e.type)).toEqual(['session_completed']);
    expect(done.session).toMatchObject({
      status: 'completed',
      finishedAt: T0 + 12_000,
      output: { itemId: 'iron_ingot', quantity: 2 },
    });
    expect(done.session.quality).toBe(qualityOf(done.session).quality);
    expect(nextDeadline(done.session)).toBeNull();
  });

  it('a late tick passes every stage it missed, in order', () => {
    const s = reduce(session('iron_sword'), { type: 'start' }, T0).session;
    const r = reduce(s, { type: 'tick' }, T0 + 60_000);
    expect(r.events.map((e) => e.type)).toEqual(['stage_changed', 'stage_changed', 'session_completed']);
    expect(r.session.finishedAt).toBe(T0 + 15_000);
  });

  it('pause freezes time; resume continues where it stopped; quality drops with pauses', () => {
    let s = reduce(session('plank'), { type: 'start' }, T0).session;
    s = reduce(s, { type: 'pause' }, T0 + 1_000).session;
    expect(nextDeadline(s)).toBe(T0 + 1_000 + MAX_PAUSE_MS);
    expect(progressOf(s, T0 + 100_000).elapsedMs).toBe(1_000);
    s = reduce(s, { type: 'resume' }, T0 + 10_000).session;
    expect(nextDeadline(s)).toBe(T0 + 12_000);
    const done = reduce(s, { type: 'tick' }, T0 + 12_000).session;
    expect(done.status).toBe('completed');
    expect(done.pauses).toBe(1);
    const unpaused = reduce(reduce(session('plank'), { type: 'start' }, T0).session, { type: 'tick' }, T0 + 3_000).session;
    expect(done.quality).toBe(Math.max(0, (unpaused.quality as number) - 5));
  });

  it('cancel returns everything before the first stage ends, half after, and refuses a finished session', () => {
    const s = reduce(session('iron_ingot', 3), { type: 'start' }, T0).session; // 6 iron_ore
    expect(reduce(s, { type: 'cancel' }, T0 + 1_000).session.returned).toEqual({ iron_ore: 6 });
    const late = reduce(s, { type: 'cancel' }, T0 + 13_000);
    expect(late.events.map((e) => e.type)).toEqual(['stage_changed', 'session_cancelled']);
    expect(late.session.returned).toEqual({ iron_ore: 3 });
    expect(errorOf(() => reduce(late.session, { type: 'cancel' }, T0 + 14_000)).details?.issue).toBe('invalid_transition');
    expect(reduce(session(), { type: 'cancel' }, T0).session).toMatchObject({ status: 'cancelled', returned: {} });
  });

  it('refuses transitions the state does not allow, changing nothing', () => {
    const q = session();
    expect(errorOf(() => reduce(q, { type: 'pause' }, T0)).code).toBe('CONFLICT');
    expect(errorOf(() => reduce(q, { type: 'resume' }, T0)).code).toBe('CONFLICT');
    const r = reduce(q, { type: 'start' }, T0).session;
    expect(errorOf(() => reduce(r, { type: 'start' }, T0)).code).toBe('CONFLICT');
    expect(q.status).toBe('queued');
  });

  it('a session paused too long fails with the cancel refund', () => {
    let s = reduce(session('plank', 4), { type: 'start' }, T0).session;
    s = reduce(s, { type: 'pause' }, T0 + 100).session;
    const r = reduce(s, { type: 'tick' }, T0 + 100 + MAX_PAUSE_MS);
    expect(r.session).toMatchObject({ status: 'failed', failureReason: 'abandoned', returned: { wood: 4 } });
    expect(r.events.map((e) => e.type)).toEqual(['session_failed']);
  });
});

describe('a player queue', () => {
  it('starts at most maxRunning in order, skips entries without materials, estimates the rest', () => {
    let q = createQueue('p1', 2);
    q = enqueue(q, { sessionId: 'a', recipeId: 'leather_armor', quantity: 1 }, T0); // 4 of 6 leather
    q = enqueue(q, { sessionId: 'b', recipeId: 'leather_armor', quantity: 1 }, T0); // lacks 2 leather
    q = enqueue(q, { sessionId: 'c', recipeId: 'plank', quantity: 1 }, T0);
    q = enqueue(q, { sessionId: 'd', recipeId: 'plank', quantity: 1 }, T0);
    const r = admit(q, T0);
    expect(r.started.map((s) => s.sessionId)).toEqual(['a', 'c']);
    expect(r.blocked).toEqual([{ sessionId: 'b', missing: { leather: 2 } }]);
    expect(r.state.materials.leather).toBe(2);
    expect(r.state.materials.wood).toBe(9);
    const status = queueStatus(r.state, T0);
    expect(status.map((s) => [s.sessionId, s.position, s.status])).toEqual([
      ['a', 1, 'running'],
      ['c', 2, 'running'],
      ['b', 3, 'waiting_materials'],
      ['d', 4, 'waiting'],
    ]);
    // d waits for the earlier of a (10 s) and c (3 s) to finish
    expect(status[3]).toMatchObject({
      estimatedStart: new Date(T0 + 3_000).toISOString(),
      estimatedFinish: new Date(T0 + 6_000).toISOString(),
    });
    expect(status[2]?.estimatedStart).toBeNull();

    // c completes: its output is the player's, d starts; a grant unblocks b once a slot frees
    let next = finish(r.state, 'c', { plank: 2 });
    expect(next.materials.plank).toBe(2);
    const r2 = admit(next, T0 + 3_000);
    expect(r2.started.map((s) => s.sessionId)).toEqual(['d']);
    next = adjustMaterials(finish(r2.state, 'a', { leather_armor: 1 }), { leather: 5 });
    expect(admit(next, T0 + 10_000).started.map((s) => s.sessionId)).toEqual(['b']);
  });

  it('a paused entry keeps its slot and its remaining time', () => {
    let q = admit(enqueue(createQueue('p1', 1), { sessionId: 'a', recipeId: 'plank', quantity: 1 }, T0), T0).state;
    q = report(q, 'a', 'paused', 2_000, T0 + 1_000);
    q = enqueue(q, { sessionId: 'b', recipeId: 'plank', quantity: 1 }, T0);
    expect(admit(q, T0 + 50_000).started).toEqual([]);
    expect(queueStatus(q, T0 + 50_000)[1]?.estimatedStart).toBe(new Date(T0 + 52_000).toISOString());
  });

  it('refuses a full queue and bad orders', () => {
    let q = createQueue('p1');
    for (let i = 0; i < MAX_QUEUE_LENGTH; i++) q = enqueue(q, { sessionId: `s${i}`, recipeId: 'plank', quantity: 1 }, T0);
    expect(errorOf(() => enqueue(q, { sessionId: 'x', recipeId: 'plank', quantity: 1 }, T0)).details?.issue).toBe('queue_full');
    expect(errorOf(() => enqueue(createQueue('p'), { sessionId: 'x', recipeId: 'nope', quantity: 1 }, T0)).code).toBe(
      'INVALID_REQUEST',
    );
    expect(errorOf(() => adjustMaterials(createQueue('p'), { wood: -11 })).code).toBe('CONFLICT');
  });
});
