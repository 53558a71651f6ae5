import type { ApiError } from '../errors';

/** Builds the JSON Response for an error; the single place REST errors are rendered. */
export function errorResponse(err: ApiError): Response {
  return new Response(JSON.stringify(err.toBody()), {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...err.headers },
  });
}
