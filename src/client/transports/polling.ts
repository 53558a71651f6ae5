import type { PollResponse } from '../../core/protocol';
import type { Transport, TransportContext } from '../types';
import { authedFetch, createHttpOutbox, httpError } from './http';
import { withQuery } from './url';

/**
 * Long polling, the last resort: `GET pollUrl?lastEventId=&limit=&wait=` answers `{events, hasMore,
 * nextEventId, truncated?, snapshot?}` from the actor's log, `events` being the dialect's event frames; `wait`
 * (seconds) lets the server hold the request until something happens. Sends go out as HTTP POSTs.
 */
export function openPollingTransport(ctx: TransportContext): Transport {
  const { sink } = ctx;
  const abort = new AbortController();
  let cursor = ctx.lastEventId;
  let closedByUs = false;
  let established = false;
  let finished = false;
  let sleepTimer: ReturnType<typeof setTimeout> | undefined;

  const finish = (info: { code?: number; reason?: string; error?: unknown }) => {
    if (finished || closedByUs) return;
    finished = true;
    abort.abort();
    sink.closed({ established, ...info, unsent: outbox.stop() });
  };
  const outbox = createHttpOutbox(ctx, (error) => finish({ error, reason: 'send failed' }));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      sleepTimer = setTimeout(resolve, ms);
    });

  const run = async () => {
    if (!ctx.urls.pollUrl) throw new Error('options.pollUrl is not set');
    while (!finished && !closedByUs) {
      const url = withQuery(ctx.urls.pollUrl, {
        ...ctx.query,
        lastEventId: cursor,
        limit: ctx.poll.limit,
        // The first poll must not be held: until it is answered the client cannot call itself connected.
        wait: established ? ctx.poll.waitSeconds : 0,
      });
      const res = await authedFetch(ctx, url, { method: 'GET', headers: { Accept: 'application/json' } }, abort.signal);
      if (!res.ok) {
        finish({ code: res.status, error: await httpError(res) });
        return;
      }
      const body = (await res.json()) as PollResponse | null;
      if (finished || closedByUs) return;
      if (!isPollResponse(body)) {
        finish({ error: new Error('Malformed poll answer') });
        return;
      }
      if (!established) {
        established = true;
        sink.open();
      }
      if (body.snapshot !== undefined) sink.snapshot(body.snapshot, body.truncated === true);
      for (const frame of body.events) sink.frame(frame);
      if (body.nextEventId) cursor = body.nextEventId;
      sink.cursor(body.nextEventId ?? null, !body.hasMore);
      if (body.events.length === 0) sink.activity();
      // A server that answers at once when idle must not be hammered.
      if (!body.hasMore && body.events.length === 0 && ctx.poll.emptyDelayMs > 0) await sleep(ctx.poll.emptyDelayMs);
    }
  };
  run().catch((error: unknown) => finish({ error }));

  return {
    kind: 'polling',
    send(frame) {
      outbox.send(frame);
    },
    close() {
      if (closedByUs) return;
      closedByUs = true;
      clearTimeout(sleepTimer);
      outbox.stop();
      abort.abort();
    },
  };
}

function isPollResponse(body: unknown): body is PollResponse {
  return typeof body === 'object' && body !== null && Array.isArray((body as { events?: unknown }).events);
}
