import { DurableObject } from 'cloudflare:workers';
import { CLOSE } from '../core/protocol';
import { Scheduler } from '../core/scheduler';
import { decodeFrame, type EnginePacket, encodeFrame, openPacket } from '../dialects/engineio';
import type { Env } from '../env';
import { EngineLiveness } from './engineio-liveness';
import { answerPoll, endPollForUpgrade, flushPoll, schedulePollingPing } from './engineio-polling';
import { type EngineRoutes, routeEngineRequest } from './engineio-routing';
import {
  adoptedSession,
  attachmentOf,
  type EngineSession,
  type EngineSettings,
  newSession,
  openPayload,
  type PreparedMessages,
  prepareMessages,
  type SocketAttachment,
} from './engineio-session';

export {
  DEFAULT_ENGINE_SETTINGS,
  type EngineSession,
  type EngineSettings,
  type PreparedMessages,
} from './engineio-session';

const TIMER_HEARTBEAT = 'eio:heartbeat';

/**
 * The UTF-8 size of `text` where it matters for a `limit`: a UTF-16 unit takes at most 3 bytes, so a text of at
 * most limit/3 units is within it without encoding (its length stands in); longer ones are encoded and measured.
 */
function utf8Bound(text: string, limit: number): number {
  return text.length * 3 <= limit ? text.length : new TextEncoder().encode(text).byteLength;
}

/**
 * An Engine.IO v4 server as a Durable Object: handshake over polling or WebSocket, polling GET/POST with one of
 * each in flight, upgrade, heartbeat (the server pings, a missed pong closes), `maxPayload`. WebSocket sessions
 * hibernate: their state rides in the socket's attachment and the heartbeat is the actor's alarm. Polling
 * sessions live in memory: a held GET keeps the actor awake, and a client whose actor was evicted gets the
 * protocol's "Session ID unknown" and reconnects. The layer above (Socket.IO) implements the hooks.
 *
 * Beside it: the session model and its attachment (`engineio-session.ts`), the polling transport
 * (`engineio-polling.ts`), the HTTP routing (`engineio-routing.ts`) and its answers (`engineio-http.ts`); the
 * WebSocket transport is the hibernation handlers below, which must be the actor's own methods.
 */
export abstract class EngineIoActor<S> extends DurableObject<Env> {
  protected readonly sql: SqlStorage;
  protected readonly timers: Scheduler;
  private readonly sessions = new Map<string, EngineSession<S>>();
  /** Heartbeat and slow-consumer bookkeeping of the WebSocket sessions (memory). */
  private readonly liveness = new EngineLiveness();
  private overrides: Partial<EngineSettings>;
  /** `settings()` computed once (every packet reads it), until `configureEngine` changes the overrides. */
  private merged: EngineSettings | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.timers = new Scheduler(this.sql, ctx.storage);
    this.sql.exec('CREATE TABLE IF NOT EXISTS _eio_config (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)');
    const row = this.sql.exec<{ value: string }>('SELECT value FROM _eio_config').toArray()[0];
    this.overrides = row ? (JSON.parse(row.value) as Partial<EngineSettings>) : {};
  }

  /** RPC for operators and tests: overrides this actor's Engine.IO settings (heartbeat, maxPayload); `{}` resets. */
  async configureEngine(patch: Partial<EngineSettings>): Promise<EngineSettings> {
    this.overrides = patch;
    this.merged = undefined;
    this.sql.exec('INSERT OR REPLACE INTO _eio_config (id, value) VALUES (1, ?)', JSON.stringify(patch));
    const settings = this.settings();
    // The next beat follows the new interval.
    if (this.ctx.getWebSockets().length > 0) await this.timers.schedule(TIMER_HEARTBEAT, Date.now() + settings.pingInterval);
    return settings;
  }

  /** The subclass's settings with this actor's overrides. */
  protected settings(): EngineSettings {
    this.merged ??= { ...this.engineSettings(), ...this.overrides };
    return this.merged;
  }

  // ---- hooks ------------------------------------------------------------------------------------------------

  protected abstract engineSettings(): EngineSettings;
  /** A new session's id; it may name this actor so that the Worker routes the session's requests back here. */
  protected abstract newSid(): string;
  protected abstract initialState(): S;
  protected abstract onEngineMessage(session: EngineSession<S>, data: string | Uint8Array): void | Promise<void>;
  protected abstract onEngineClose(session: EngineSession<S>, reason: string): void | Promise<void>;
  /** Called on every heartbeat of a session (connect timeouts); `now` is ms since the epoch. */
  protected onEngineTick(_session: EngineSession<S>, _now: number): void {}
  /** Named timers of the layers above (the heartbeat is `eio:heartbeat`). */
  protected onTimer(_name: string, _now: number): void | Promise<void> {}

  // ---- sending ----------------------------------------------------------------------------------------------

  /** Sends Engine.IO `message` packets (text or binary) to a session, in order. */
  protected sendMessages(session: EngineSession<S>, messages: Array<string | Uint8Array>): void {
    this.sendPackets(
      session,
      messages.map((data) => ({ type: 'message', data })),
    );
  }

  /**
   * Engine.IO `message` packets encoded once for many sessions (a broadcast): `sendPrepared` hands every session
   * the same frames instead of encoding per recipient.
   */
  protected prepareMessages(messages: Array<string | Uint8Array>): PreparedMessages {
    return prepareMessages(messages);
  }

  protected sendPrepared(session: EngineSession<S>, prepared: PreparedMessages): void {
    if (session.closed) return;
    if (session.transport === 'websocket' && session.ws) {
      if (!this.withinUnread(session, session.ws, prepared.frames)) return;
      for (const frame of prepared.frames) {
        try {
          session.ws.send(frame);
        } catch {
          // the close handler cleans up
        }
      }
      return;
    }
    session.queue.push(...prepared.packets);
    flushPoll(session);
  }

  protected sendPackets(session: EngineSession<S>, packets: EnginePacket[]): void {
    this.sendPrepared(session, { packets, frames: packets.map(encodeFrame) });
  }

  /** The slow-consumer bound (`engineio-liveness.ts`): 4008 past `maxUnreadBytes`. False when `frames` must not be sent. */
  private withinUnread(session: EngineSession<S>, ws: WebSocket, frames: Array<string | Uint8Array>): boolean {
    const limit = this.settings().maxUnreadBytes;
    const verdict = this.liveness.sending(session.sid, frames, limit, Date.now());
    if (verdict === 'over') {
      void this.closeSession(session, `Slow consumer: over ${limit} bytes unread`, false, CLOSE.SLOW_CONSUMER);
      return false;
    }
    if (verdict === 'ping') {
      try {
        ws.send(encodeFrame({ type: 'ping' }));
      } catch {
        // the close handler cleans up
      }
    }
    return true;
  }

  /** Saves the session's state with its WebSocket, so that it survives hibernation. Polling: nothing to do. */
  protected persist(session: EngineSession<S>): void {
    if (session.transport !== 'websocket' || !session.ws) return;
    try {
      session.ws.serializeAttachment(attachmentOf(session));
    } catch (err) {
      console.error('engine.io: attachment not saved', err);
    }
  }

  /** The live session `sid`, rebuilt from its WebSocket after hibernation; null when unknown or closed. */
  protected session(sid: string): EngineSession<S> | null {
    const known = this.sessions.get(sid);
    if (known) return known.closed ? null : known;
    for (const ws of this.ctx.getWebSockets(`sid:${sid}`)) {
      const att = ws.deserializeAttachment() as SocketAttachment<S> | null;
      if (att?.v !== 'eio1' || att.probe || ws.readyState !== 1) continue;
      return this.adopt(ws, att);
    }
    return null;
  }

  /** Every live session (after a wake, WebSocket sessions are rebuilt from their sockets). */
  protected allSessions(): EngineSession<S>[] {
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as SocketAttachment<S> | null;
      if (att?.v === 'eio1' && !att.probe && ws.readyState === 1 && !this.sessions.has(att.sid)) this.adopt(ws, att);
    }
    return [...this.sessions.values()].filter((s) => !s.closed);
  }

  /** Closes a session from the server side: a held GET gets the close packet, a WebSocket is closed. */
  protected async closeSession(
    session: EngineSession<S>,
    reason: string,
    clientClosed = false,
    code: number = CLOSE.NORMAL,
  ): Promise<void> {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session.sid);
    this.liveness.forget(session.sid);
    if (session.timer) clearTimeout(session.timer);
    if (session.poll) {
      const answer = session.poll;
      session.poll = undefined;
      answer(clientClosed ? '6' : '1');
    }
    // The runtime's own handles (not ones cached from another request) close the sockets cleanly.
    const sockets = [...this.ctx.getWebSockets(`sid:${session.sid}`), ...this.ctx.getWebSockets(`probe:${session.sid}`)];
    for (const ws of sockets) {
      try {
        ws.close(code, reason.slice(0, 100));
      } catch {
        // already closed
      }
    }
    try {
      await this.onEngineClose(session, reason);
    } catch (err) {
      console.error('engine.io: close hook failed', err);
    }
  }

  // ---- HTTP: routed in engineio-routing.ts; the WebSocket handshake and upgrade probe are opened here --------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const answer = await routeEngineRequest(request, this.routes);
    // A refused POST's body is never read: release it instead of leaving the stream half-consumed.
    if (request.body && !request.bodyUsed) await request.body.cancel().catch(() => {});
    return answer;
  }

  /** What HTTP routing (`engineio-routing.ts`) needs of this actor. */
  private readonly routes: EngineRoutes<S> = {
    settings: () => this.settings(),
    session: (sid) => this.session(sid),
    openPolling: (url) => {
      const session = this.createSession('polling', url);
      this.schedulePollingPing(session, this.settings());
      return session;
    },
    openWebSocket: (settings, url) => this.openWebSocket(settings, url),
    acceptProbe: (session) => this.acceptProbe(session),
    closeSession: (session, reason) => this.closeSession(session, reason),
    onPacket: (session, packet, settings) => this.onPacket(session, packet, settings),
  };

  private openWebSocket(settings: EngineSettings, url: URL): Response {
    const pair = new WebSocketPair();
    const session = this.createSession('websocket', url);
    session.ws = pair[1];
    this.ctx.acceptWebSocket(pair[1], [`sid:${session.sid}`]);
    this.persist(session);
    pair[1].send(encodeFrame(openPacket(openPayload(session, settings, []))));
    void this.timers.scheduleNoLaterThan(TIMER_HEARTBEAT, Date.now() + settings.pingInterval);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  private acceptProbe(session: EngineSession<S>): Response {
    const pair = new WebSocketPair();
    session.probe = pair[1];
    this.ctx.acceptWebSocket(pair[1], [`probe:${session.sid}`]);
    pair[1].serializeAttachment(attachmentOf(session, true));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  // ---- WebSocket handlers (hibernation API) -----------------------------------------------------------------

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const settings = this.settings();
    const att = ws.deserializeAttachment() as SocketAttachment<S> | null;
    if (att?.v !== 'eio1') {
      ws.close(1011, 'Unknown connection');
      return;
    }
    const size = typeof message === 'string' ? utf8Bound(message, settings.maxPayload) : message.byteLength;
    const packet = decodeFrame(message);
    if (att.probe) {
      const session = this.session(att.sid);
      if (!session || session.probe !== ws) {
        ws.close(1000, 'Upgrade abandoned');
        return;
      }
      if (packet?.type === 'ping' && packet.data === 'probe') {
        ws.send('3probe');
        // The held GET ends cleanly, so the client can pause polling and finish the upgrade.
        if (session.poll) answerPoll(session, [{ type: 'noop' }]);
      } else if (packet?.type === 'upgrade') {
        this.completeUpgrade(session, ws, settings);
      } else {
        session.probe = undefined;
        ws.close(1002, 'Bad upgrade');
      }
      return;
    }
    const session = this.session(att.sid) ?? this.adopt(ws, att);
    if (size > settings.maxPayload) {
      try {
        ws.close(1009, 'Max payload size exceeded');
      } catch {}
      await this.closeSession(session, 'transport error');
      return;
    }
    if (!packet) {
      await this.closeSession(session, 'parse error');
      return;
    }
    await this.onPacket(session, packet, settings);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Completes the closing handshake of a client-initiated close (the runtime does not answer it by itself).
    try {
      ws.close(code >= 1000 && code < 1004 ? code : 1000, 'Closed');
    } catch {
      // closed already
    }
    const att = ws.deserializeAttachment() as SocketAttachment<S> | null;
    if (att?.v !== 'eio1') return;
    const session = this.sessions.get(att.sid) ?? (att.probe ? null : this.adopt(ws, att));
    if (!session) return;
    if (att.probe) {
      if (session.probe === ws) session.probe = undefined;
      return;
    }
    if (session.ws === ws) await this.closeSession(session, 'transport close');
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1011);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const due = this.timers.takeDue(now);
    for (const name of due) {
      try {
        if (name === TIMER_HEARTBEAT) await this.heartbeat(now);
        else await this.onTimer(name, now);
      } catch (err) {
        console.error(`timer ${name} failed`, err);
      }
    }
    await this.timers.sync(true);
  }

  // ---- internals --------------------------------------------------------------------------------------------

  private async onPacket(session: EngineSession<S>, packet: EnginePacket, settings: EngineSettings): Promise<void> {
    this.liveness.spoke(session.sid);
    switch (packet.type) {
      case 'pong':
        this.liveness.ponged(session.sid);
        if (session.transport === 'polling') this.schedulePollingPing(session, settings);
        return;
      case 'ping':
        // v4's heartbeat goes the other way (the server pings): the reference server ends the session on a client
        // ping ("invalid heartbeat direction"). The upgrade's `2probe` arrives on the probe socket, not here.
        await this.closeSession(session, 'transport error');
        return;
      case 'message':
        if (packet.data !== undefined) await this.onEngineMessage(session, packet.data);
        return;
      case 'close':
        await this.closeSession(session, 'forced close', true);
        return;
      default:
      // noop, and open or upgrade out of place: the reference server ignores them.
    }
  }

  private completeUpgrade(session: EngineSession<S>, ws: WebSocket, settings: EngineSettings): void {
    session.probe = undefined;
    session.transport = 'websocket';
    session.ws = ws;
    if (session.timer) clearTimeout(session.timer);
    session.timer = undefined;
    endPollForUpgrade(session);
    const queued = session.queue.splice(0);
    this.liveness.upgraded(session.sid, Date.now());
    this.persist(session);
    this.sendPackets(session, queued);
    void this.timers.scheduleNoLaterThan(TIMER_HEARTBEAT, Date.now() + settings.pingInterval);
  }

  private createSession(transport: 'polling' | 'websocket', url: URL): EngineSession<S> {
    const session = newSession(this.newSid(), transport, url, this.initialState());
    this.sessions.set(session.sid, session);
    return session;
  }

  private adopt(ws: WebSocket, att: SocketAttachment<S>): EngineSession<S> {
    const session = adoptedSession(ws, att);
    this.sessions.set(att.sid, session);
    return session;
  }

  private schedulePollingPing(session: EngineSession<S>, settings: EngineSettings): void {
    schedulePollingPing(session, settings, {
      tick: (now) => this.onEngineTick(session, now),
      ping: () => this.sendPackets(session, [{ type: 'ping' }]),
      timeout: () => void this.closeSession(session, 'ping timeout'),
    });
  }

  /** The WebSocket heartbeat (`engineio-liveness.ts`); the layers above get their tick first (connect timeouts). */
  private async heartbeat(now: number): Promise<void> {
    const nextAt = await this.liveness.sweep(this.allSessions(), now, this.settings(), {
      tick: (session) => this.onEngineTick(session, now),
      timeout: (session) => this.closeSession(session, 'ping timeout'),
      ping: (session) => this.sendPackets(session, [{ type: 'ping' }]),
    });
    if (nextAt !== null) await this.timers.schedule(TIMER_HEARTBEAT, nextAt);
  }
}
