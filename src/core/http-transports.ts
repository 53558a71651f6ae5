import { randomId } from './attachment';
import { exceedsBytes } from './codec';
import type { ConnectContext } from './connection';
import type { ActorIdentity, Connection, Dialect, DialectApi, FrameError } from './dialect';
import type { EventFilter, EventLog } from './event-log';
import { type IdempotencyStore, idempotencyScope } from './idempotency';
import type { RateDecision } from './limiter';
import type { PollParams, PollWaiters } from './polling';
import type { EventRef, PollResponse } from './protocol';
import { formatSse, parseTypes, SSE_RETRY_MS, type SseHub, sseResumeId } from './sse';

/** What the HTTP transports (long polling, HTTP-sent frames, SSE streams) reach through the actor. */
export interface HttpHost {
  /** The actor, as its dialects see it. */
  api: DialectApi;
  log: EventLog;
  waiters: PollWaiters;
  sse: SseHub;
  idempotency: IdempotencyStore;
  ringSize: number;
  snapshotFor(dialect: string): unknown;
  httpConnection(identity: ActorIdentity, dialect: string, sink: (frame: unknown) => void): Connection;
  sseConnection(stream: ReturnType<SseHub['prepare']>): Connection;
  maxMessageBytes(dialect: string): number;
  spendMessage(userId: string, dialect: string, now: number): RateDecision;
  rateLimitError(decision: RateDecision, dialect: string): FrameError;
  dispatch(dialect: Dialect, conn: Connection, message: string): Promise<void>;
  runConnectHooks(dialect: Dialect, conn: Connection, ctx: ConnectContext): void;
  watchSession(identity: ActorIdentity, now: number): void;
}

/** Long polling over the log: events after the reference as the dialect's frames, waiting up to `wait` s. */
export async function longPoll(
  host: HttpHost,
  identity: ActorIdentity,
  dialect: Dialect,
  params: PollParams,
): Promise<PollResponse> {
  const conn = host.httpConnection(identity, dialect.name, () => {});
  let answer = pollOnce(host, dialect, conn, params);
  // Only an empty page waits: a snapshot answer (first poll, or a reference that cannot be honoured) is
  // what the client needs before anything else, and holding it could only replace it with a later page.
  if (answer.events.length === 0 && answer.snapshot === undefined && params.wait > 0 && answer.nextEventId !== null) {
    const deadline = Date.now() + params.wait * 1000;
    while (answer.events.length === 0 && Date.now() < deadline) {
      await host.waiters.wait(deadline - Date.now());
      answer = pollOnce(host, dialect, conn, {
        ...params,
        lastEventId: answer.nextEventId ?? undefined,
        lastSequence: undefined,
      });
    }
  }
  return answer;
}

function pollOnce(host: HttpHost, dialect: Dialect, conn: Connection, params: PollParams): PollResponse {
  const filter: EventFilter = { types: params.types };
  const at = host.log.locate({ lastEventId: params.lastEventId, lastSequence: params.lastSequence });
  if (at.kind !== 'ok') {
    // No reference: the current state and where to continue from. A bad reference: the same, flagged.
    return {
      events: [],
      hasMore: false,
      nextEventId: host.log.latestEventId,
      snapshot: host.snapshotFor(dialect.name),
      ...(at.kind === 'none' ? {} : { truncated: true }),
    };
  }
  const read = host.log.read(at.after, params.limit + 1, filter);
  const hasMore = read.length > params.limit;
  const page = read.slice(0, params.limit);
  // Past a filtered-out stretch the cursor still moves to the newest event looked at.
  const last = page[page.length - 1];
  const nextEventId = last ? last.eventId : hasMore ? null : host.log.latestEventId;
  const events = page.map((e) => dialect.renderEvent(e, conn)).filter((f) => f !== null);
  return { events, hasMore, nextEventId: nextEventId ?? host.log.latestEventId };
}

/**
 * One client frame sent over HTTP (SSE and polling clients), handled exactly like a WebSocket frame of that
 * identity; the answer is every frame the server sent back to that sender.
 */
export async function httpFrame(
  host: HttpHost,
  identity: ActorIdentity,
  dialect: Dialect,
  body: string,
  idempotencyKey?: string,
): Promise<{ tooLarge: boolean; frames: unknown[] }> {
  // A retried frame (same `Idempotency-Key`) answers what the first one did and is not handled again.
  const idemKey = idempotencyKey ? idempotencyScope(identity.userId, `frame|${dialect.name}|${idempotencyKey}`) : null;
  const prior = idemKey ? host.idempotency.recall<{ tooLarge: boolean; frames: unknown[] }>(idemKey) : undefined;
  if (prior) return prior;
  if (exceedsBytes(body, host.maxMessageBytes(dialect.name))) return { tooLarge: true, frames: [] };
  const frames: unknown[] = [];
  const conn = host.httpConnection(identity, dialect.name, (f) => frames.push(f));
  const decision = host.spendMessage(identity.userId, dialect.name, Date.now());
  if (!decision.allowed) {
    conn.send(dialect.renderError(host.rateLimitError(decision, dialect.name)));
    return { tooLarge: false, frames };
  }
  await host.dispatch(dialect, conn, body);
  if (idemKey) host.idempotency.remember(idemKey, { tooLarge: false, frames });
  return { tooLarge: false, frames };
}

/** Opens an SSE stream: the `connected` event, then the replay after `Last-Event-ID` / `?lastSequence=`. */
export function openSse(host: HttpHost, request: Request, identity: ActorIdentity, dialect: Dialect): Response {
  const url = new URL(request.url);
  const types = parseTypes(url.searchParams.get('types'));
  const stream = host.sse.prepare({ id: randomId('sse'), identity, dialect: dialect.name, types });
  const conn = host.sseConnection(stream);
  try {
    host.runConnectHooks(dialect, conn, { request, url });
  } catch (err) {
    host.sse.discard(stream.id);
    throw err;
  }
  const parts = [formatSse({ retry: SSE_RETRY_MS, event: 'connected', data: dialect.connected(host.api, conn) })];
  const resumeId = sseResumeId(request);
  const lastSequence = url.searchParams.get('lastSequence');
  const ref: EventRef | null = resumeId
    ? { lastEventId: resumeId }
    : lastSequence !== null
      ? { lastSequence: Number(lastSequence) }
      : null;
  if (ref) {
    // A stream can carry the whole ring, so the replay limit is the ring, not the one-frame limit.
    const result = host.log.resync(ref, () => host.snapshotFor(dialect.name), host.ringSize, { types });
    if (result.truncated) {
      const frame = dialect.resyncFrame(host.api, conn, result);
      parts.push(formatSse({ id: host.log.latestEventId, event: dialect.frameName(frame), data: frame }));
    } else {
      for (const e of result.events) {
        const frame = dialect.renderEvent(e, conn);
        if (frame !== null) parts.push(formatSse({ id: e.eventId, event: e.type, data: frame }));
      }
    }
  }
  host.watchSession(identity, Date.now());
  return host.sse.open(stream, parts.join(''));
}
