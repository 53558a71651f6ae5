import { ENGINE_ERRORS, type EngineError } from '../dialects/engineio';

/**
 * The Engine.IO actor's HTTP answers, as the reference server gives them: text bodies, bare statuses, the protocol's
 * `{code, message}` errors (403 for FORBIDDEN, else 400), and `Access-Control-Allow-*: *` when the settings ask.
 */

const TEXT = { 'Content-Type': 'text/plain; charset=UTF-8' };

export function corsHeaders(cors: boolean): Record<string, string> {
  return cors
    ? {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type',
      }
    : {};
}

export const textAnswer = (body: string, cors: boolean): Response =>
  new Response(body, { headers: { ...TEXT, ...corsHeaders(cors) } });

export const statusAnswer = (status: number, cors: boolean): Response =>
  new Response(null, { status, headers: corsHeaders(cors) });

export const refusal = (error: EngineError, cors: boolean): Response =>
  new Response(JSON.stringify(error), {
    status: error.code === ENGINE_ERRORS.FORBIDDEN.code ? 403 : 400,
    headers: { 'Content-Type': 'application/json', ...corsHeaders(cors) },
  });

/** A POST's `ok`. */
export const postAccepted = (cors: boolean): Response =>
  new Response('ok', { headers: { 'Content-Type': 'text/html', ...corsHeaders(cors) } });

/** A WebSocket accepted and closed at once (a second upgrade of a session, as the reference server does). */
export function acceptAndClose(): Response {
  const pair = new WebSocketPair();
  pair[1].accept();
  pair[1].close(1000, 'Session already upgraded');
  return new Response(null, { status: 101, webSocket: pair[0] });
}
