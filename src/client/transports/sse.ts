import { readEventStream } from '../sse-parser';
import type { Transport, TransportContext } from '../types';
import { authedFetch, createHttpOutbox, httpError } from './http';
import { withQuery } from './url';

/**
 * Server-Sent Events over fetch (not EventSource): works in browsers, Node and Workers alike, and can carry
 * `Authorization` and `Last-Event-ID` headers. Each `data:` is one frame in the dialect's envelope; the `id:`
 * line is the event id. Sends go out as HTTP POSTs.
 */
export function openSseTransport(ctx: TransportContext): Transport {
  const { sink } = ctx;
  const abort = new AbortController();
  let closedByUs = false;
  let established = false;
  let finished = false;

  const finish = (info: { code?: number; reason?: string; error?: unknown }) => {
    if (finished || closedByUs) return;
    finished = true;
    abort.abort();
    sink.closed({ established, ...info, unsent: outbox.stop() });
  };
  const outbox = createHttpOutbox(ctx, (error) => finish({ error, reason: 'send failed' }));

  const run = async () => {
    if (!ctx.urls.sseUrl) throw new Error('options.sseUrl is not set');
    const url = withQuery(ctx.urls.sseUrl, { ...ctx.query, token: ctx.token, lastEventId: ctx.lastEventId });
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (ctx.lastEventId) headers['Last-Event-ID'] = ctx.lastEventId;
    const res = await authedFetch(ctx, url, { method: 'GET', headers }, abort.signal);
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !res.body || !type.includes('text/event-stream')) {
      const error = res.ok ? new Error(`Not an event stream: ${type || 'no content type'}`) : await httpError(res);
      if (res.ok) await res.body?.cancel();
      finish({ code: res.status, error });
      return;
    }
    established = true;
    sink.open();
    await readEventStream(res.body, (item) => {
      if (finished || closedByUs) return;
      if (item.kind === 'comment') {
        sink.activity();
      } else if (item.kind === 'event') {
        let frame: unknown;
        try {
          frame = JSON.parse(item.data);
        } catch (error) {
          sink.malformed(error);
          return;
        }
        sink.frame(frame, item.lastEventId || undefined);
      }
      // `retry:` is ignored on purpose: the client's own backoff decides when to come back.
    });
    finish({ reason: 'stream ended' });
  };
  run().catch((error: unknown) => finish({ error }));

  return {
    kind: 'sse',
    send(frame) {
      outbox.send(frame);
    },
    close() {
      if (closedByUs) return;
      closedByUs = true;
      outbox.stop();
      abort.abort();
    },
  };
}
