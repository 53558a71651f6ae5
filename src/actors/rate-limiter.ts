import { DurableObject } from 'cloudflare:workers';
import { type RateDecision, type RateRule, rateLimit } from '../core/limiter';
import type { Env } from '../env';

/** A rule as the limiter object sees it: its id names the stored state (`global`, `auth`, `zone_create`, ...). */
export interface NamedRule extends RateRule {
  id: string;
}

export interface RuleDecision extends RateDecision {
  id: string;
}

const TAT_PREFIX = 'tat:';

/**
 * Exact rate limits for one key (`ip:203.0.113.5`, `user:<tenant>:<userId>`): one object per key, so every hit
 * for the key is counted in one place, in order. Each rule's GCRA state (one number) is written to the object's
 * SQLite storage before the answer leaves, so eviction or a restart never resets a count.
 */
export class RateLimiter extends DurableObject<Env> {
  /** The alarm time this instance knows is set; undefined = not read yet (fresh instance). */
  private alarmAt: number | null | undefined;

  async ping(): Promise<string> {
    return 'pong';
  }

  /**
   * One request costing `cost` against every rule, all or nothing: if any rule refuses, nothing is consumed
   * (a refused request must not eat into the quota of the rules it passed). Decisions come back in rule order;
   * for a refused request the passing rules report their unchanged state.
   */
  async hit(rules: NamedRule[], cost = 1): Promise<RuleDecision[]> {
    const now = Date.now();
    const kv = this.ctx.storage.kv;
    const tats = rules.map((r) => kv.get<number>(TAT_PREFIX + r.id));
    const decisions = rules.map((r, i) => ({ id: r.id, ...rateLimit(tats[i], r, now, cost) }));
    if (decisions.some((d) => !d.allowed)) {
      return decisions.map((d, i) => (d.allowed ? { ...rateLimit(tats[i], rules[i] as NamedRule, now, 0), id: d.id } : d));
    }
    for (const d of decisions) kv.put(TAT_PREFIX + d.id, d.tat);
    await this.scheduleCleanup(Math.max(...decisions.map((d) => d.tat)));
    return decisions;
  }

  /** Once every bucket is full again the stored state says nothing; drop it so idle keys cost no storage. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let latest = 0;
    for (const [, tat] of this.ctx.storage.kv.list<number>({ prefix: TAT_PREFIX })) latest = Math.max(latest, tat);
    this.alarmAt = null;
    if (latest > now) await this.scheduleCleanup(latest);
    else await this.ctx.storage.deleteAll();
  }

  private async scheduleCleanup(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    // An alarm already set is enough: when it fires it looks again and moves itself past the latest state.
    if (this.alarmAt !== null) return;
    const when = Math.ceil(at) + 1000;
    await this.ctx.storage.setAlarm(when);
    this.alarmAt = when;
  }
}
