import { type EnginePacket, encodePayload } from '../dialects/engineio';
import type { EngineSession, EngineSettings } from './engineio-session';

/**
 * The long-polling transport of an Engine.IO session, in memory: packets queue until a GET is held, a held GET is
 * answered with everything queued (joined by the record separator), and the heartbeat is a pair of timers (a ping
 * after `pingInterval`, a close unless the pong comes within `pingTimeout`). A held GET keeps the actor awake.
 */

/**
 * How long a GET that comes while a WebSocket probes an upgrade is held before its noop (the reference server's
 * upgrade check interval). Held rather than answered at once, because it may be racing the probe's `5`: if the
 * upgrade completes meanwhile, the GET is answered as one after the upgrade (400).
 */
export const PROBE_POLL_MS = 100;

/** Holds a GET: it is answered by the next `flushPoll` or `answerPoll` (`null`: the session upgraded). */
export function holdPoll(session: EngineSession<unknown>): Promise<string | null> {
  return new Promise<string | null>((resolve) => {
    session.poll = resolve;
    flushPoll(session);
  });
}

/** Holds a GET during an upgrade probe: a noop after `PROBE_POLL_MS` unless something else answers it first. */
export function holdProbePoll(session: EngineSession<unknown>): Promise<string | null> {
  const held = holdPoll(session);
  const answer = session.poll;
  setTimeout(() => {
    if (answer && session.poll === answer) answerPoll(session, [{ type: 'noop' }]);
  }, PROBE_POLL_MS);
  return held;
}

/** Ends the held GET (if any) of a session that has moved to WebSocket. */
export function endPollForUpgrade(session: EngineSession<unknown>): void {
  const answer = session.poll;
  session.poll = undefined;
  answer?.(null);
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
