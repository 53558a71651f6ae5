import { abortAllDurableObjects, env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Budgets, reserveOf, type StoredBudget } from '../../src/core/budgets';

const HUNDRED = { limit: 100, windowMs: 600_000 };
const R = reserveOf(HUNDRED);
/** Hits a stored value accounts for once loaded: its exact log plus its reservation. */
const covered = (v: StoredBudget | undefined) => (v ? v.log.reduce((sum, [, n]) => sum + n, 0) + v.reserve : 0);
const settle = (storage: DurableObjectStorage) =>
  storage.sync().then(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
/** A deterministic pseudo-random sequence (no flaky seeds). */
function* numbers(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    yield x / 2 ** 31;
  }
}

describe('budgets: reservations written ahead of need', () => {
  it('a committed write covers every hit answered, whatever the hits and commits do', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    await runInDurableObject(stub, async (_, state) => {
      for (const seed of [1, 7, 42, 1_000]) {
        const budgets = new Budgets(state.storage, `t${seed}|`);
        const rand = numbers(seed);
        const now = Date.now();
        let admitted = 0;
        // What is on disk: the value at the last sync, or the value a confirmed write put (its answer waits for it).
        let committed: StoredBudget | undefined;
        for (let i = 0; i < 200; i++) {
          const cost = 1 + Math.floor((rand.next().value as number) * 3);
          const confirmedBefore = budgets.writes.confirmed;
          const d = budgets.spend('k', HUNDRED, now + i, cost);
          if (d.allowed) admitted += cost;
          if (budgets.writes.confirmed > confirmedBefore) committed = structuredClone(budgets.stored('k'));
          expect(covered(committed)).toBeGreaterThanOrEqual(admitted);
          const stored = budgets.stored('k');
          // What a crash may cost: never counted beyond a full budget, or a tenth of the limit beyond its real use.
          expect(covered(stored)).toBeLessThanOrEqual(Math.max(HUNDRED.limit, admitted + R));
          if ((rand.next().value as number) < 0.3) {
            await settle(state.storage);
            committed = structuredClone(budgets.stored('k'));
          }
        }
        expect(admitted).toBe(HUNDRED.limit);
        budgets.flush();
      }
    });
  });

  it('in steady state only the first hit waits for a commit: the rest are covered by writes made ahead', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    const writes = await runInDurableObject(stub, async (_, state) => {
      const budgets = new Budgets(state.storage, 'steady|');
      const now = Date.now();
      for (let i = 0; i < 95; i++) {
        // A hit a second: no burst, so reservations of a tenth of the limit.
        expect(budgets.spend('k', HUNDRED, now + i * 1_000).allowed).toBe(true);
        await settle(state.storage);
      }
      budgets.flush();
      return { ...budgets.writes };
    });
    // About one write per R hits, as before (one more near the limit, where no reservation reaches past the
    // budget); only the first confirmed.
    expect(writes).toEqual({ confirmed: 1, ahead: 10 });
  });

  it('a reservation prepared when a user connects covers the first hit: no confirmed write at all', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    const writes = await runInDurableObject(stub, async (_, state) => {
      const budgets = new Budgets(state.storage, 'prepared|');
      const now = Date.now();
      budgets.prepare('k', HUNDRED, now);
      expect(covered(budgets.stored('k'))).toBe(R);
      await settle(state.storage);
      // Already covered: a second connect writes nothing.
      budgets.prepare('k', HUNDRED, now);
      for (let i = 0; i < 20; i++) {
        budgets.spend('k', HUNDRED, now + i * 1_000);
        await settle(state.storage);
      }
      budgets.flush();
      return { ...budgets.writes };
    });
    expect(writes).toEqual({ confirmed: 0, ahead: 3 });
  });

  it('a burst is covered, and never reserved beyond what the key may still spend', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    await runInDurableObject(stub, async (_, state) => {
      const budgets = new Budgets(state.storage, 'burst|');
      const now = Date.now();
      budgets.prepare('k', HUNDRED, now);
      await settle(state.storage);
      // Fifty hits in the same millisecond (how far ahead depends on how long this machine's commits took).
      for (let i = 0; i < 50; i++) budgets.spend('k', HUNDRED, now);
      const stored = budgets.stored('k');
      expect(covered(stored)).toBeGreaterThanOrEqual(50);
      expect(stored?.reserve).toBeLessThanOrEqual(50);
      budgets.flush();
    });
  });

  it('a limit under 10 reserves nothing: every hit is a confirmed write', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    const writes = await runInDurableObject(stub, async (_, state) => {
      const budgets = new Budgets(state.storage, 'small|');
      const rule = { limit: 5, windowMs: 60_000 };
      for (let i = 0; i < 6; i++) budgets.spend('k', rule, Date.now());
      expect(covered(budgets.stored('k'))).toBe(5);
      budgets.flush();
      return { ...budgets.writes };
    });
    expect(writes).toEqual({ confirmed: 5, ahead: 0 });
  });

  it('moves the rows of the old SQL table under the prefix once, then drops the table', async () => {
    const stub = env.RATE_LIMITER.getByName(`budgets:${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      sql.exec('CREATE TABLE old_budgets (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      sql.exec('INSERT INTO old_budgets VALUES (?, ?)', 'k', JSON.stringify({ log: [[Date.now(), 40]], reserve: 10 }));
      const budgets = new Budgets(state.storage, 'moved|', 'old_budgets');
      expect(covered(budgets.stored('k'))).toBe(50);
      expect(budgets.check('k', HUNDRED, Date.now(), 0).remaining).toBe(50);
      expect(sql.exec("SELECT name FROM sqlite_master WHERE name = 'old_budgets'").toArray()).toEqual([]);
      // A second start finds no table and changes nothing.
      expect(covered(new Budgets(state.storage, 'moved|', 'old_budgets').stored('k'))).toBe(50);
    });
  });
});

describe('budgets: a crash or an eviction never hands out a fresh budget', () => {
  const RULE = { id: 'h', limit: 100, windowMs: 60_000 };
  for (const n of [1, 5, 6, 11, 16, 37]) {
    it(`after ${n} hits`, async () => {
      const name = `budgets:${crypto.randomUUID()}`;
      let stub = env.RATE_LIMITER.getByName(name);
      for (let i = 0; i < n; i++) expect((await stub.hit([RULE]))[0]?.allowed).toBe(true);
      // A crash: every object is aborted, whatever commits were in flight.
      await abortAllDurableObjects();
      stub = env.RATE_LIMITER.getByName(name);
      const [crashed] = await stub.hit([RULE], 0);
      expect(crashed?.remaining).toBeLessThanOrEqual(100 - n);
      expect(crashed?.remaining).toBeGreaterThanOrEqual(100 - n - 1.5 * R);
      // An eviction after the crash: still never more than was left.
      await evictDurableObject(stub);
      const [evicted] = await stub.hit([RULE], 0);
      expect(evicted?.remaining).toBeLessThanOrEqual(crashed?.remaining ?? -1);
    });
  }
});
