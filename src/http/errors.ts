import { type ApiError, codeIn, type Vocabulary } from '../errors';

/**
 * Which seed's words a path answers errors in: seed 003's surface (event polling and publishing, consumer groups,
 * reconciliation) says AUTH_FAILED, RATE_LIMIT, INTERNAL_ERROR, ...; every other path keeps the project's codes.
 */
const SEED_003_PREFIXES = ['/api/events', '/api/reconciliation', '/api/hub'];

export function vocabularyFor(pathname: string): Vocabulary {
  return SEED_003_PREFIXES.some((p) => pathname === p || pathname.startsWith(`${p}/`)) ? 'seed003' : 'default';
}

/** Builds the JSON Response for an error; the single place REST errors are rendered. */
export function errorResponse(err: ApiError, vocabulary: Vocabulary = 'default'): Response {
  const body = { ...err.toBody(), error: codeIn(vocabulary, err.code) };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...err.headers },
  });
}
