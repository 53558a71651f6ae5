import { ApiError, errorResponse } from './errors';

export const API_VERSIONS = ['1'] as const;

/**
 * `/api/v1/...` and `API-Version: 1` reach the same handlers as `/api/...` (seed 000, Versioning).
 * Returns the request to route, or an error Response for a version this server does not speak.
 */
export function resolveVersion(request: Request): Request | Response {
  const url = new URL(request.url);
  const header = request.headers.get('api-version');
  if (header !== null && !API_VERSIONS.includes(header.trim().replace(/^v/i, '') as '1')) {
    return unsupported(header, 'header');
  }
  const m = /^\/api\/v([^/]*)(\/.*)?$/.exec(url.pathname);
  if (!m) return request;
  if (!API_VERSIONS.includes(m[1] as '1')) return unsupported(`v${m[1]}`, 'path');
  url.pathname = `/api${m[2] ?? ''}`;
  return new Request(url, request);
}

function unsupported(version: string, where: 'path' | 'header'): Response {
  return errorResponse(
    new ApiError(
      'INVALID_REQUEST',
      `Unsupported API version "${version}"; supported: ${API_VERSIONS.map((v) => `v${v}`).join(', ')}`,
      {
        details: { field: where === 'path' ? 'path' : 'API-Version', issue: 'unsupported_version', supported: [...API_VERSIONS] },
      },
    ),
  );
}
