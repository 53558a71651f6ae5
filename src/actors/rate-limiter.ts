import { DurableObject } from 'cloudflare:workers';
import { Budgets } from '../core/budgets';
import { type GiveBack, grantLease, type LeaseGrant } from '../core/leases';
import type { RateDecision, RateRule } from '../core/limiter';
import { accessRevocation, type Revocation } from '../db/revocations';
import type { Env } from '../env';

/**
 * How long a user's limiter trusts a revocation answer it read from D1. Every write that revokes (logout, a
 * role change, refresh-token reuse) also tells this object to forget, so this only bounds the staleness when
 * that message is lost (the Worker died between the D1 write and the call).
 */
export const REVOCATION_CACHE_MS = 10_000;

/** Tokens whose answer is cached per user: a user has a handful of live tokens; more are read again. */
const REVOCATION_CACHE_SIZE = 32;

/** The token a request is made with, for the revocation check folded into the user's limiter call. */
export interface SessionRef {
  jti: string;
  sessionId?: string;
}

/** A rule as the limiter object sees it: its id names the stored state (`global`, `auth`, `zone_create`, ...). */
export interface NamedRule extends RateRule {
  id: string;
}

export interface RuleDecision extends RateDecision {
  id: string;
}

/**
 * Exact rate limits for one key (`ip:203.0.113.5`, `user:<tenant>:<userId>`): one object per key, so every hit
 * for the key is counted in one place, in order. The sliding-window logs live in memory and are persisted by
 * `Budgets` (a write per tenth of a limit, and once when idle), so eviction or a restart never resets a count.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly budgets: Budgets;
  /** Revocation answers by `jti`, oldest first (see `REVOCATION_CACHE_MS`). */
  private readonly revocations = new Map<string, { revoked: Revocation; at: number }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.budgets = new Budgets(ctx.storage, 'window|', 'windows');
  }

  async ping(): Promise<string> {
    return 'pong';
  }

  /**
   * One request costing `cost` against every rule, all or nothing: if any rule refuses, nothing is consumed
   * (a refused request must not eat into the quota of the rules it passed). Decisions come back in rule order.
   */
  async hit(rules: NamedRule[], cost = 1): Promise<RuleDecision[]> {
    const now = Date.now();
    const decisions = rules.map((r) => ({ id: r.id, ...this.budgets.check(r.id, r, now, cost) }));
    if (decisions.some((d) => !d.allowed)) {
      return decisions.map((d, i) => (d.allowed ? { id: d.id, ...this.budgets.check(d.id, rules[i] as NamedRule, now, 0) } : d));
    }
    for (const r of rules) this.budgets.commit(r.id, r, now, cost);
    return decisions;
  }

  /**
   * The per-user limits and the revocation check of one REST request in one call: a revoked token is refused
   * before any rule is counted (`revoked` set, no decisions). The answer is read from D1 at most once per
   * `REVOCATION_CACHE_MS` per token, and at once after `forgetRevocations()`.
   */
  async admit(
    rules: NamedRule[],
    cost: number,
    session: SessionRef,
  ): Promise<{ revoked: Revocation; decisions: RuleDecision[] }> {
    const revoked = await this.revocation(session);
    if (revoked) return { revoked, decisions: [] };
    return { revoked: null, decisions: await this.hit(rules, cost) };
  }

  /**
   * A lease of up to `want` hits of `rule` for an isolate to spend in memory (`core/leases.ts`), after taking back
   * the unspent hits of its previous lease.
   */
  async lease(rule: NamedRule, want: number, giveBack?: GiveBack): Promise<LeaseGrant> {
    return grantLease(this.budgets, rule.id, rule, want, Date.now(), giveBack);
  }

  /**
   * `lease` for the user limit of authenticated requests, with the token's revocation check of `admit`: a revoked
   * token gets no lease (`grant` null). A lease's answer stands in the isolate for the lease's second.
   */
  async admitLease(
    rule: NamedRule,
    want: number,
    session: SessionRef,
    giveBack?: GiveBack,
  ): Promise<{ revoked: Revocation; grant: LeaseGrant | null }> {
    const revoked = await this.revocation(session);
    const now = Date.now();
    if (!revoked) return { revoked: null, grant: grantLease(this.budgets, rule.id, rule, want, now, giveBack) };
    if (giveBack) this.budgets.giveBack(rule.id, giveBack.stamp, giveBack.count, now);
    return { revoked, grant: null };
  }

  /** The token's revocation, read from D1 at most once per `REVOCATION_CACHE_MS` (and at once after a forget). */
  private async revocation(session: SessionRef): Promise<Revocation> {
    const now = Date.now();
    let cached = this.revocations.get(session.jti);
    if (!cached || now - cached.at >= REVOCATION_CACHE_MS) {
      const revoked = await accessRevocation(this.env.DB, session.jti, session.sessionId);
      cached = { revoked, at: now };
      this.revocations.delete(session.jti);
      this.revocations.set(session.jti, cached);
      if (this.revocations.size > REVOCATION_CACHE_SIZE) this.revocations.delete(this.revocations.keys().next().value as string);
    }
    return cached.revoked;
  }

  /** Drops every cached revocation answer: called right after a write that revokes one of this user's tokens. */
  async forgetRevocations(): Promise<void> {
    this.revocations.clear();
  }

  /** Persists the exact windows now (tests: what the idle flush does a second after the last hit). */
  async flush(): Promise<void> {
    this.budgets.flush();
  }
}
