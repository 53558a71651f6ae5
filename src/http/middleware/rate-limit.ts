import type { Context, MiddlewareHandler } from 'hono';
import { ipLimiterKey, rateLimiterActor, tenantLimiterKey, userLimiterKey } from '../../actors/keys';
import type { Identity } from '../../auth/identity';
import { revokedError } from '../../auth/tokens';
import { LeaseBook } from '../../core/leases';
import { mostRestrictive, type RateDecision } from '../../core/limiter';
import { LIMITS, type LimitName, type LimitScope, retryAfterSeconds } from '../../core/limits';
import { accessRevocation, type Revocation } from '../../db/revocations';
import { ApiError } from '../../errors';
import type { AppEnv } from '../context';

/** The caller's IP: Cloudflare's `CF-Connecting-IP`, else the first `X-Forwarded-For` hop (local dev), else 'unknown'. */
export function clientIp(headers: Headers): string {
  const cf = headers.get('cf-connecting-ip')?.trim();
  if (cf) return cf;
  const forwarded = headers.get('x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded || 'unknown';
}

/** `X-RateLimit-*` for a decision; `Reset` is the Unix second the bucket is full again. */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(d.limit),
    'X-RateLimit-Remaining': String(d.remaining),
    'X-RateLimit-Reset': String(Math.ceil(d.resetAt / 1000)),
  };
}

/** Sets headers on the finished response, re-wrapping it once if its headers are immutable (a fetched response). */
function setResponseHeaders(c: Context<AppEnv>, headers: Record<string, string>): void {
  try {
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  } catch {
    if (c.res.status === 101) return; // an upgrade's socket cannot be re-wrapped; it carries no body anyway
    c.res = new Response(c.res.body, c.res);
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  }
}

/**
 * This isolate's limiter leases (`core/leases.ts`): the per-IP global limit of most requests, and the per-user limit
 * of authenticated requests with the token's revocation answer (by user key and token: `<key>\n<jti>`).
 */
const ipLeases = new LeaseBook<null>();
const userLeases = new LeaseBook<Revocation>();

const ruleOf = (name: LimitName) => {
  const { id, limit, windowMs } = LIMITS[name];
  return { id, limit, windowMs };
};

/** Makes this isolate's leases for the user renew at their next request, asking the revocation again. */
export function expireUserLeases(tenantId: string, userId: string | number): void {
  userLeases.expire(`${userLimiterKey(tenantId, String(userId))}\n`);
}

/**
 * Tells the user's limiter object that one of their tokens or sessions was just revoked (see `admitUser`), after
 * making this isolate's leases for the user ask again. Other isolates' leases answer for at most their second.
 */
export async function forgetRevocations(c: Context<AppEnv>, tenantId: string, userId: string | number): Promise<void> {
  expireUserLeases(tenantId, userId);
  try {
    await rateLimiterActor(c.env, userLimiterKey(tenantId, String(userId))).forgetRevocations();
  } catch (err) {
    // The cached answer then lives out its REVOCATION_CACHE_MS; sockets learn from D1 in their own sweep.
    console.error('could not tell the user limiter of a revocation', err);
  }
}

/** Durable Object key: one limiter object per IP, per (tenant, user) or per tenant. */
function limiterKey(c: Context<AppEnv>, by: LimitScope): string {
  const identity = c.get('identity') as Identity | undefined;
  // A 'user' or 'tenant' limit on a route reached without a verified identity falls back to counting the IP.
  if (by === 'user' && identity) return userLimiterKey(identity.tenantId, identity.userId);
  if (by === 'tenant' && identity) return tenantLimiterKey(identity.tenantId);
  return ipLimiterKey(clientIp(c.req.raw.headers));
}

/**
 * Counts `cost` against every rule in `names` in ONE call to that key's `RateLimiter` object (all or nothing)
 * and records the most restrictive decision for the `X-RateLimit-*` headers. A refusal throws 429
 * `RATE_LIMIT_EXCEEDED` naming the refusing rule, with `retry_after` and `Retry-After`. Routes whose cost is
 * known only from the body (a batch of events) call it from the handler.
 */
export async function spendLimits(c: Context<AppEnv>, names: LimitName[], by: LimitScope, cost = 1): Promise<void> {
  const rules = names.map((n) => LIMITS[n]);
  const named = rules.map(({ id, limit, windowMs }) => ({ id, limit, windowMs }));
  let decisions: RateDecision[] = [];
  try {
    decisions = await rateLimiterActor(c.env, limiterKey(c, by)).hit(named, cost);
  } catch (err) {
    // Fail open: an unreachable limiter must not take the API down with it.
    console.error(`rate limiter ${rules.map((r) => r.id).join('+')} unavailable`, err);
  }
  refuseOver(c, rules, decisions);
}

/**
 * The user limits of an authenticated request and its token's revocation check in ONE call to the user's
 * limiter object (which caches the revocation answer; no D1 read per request), or, for the user limit alone, no
 * call while this isolate's lease for the user and token lasts. A revoked token is 401 and counts nothing.
 */
export async function admitUser(c: Context<AppEnv>, identity: Identity, names: LimitName[]): Promise<void> {
  const rules = names.map((n) => LIMITS[n]);
  const named = rules.map(({ id, limit, windowMs }) => ({ id, limit, windowMs }));
  const key = userLimiterKey(identity.tenantId, identity.userId);
  const actor = () => rateLimiterActor(c.env, key); // a stub only when called: naming one hashes the key
  const session = identity.sessionId ? { jti: identity.jti, sessionId: identity.sessionId } : { jti: identity.jti };
  let answer: { revoked: Revocation; decisions: RateDecision[] };
  try {
    if (names.length === 1 && names[0] === 'USER') {
      // The common case, the user limit alone: spent from this isolate's lease, renewed with the revocation answer.
      const rule = ruleOf('USER');
      const spent = await userLeases.spend(`${key}\n${identity.jti}`, rule, async (want, giveBack) => {
        const { revoked, grant } = await actor().admitLease(rule, want, session, giveBack);
        return { grant, extra: revoked };
      });
      answer = { revoked: spent.extra, decisions: spent.decision ? [spent.decision] : [] };
    } else answer = await actor().admit(named, 1, session);
  } catch (err) {
    // The limiter is unreachable: the limits fail open, the revocation check must not, so ask D1 directly.
    console.error(`rate limiter ${names.join('+')} unavailable`, err);
    const revoked = await accessRevocation(c.env.DB, identity.jti, identity.sessionId);
    answer = { revoked, decisions: [] };
  }
  if (answer.revoked) throw revokedError(answer.revoked);
  refuseOver(c, rules, answer.decisions);
}

/** Records the decisions for the `X-RateLimit-*` headers; throws 429 naming the first refusing rule. */
function refuseOver(c: Context<AppEnv>, rules: Array<(typeof LIMITS)[LimitName]>, decisions: RateDecision[]): void {
  for (const d of decisions) c.set('rateLimit', mostRestrictive(c.get('rateLimit'), d));
  const refusedAt = decisions.findIndex((d) => !d.allowed);
  const decision = decisions[refusedAt];
  const rule = rules[refusedAt];
  if (decision && rule) {
    const retryAfter = retryAfterSeconds(decision);
    throw new ApiError('RATE_LIMIT_EXCEEDED', 'Too many requests. Please try again later.', {
      details: { limit: rule.limit, window_seconds: Math.max(1, Math.round(rule.windowMs / 1000)), scope: rule.id },
      extra: { retry_after: retryAfter },
      headers: { ...rateLimitHeaders(decision), 'Retry-After': String(retryAfter) },
    });
  }
}

/** `spendLimits` for one rule. */
export const spendLimit = (c: Context<AppEnv>, name: LimitName, by: LimitScope, cost = 1): Promise<void> =>
  spendLimits(c, [name], by, cost);

/** Sets the `X-RateLimit-*` headers of the most restrictive decision made for the request on its answer. */
export async function withRateLimitHeaders(c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  await next();
  const shown = c.get('rateLimit');
  if (shown) setResponseHeaders(c, rateLimitHeaders(shown));
}

/**
 * Counts the request against `LIMITS[name]`, per IP, user or tenant (`spendLimit`); every answer that passes
 * through (errors included: Hono turns a downstream throw into `c.res` before `next()` returns) gets the
 * `X-RateLimit-*` headers of the most restrictive decision made for the request.
 */
export function rateLimitBy(name: LimitName, by: LimitScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await spendLimit(c, name, by);
    await withRateLimitHeaders(c, next);
  };
}

/** Routes whose per-IP limit is folded into the global limiter call (one object call, not two). */
const AUTH_PATH = /^\/api\/auth\/(register|login|refresh|logout)\/?$/;

/**
 * 1000/min per IP on every request, and on register, login, refresh and logout also the 5/min auth limit,
 * counted in the same call to the IP's limiter object.
 */
export const globalRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (AUTH_PATH.test(c.req.path)) await spendLimits(c, ['GLOBAL', 'AUTH'], 'ip');
  else await spendGlobalLease(c);
  await withRateLimitHeaders(c, next);
};

/** The global per-IP limit alone, spent from this isolate's lease for the IP (one object call per lease). */
async function spendGlobalLease(c: Context<AppEnv>): Promise<void> {
  const key = ipLimiterKey(clientIp(c.req.raw.headers));
  const rule = ruleOf('GLOBAL');
  let decisions: RateDecision[] = [];
  try {
    const { decision } = await ipLeases.spend(key, rule, async (want, giveBack) => ({
      grant: await rateLimiterActor(c.env, key).lease(rule, want, giveBack),
      extra: null,
    }));
    if (decision) decisions = [decision];
  } catch (err) {
    console.error('rate limiter global unavailable', err); // fail open, as spendLimits
  }
  refuseOver(c, [LIMITS.GLOBAL], decisions);
}
/** 500/min per authenticated user; mount after the auth middleware. */
export const userRateLimit = rateLimitBy('USER', 'user');
