import { type EnginePacket, encodePayload } from '../dialects/engineio';
import type { EngineSession, EngineSettings } from './engineio-session';

/**
 * The long-polling transport of an Engine.IO session, in memory: packets queue until a GET is held, a held GET is
 * answered with everything queued (joined by the record separator), and the heartbeat is a pair of timers (a ping
 * after `pingInterval`, a close unless the pong comes within `pingTimeout`). A held GET keeps the actor awake.
 */

/** Holds a GET: it is answered by the next `flushPoll` or `answerPoll`. */
export function holdPoll(session: EngineSession<unknown>): Promise<string> {
  return new Promise<string>((resolve) => {
    session.poll = resolve;
    flushPoll(session);
  });
}

/** Answers the held GET with what is queued, if both exist. */
export function flushPoll(session: EngineSession<unknown>): void {
  if (!session.poll || session.queue.length === 0) return;
  answerPoll(session, session.queue.splice(0));
}

/** Answers the held GET (if any) with `packets`. */
export function answerPoll(session: EngineSession<unknown>, packets: EnginePacket[]): void {
  const answer = session.poll;
  session.poll = undefined;
  answer?.(encodePayload(packets));
}

export interface PollingHeartbeat {
  /** The layer above's tick (connect timeouts); may close the session. */
  tick(now: number): void;
  ping(): void;
  timeout(): void;
}

/** Polling heartbeat: a ping after `pingInterval`, and `timeout` unless a pong re-arms it within `pingTimeout`. */
export function schedulePollingPing(session: EngineSession<unknown>, settings: EngineSettings, on: PollingHeartbeat): void {
  if (session.timer) clearTimeout(session.timer);
  session.timer = setTimeout(() => {
    if (session.closed || session.transport !== 'polling') return;
    on.tick(Date.now());
    if (session.closed) return;
    on.ping();
    session.timer = setTimeout(() => {
      if (!session.closed && session.transport === 'polling') on.timeout();
    }, settings.pingTimeout);
  }, settings.pingInterval);
}
