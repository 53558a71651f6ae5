/**
 * The Engine.IO v4 heartbeat of a shard's WebSocket sessions, as pure rules: the server pings each session every
 * `pingInterval` and ends it when the pong has not come `pingTimeout` after the ping. One alarm serves every
 * session, so the sweeps are batched: a sweep pings every session due within the next `window` (early, which the
 * client cannot tell from a ping on time) and the next sweep is never sooner than `window` away. Without that, a
 * shard whose sessions opened at different moments swept all of them once per session (n² work as n grows).
 */

export interface HeartbeatSettings {
  pingInterval: number;
  pingTimeout: number;
}

/** A WebSocket session as the heartbeat sees it (ms since the epoch). */
export interface HeartbeatSession {
  sid: string;
  openedAt: number;
  /** The last ping sent to it, if any. */
  lastPingAt?: number;
  /** When the ping it has not answered yet was sent. */
  awaitingPongSince?: number;
}

export interface HeartbeatPlan {
  /** Sessions to ping now. */
  ping: string[];
  /** Sessions whose pong is late: to end ("ping timeout"). */
  timedOut: string[];
  /** When to sweep next; null when there is no session. */
  nextAt: number | null;
}

/**
 * How far a sweep reaches ahead and how close two sweeps may be: a quarter of the shorter of the two settings, so
 * a ping is never more than that early or late and a late pong is noticed at most that late (both well inside the
 * `pingInterval + pingTimeout` a client waits before it gives the server up).
 */
export const heartbeatWindow = (s: HeartbeatSettings): number => Math.min(s.pingInterval, s.pingTimeout) / 4;

export function planHeartbeat(sessions: Iterable<HeartbeatSession>, now: number, s: HeartbeatSettings): HeartbeatPlan {
  const window = heartbeatWindow(s);
  const ping: string[] = [];
  const timedOut: string[] = [];
  let next = Number.POSITIVE_INFINITY;
  for (const session of sessions) {
    if (session.awaitingPongSince !== undefined) {
      const deadline = session.awaitingPongSince + s.pingTimeout;
      if (now >= deadline) timedOut.push(session.sid);
      else next = Math.min(next, deadline);
      continue;
    }
    const due = (session.lastPingAt ?? session.openedAt) + s.pingInterval;
    if (due - now <= window) {
      ping.push(session.sid);
      next = Math.min(next, now + s.pingTimeout);
    } else {
      next = Math.min(next, due);
    }
  }
  if (next === Number.POSITIVE_INFINITY) return { ping, timedOut, nextAt: null };
  // At most a pingInterval ahead (it also bounds how late the layers above notice their own timeouts).
  return { ping, timedOut, nextAt: Math.max(now + window, Math.min(next, now + s.pingInterval)) };
}
