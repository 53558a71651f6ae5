import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors';
import type { AppEnv } from './context';

export const API_VERSIONS = ['1'] as const;

const VERSIONED_PATH = /^\/api\/v(\d+)(\/.*)?$/;

/**
 * `/api/v1/...` reaches the same handlers as `/api/...` (seed 000, Versioning): the Worker rewrites the path
 * before routing. Other versions pass through untouched for `apiVersion()` to refuse inside the app, where
 * the refusal is counted and carries the rate-limit headers like every other answer.
 */
export function rewriteVersionedPath(request: Request): Request {
  if (!request.url.includes('/api/v')) return request; // most requests: no URL to parse
  const url = new URL(request.url);
  const m = VERSIONED_PATH.exec(url.pathname);
  if (!m || !API_VERSIONS.includes(m[1] as (typeof API_VERSIONS)[number])) return request;
  url.pathname = `/api${m[2] ?? ''}`;
  return new Request(url, request);
}

/** 400 INVALID_REQUEST for an `API-Version` header or `/api/vN` path this server does not speak. */
export const apiVersion = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const header = c.req.header('api-version');
  if (header !== undefined && !API_VERSIONS.includes(header.trim().replace(/^v/i, '') as '1')) {
    throw unsupported(header, 'API-Version');
  }
  const m = VERSIONED_PATH.exec(c.req.path);
  if (m) throw unsupported(`v${m[1]}`, 'path');
  await next();
};

function unsupported(version: string, field: 'path' | 'API-Version'): ApiError {
  return new ApiError(
    'INVALID_REQUEST',
    `Unsupported API version "${version}"; supported: ${API_VERSIONS.map((v) => `v${v}`).join(', ')}`,
    { details: { field, issue: 'unsupported_version', supported: [...API_VERSIONS] } },
  );
}
