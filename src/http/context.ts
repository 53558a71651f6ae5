import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Identity } from '../auth/identity';
import type { RateDecision } from '../core/limiter';
import type { Env } from '../env';

/** Hono's typing for every route and middleware of the app. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** Set by `requireAuth` (or `optionalAuth`) once the access token is verified. */
    identity: Identity;
    /** The most restrictive rate-limit decision so far, rendered into X-RateLimit-* headers. */
    rateLimit: RateDecision | undefined;
  };
}

export type App = OpenAPIHono<AppEnv>;
