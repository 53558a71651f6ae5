import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../context';

/**
 * CORS for browser apps on other origins. Allowed origins are configuration: the `CORS_ORIGINS` var
 * (wrangler.toml, `.dev.vars` or the dashboard), a comma-separated list of exact origins, where `*` stands for any
 * port or any one subdomain label (`http://localhost:*`, `https://*.example.com`). Empty: no other origin.
 * Tokens travel in `Authorization`, never in cookies, so credentials stay off.
 *
 * This runs before every rate limit: Hono's middleware answers a preflight `OPTIONS` itself (204), so a
 * preflight never spends one of the five auth requests a minute or the global budget.
 */

/** Pure: does `origin` match one of the configured patterns? */
export function originAllowed(origin: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    if (pattern === origin) return true;
    if (!pattern.includes('*')) return false;
    const [head = '', tail = ''] = pattern.split('*', 2);
    if (!origin.startsWith(head) || !origin.endsWith(tail) || origin.length < head.length + tail.length) return false;
    const middle = origin.slice(head.length, origin.length - tail.length);
    // `*` in a port position is digits; in a host position one DNS label.
    return head.endsWith(':') ? /^\d{1,5}$/.test(middle) : /^[a-z0-9-]{1,63}$/i.test(middle);
  });
}

/** The configured patterns, trimmed, empty entries dropped. */
export const corsPatterns = (configured: string | undefined): string[] =>
  (configured ?? '')
    .split(',')
    .map((p) => p.trim().replace(/\/$/, ''))
    .filter(Boolean);

/** Headers a browser app may send and read. */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'X-Tenant-ID', 'API-Version', 'Last-Event-ID'];
export const CORS_EXPOSE_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After'];

export const corsPolicy = (): MiddlewareHandler<AppEnv> =>
  cors({
    origin: (origin, c) => (origin && originAllowed(origin, corsPatterns(c.env.CORS_ORIGINS)) ? origin : null),
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowHeaders: CORS_ALLOW_HEADERS,
    exposeHeaders: CORS_EXPOSE_HEADERS,
    maxAge: 600,
  });
