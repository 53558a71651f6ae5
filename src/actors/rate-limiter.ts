import { DurableObject } from 'cloudflare:workers';
import { Budgets } from '../core/budgets';
import type { RateDecision, RateRule } from '../core/limiter';
import type { Env } from '../env';

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

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.budgets = new Budgets(ctx.storage.sql, 'windows');
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

  /** Persists the exact windows now (tests: what the idle flush does two seconds after the last hit). */
  async flush(): Promise<void> {
    this.budgets.flush();
  }
}
