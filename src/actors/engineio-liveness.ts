import { type HeartbeatSession, type HeartbeatSettings, planHeartbeat } from '../domain/engineio-heartbeat';
import type { EngineSession } from './engineio-session';

/** What a heartbeat sweep does to the actor's sessions. */
export interface HeartbeatHooks<S> {
  /** The layers above (connect timeouts); skipped for a session that owes a pong. */
  tick(session: EngineSession<S>): void;
  timeout(session: EngineSession<S>): Promise<void>;
  ping(session: EngineSession<S>): void;
}

/**
 * What the WebSocket heartbeat and the slow-consumer bound know of each WebSocket session, by sid. In memory: after
 * a wake the heartbeat re-pings, and a session's open time stands in for its last ping.
 *
 * The slow-consumer bound exists because the runtime buffers whatever a peer does not read, without limit and
 * without telling (workerd has no `bufferedAmount` on this side), so a client that stops reading is found by its
 * silence: past half of the limit sent since it last sent a packet, it is pinged at once (a reading client pongs,
 * which resets the count); past all of it, the session ends.
 */
export class EngineLiveness {
  /** Sessions pinged and not answered yet: when they were pinged. */
  private readonly awaitingPong = new Map<string, number>();
  /** When each session was last pinged. */
  private readonly lastPing = new Map<string, number>();
  /** Bytes sent to each session since its client last sent a packet. */
  private readonly unread = new Map<string, number>();

  awaitsPong(sid: string): boolean {
    return this.awaitingPong.has(sid);
  }

  /** A ping went out at `now`. */
  pinged(sid: string, now: number): void {
    this.awaitingPong.set(sid, now);
    this.lastPing.set(sid, now);
  }

  /** A session upgraded to WebSocket at `now`: its first beat counts from there. */
  upgraded(sid: string, now: number): void {
    this.lastPing.set(sid, now);
  }

  ponged(sid: string): void {
    this.awaitingPong.delete(sid);
  }

  /** The client sent a packet, so it reads: what was sent before no longer counts against it. */
  spoke(sid: string): void {
    this.unread.delete(sid);
  }

  forget(sid: string): void {
    this.awaitingPong.delete(sid);
    this.lastPing.delete(sid);
    this.unread.delete(sid);
  }

  /** The heartbeat's view of a session (`domain/engineio-heartbeat.ts`). */
  heartbeatOf(sid: string, openedAt: number): HeartbeatSession {
    return { sid, openedAt, lastPingAt: this.lastPing.get(sid), awaitingPongSince: this.awaitingPong.get(sid) };
  }

  /**
   * Counts `frames` about to be sent against `limit` unread bytes: `over` (not sent; the session must end), `ping`
   * (past half: ping it now, recorded as pinged at `now`) or `ok`.
   */
  sending(sid: string, frames: Array<string | Uint8Array>, limit: number, now: number): 'over' | 'ping' | 'ok' {
    let bytes = this.unread.get(sid) ?? 0;
    for (const frame of frames) bytes += typeof frame === 'string' ? frame.length : frame.byteLength;
    if (bytes > limit) return 'over';
    this.unread.set(sid, bytes);
    if (bytes > limit / 2 && !this.awaitingPong.has(sid)) {
      this.pinged(sid, now);
      return 'ping';
    }
    return 'ok';
  }

  /**
   * One sweep of the WebSocket heartbeat, one alarm for all sessions (rules in `domain/engineio-heartbeat.ts`:
   * batched sweeps, the server pings, a late pong ends the session). When the next sweep is due (null: none).
   */
  async sweep<S>(
    sessions: Iterable<EngineSession<S>>,
    now: number,
    settings: HeartbeatSettings,
    hooks: HeartbeatHooks<S>,
  ): Promise<number | null> {
    const live = new Map<string, EngineSession<S>>();
    for (const session of sessions) {
      if (session.transport !== 'websocket') continue;
      if (!this.awaitsPong(session.sid)) hooks.tick(session);
      if (!session.closed) live.set(session.sid, session);
    }
    const plan = planHeartbeat(
      [...live.values()].map((session) => this.heartbeatOf(session.sid, session.createdAt)),
      now,
      settings,
    );
    for (const sid of plan.timedOut) {
      const session = live.get(sid);
      if (session) await hooks.timeout(session);
    }
    for (const sid of plan.ping) {
      const session = live.get(sid);
      if (!session || session.closed) continue;
      this.pinged(sid, now);
      hooks.ping(session);
    }
    return plan.nextAt;
  }
}
