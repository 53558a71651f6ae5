import type { TransportContext } from '../types';

/** An HTTP call the server refused or that never got an answer. `retryable` when the connection is to blame. */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** fetch with the bearer token; on 401 asks the token source once for a fresh token and retries. */
export async function authedFetch(
  ctx: TransportContext,
  url: string,
  init: RequestInit,
  signal?: AbortSignal,
): Promise<Response> {
  const call = (token: string) =>
    ctx.fetch(url, {
      ...init,
      signal,
      headers: { ...ctx.headers, ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
    });
  let res = await call(ctx.token);
  if (res.status === 401) {
    await res.body?.cancel();
    ctx.token = await ctx.refreshToken();
    res = await call(ctx.token);
  }
  return res;
}

/** Reads a REST error body (`{error, message, details}`) into an HttpError. */
export async function httpError(res: Response): Promise<HttpError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let details: unknown;
  try {
    const body = (await res.json()) as { error?: unknown; message?: unknown; details?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string') message = body.message;
    details = body.details;
  } catch {
    // Not JSON: the status says enough.
  }
  // 408/429/5xx are the server's or the network's trouble; other 4xx are the frame's own.
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  return new HttpError(res.status, code, message, retryable, details);
}

/**
 * Sends while on SSE or polling: each frame is one `POST sendUrl`, one at a time so they arrive in order; the
 * answer is the array of frames the server sends back to this sender. A frame refused on its own merits (4xx) is
 * reported and the next one goes; a failure of the connection stops the outbox and hands back what is left.
 */
export function createHttpOutbox(ctx: TransportContext, onFatal: (error: unknown, unsent: unknown[]) => void) {
  const outbox: unknown[] = [];
  let pumping = false;
  let stopped = false;

  const pump = async () => {
    if (pumping) return;
    pumping = true;
    while (outbox.length > 0 && !stopped) {
      const frame = outbox[0];
      try {
        if (!ctx.urls.sendUrl)
          throw new HttpError(0, 'NO_SEND_URL', 'options.sendUrl is needed to send without a WebSocket', false);
        const res = await authedFetch(ctx, ctx.urls.sendUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(frame),
        });
        if (!res.ok) throw await httpError(res);
        outbox.shift();
        const text = await res.text();
        const answer: unknown = text === '' ? [] : JSON.parse(text);
        for (const reply of Array.isArray(answer) ? answer : [answer]) ctx.sink.frame(reply);
      } catch (error) {
        outbox.shift();
        ctx.sink.sendFailed(frame, error);
        if (!(error instanceof HttpError) || error.retryable) {
          stopped = true;
          onFatal(error, outbox.splice(0));
        }
      }
    }
    pumping = false;
  };

  return {
    send(frame: unknown) {
      if (stopped) throw new Error('transport closed');
      outbox.push(frame);
      void pump();
    },
    /** Stops sending; returns what never left. */
    stop(): unknown[] {
      stopped = true;
      return outbox.splice(0);
    },
  };
}
