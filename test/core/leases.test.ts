import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/actors/rate-limiter';
import { Budgets } from '../../src/core/budgets';
import { type GiveBack, grantLease, LEASE_MARGIN_MS, LEASE_MS, LeaseBook, maxLease } from '../../src/core/leases';
import { maxInAnyWindow } from '../support/windows';

const T0 = 1_700_000_000_123;
const HUNDRED = { id: 'h', limit: 100, windowMs: 60_000 };

const freshLimiter = () => env.RATE_LIMITER.getByName(`test:${crypto.randomUUID()}`);

/** The rule's remaining in the object right now, without spending (a peek). */
const remainingIn = async (stub: DurableObjectStub<RateLimiter>) => (await stub.hit([HUNDRED], 0))[0]?.remaining;

describe('limiter leases: the object grants a batch, counted as spent at once', () => {
  it('counts a lease as spent when granted, takes back what is given back, and grants no more than remains', async () => {
    const stub = freshLimiter();
    const first = await stub.lease(HUNDRED, 5);
    expect(first.granted).toBe(5);
    expect(first.decision).toMatchObject({ allowed: true, limit: 100, remaining: 95 });
    // Recorded at the lease's expiry: the window holds it until a window after the last moment it may be spent.
    expect(first.decision.resetAt).toBe(first.stamp + HUNDRED.windowMs);
    expect(await remainingIn(stub)).toBe(95);
    // Two of the five spent; the other three come back with the next request.
    const second = await stub.lease(HUNDRED, 4, { stamp: first.stamp, count: 3 });
    expect(second.granted).toBe(4);
    expect(second.decision.remaining).toBe(100 - 2 - 4);
    // A plain hit in between sorts before the lease recorded in the future and is counted too.
    expect((await stub.hit([HUNDRED], 94))[0]?.allowed).toBe(true);
    // 2 + 94 spent and the 4 of the second lease given back: 4 remain, so 4 of the 5 asked for.
    const last = await stub.lease(HUNDRED, 5, { stamp: second.stamp, count: 4 });
    expect(last).toMatchObject({ granted: 4, decision: { allowed: true, remaining: 0 } });
    const refused = await stub.lease(HUNDRED, 1);
    expect(refused).toMatchObject({ granted: 0, decision: { allowed: false, remaining: 0 } });
    expect(refused.decision.retryAfterMs).toBeGreaterThan(0);
  });

  it('grants at most a twentieth of the limit at once', async () => {
    const grant = await freshLimiter().lease(HUNDRED, 50);
    expect(grant.granted).toBe(maxLease(HUNDRED));
    expect(maxLease({ limit: 10, windowMs: 1000 })).toBe(1);
  });

  it('refuses a bad lease size or give-back and changes nothing', async () => {
    const stub = freshLimiter();
    await runInDurableObject(stub, (_, state) => {
      const budgets = new Budgets(state.storage, 'window|');
      const now = Date.now();
      expect(() => grantLease(budgets, 'h', HUNDRED, 0, now)).toThrow(/Invalid lease size/);
      expect(() => grantLease(budgets, 'h', HUNDRED, 1.5, now)).toThrow(/Invalid lease size/);
      expect(() => grantLease(budgets, 'h', HUNDRED, 1, now, { stamp: now, count: -1 })).toThrow(/Invalid lease give-back/);
      expect(budgets.check('h', HUNDRED, now, 0).remaining).toBe(100);
    });
    // A give-back that names no lease of this key takes nothing back.
    const grant = await stub.lease(HUNDRED, 2, { stamp: 12345, count: 50 });
    expect(grant.decision.remaining).toBe(98);
  });

  it('holds any spending of two isolates and isolates that die with a lease to N in any rolling window', async () => {
    await runInDurableObject(freshLimiter(), (_, state) => {
      const budgets = new Budgets(state.storage, 'lease_sim|');
      const rule = { limit: 40, windowMs: 5_000 };
      let seed = 11;
      const rand = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      type Held = { stamp: number; left: number; until: number };
      const isolates: Array<Held | undefined> = [undefined, undefined];
      const spent: number[] = [];
      let t = T0;
      while (t < T0 + 6 * rule.windowMs) {
        t += Math.floor(rand() * 120);
        const i = rand() < 0.5 ? 0 : 1;
        let h = isolates[i];
        if (rand() < 0.02) {
          isolates[i] = undefined; // the isolate died: its unspent hits stay counted
          continue;
        }
        if (h && h.left > 0 && t < h.until) {
          // Spend at the latest moment the lease allows, the worst case for the window.
          const at = rand() < 0.3 ? h.until - 1 : t;
          h.left--;
          spent.push(at);
          continue;
        }
        const giveBack: GiveBack | undefined = h && h.left > 0 ? { stamp: h.stamp, count: h.left } : undefined;
        const grant = grantLease(budgets, 'k', rule, 1 + Math.floor(rand() * 6), t, giveBack);
        h = grant.granted ? { stamp: grant.stamp, left: grant.granted - 1, until: t + LEASE_MS - LEASE_MARGIN_MS } : undefined;
        isolates[i] = h;
        if (grant.granted) spent.push(t);
      }
      spent.sort((a, b) => a - b);
      expect(maxInAnyWindow(spent, rule.windowMs)).toBeLessThanOrEqual(rule.limit);
      // And the limit is reached, not starved: leases given back are spent by someone.
      expect(maxInAnyWindow(spent, rule.windowMs)).toBeGreaterThanOrEqual(rule.limit - 2 * maxLease(rule));
      budgets.flush();
    });
  });
});

describe('limiter leases: the isolate spends them in memory', () => {
  const renewFrom = (stub: DurableObjectStub<RateLimiter>, calls: { n: number }) => async (want: number, giveBack?: GiveBack) => {
    calls.n++;
    return { grant: await stub.lease(HUNDRED, want, giveBack), extra: null };
  };

  it('counts Remaining down by one per hit in one isolate, and makes fewer object calls than hits', async () => {
    const stub = freshLimiter();
    const book = new LeaseBook<null>();
    const calls = { n: 0 };
    const remaining: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { decision } = await book.spend('k', HUNDRED, renewFrom(stub, calls));
      expect(decision?.allowed).toBe(true);
      remaining.push(decision?.remaining ?? -1);
    }
    expect(remaining).toEqual(Array.from({ length: 30 }, (_, i) => 99 - i));
    expect(calls.n).toBeLessThan(30);
    // Reset: a window after this hit (the hit itself), not after the lease's recorded expiry.
    const { decision } = await book.spend('k', HUNDRED, renewFrom(stub, calls));
    expect(decision?.resetAt).toBeLessThanOrEqual(Date.now() + HUNDRED.windowMs);
  });

  it('two isolates on one key admit exactly the limit between them, then both refuse', async () => {
    const stub = freshLimiter();
    const books = [new LeaseBook<null>(), new LeaseBook<null>()];
    const calls = { n: 0 };
    let admitted = 0;
    // Until the last try of each was refused: then neither holds a lease (a refusal renews and gets nothing).
    const refused = [false, false];
    for (let i = 0; !(refused[0] && refused[1]) && i < 400; i++) {
      const which = i % 3 === 0 ? 1 : 0;
      const book = books[which] as LeaseBook<null>;
      const { decision } = await book.spend('k', HUNDRED, renewFrom(stub, calls));
      if (decision?.allowed) admitted++;
      refused[which] = !decision?.allowed;
    }
    expect(refused).toEqual([true, true]);
    expect(admitted).toBe(HUNDRED.limit);
  });

  it('concurrent hits on one key share one renewal instead of calling the object each', async () => {
    const stub = freshLimiter();
    const book = new LeaseBook<null>();
    const calls = { n: 0 };
    const spent = await Promise.all(Array.from({ length: 5 }, () => book.spend('k', HUNDRED, renewFrom(stub, calls))));
    expect(spent.every((s) => s.decision?.allowed)).toBe(true);
    expect(calls.n).toBeLessThan(5);
    // Every hit is counted once in the object, with the lease's unspent part (if any) still held.
    expect(await remainingIn(stub)).toBeLessThanOrEqual(95);
  });

  it('an expired lease gives its unspent hits back at the next renewal', async () => {
    const stub = freshLimiter();
    const book = new LeaseBook<null>();
    const calls = { n: 0 };
    for (let i = 0; i < 8; i++) await book.spend('user:t:1\nj', HUNDRED, renewFrom(stub, calls));
    book.expire('user:t:1\n');
    await book.spend('user:t:1\nj', HUNDRED, renewFrom(stub, calls));
    // 9 spent; whatever the new lease holds beyond the ninth is counted too, and nothing of the old one.
    const { decision } = await book.spend('user:t:1\nj', HUNDRED, renewFrom(stub, calls));
    expect(decision?.remaining).toBe(100 - 10);
  });
});
