import { DurableObject } from 'cloudflare:workers';
import { CLOSE } from '../core/protocol';
import { Scheduler } from '../core/scheduler';
import {
  decodeFrame,
  decodePayload,
  ENGINE_ERRORS,
  ENGINE_IO_PROTOCOL,
  type EngineError,
  type EnginePacket,
  encodeFrame,
  encodePayload,
  openPacket,
} from '../dialects/engineio';
import { planHeartbeat } from '../domain/engineio-heartbeat';
import type { Env } from '../env';
import { acceptAndClose, corsHeaders, postAccepted, refusal, statusAnswer, textAnswer } from './engineio-http';
import { answerPoll, endPollForUpgrade, flushPoll, holdPoll, holdProbePoll, schedulePollingPing } from './engineio-polling';
import {
  adoptedSession,
  attachmentOf,
  type EngineSession,
  type EngineSettings,
  newSession,
  openPayload,
  type SocketAttachment,
} from './engineio-session';

export { DEFAULT_ENGINE_SETTINGS, type EngineSession, type EngineSettings } from './engineio-session';

const TIMER_HEARTBEAT = 'eio:heartbeat';

/** Messages encoded once: the packets (polling queues them) and their WebSocket frames. */
/**
 * The UTF-8 size of `text` where it matters for a `limit`: a UTF-16 unit takes at most 3 bytes, so a text of at
 * most limit/3 units is within it without encoding (its length stands in); longer ones are encoded and measured.
 */
function utf8Bound(text: string, limit: number): number {
  return text.length * 3 <= limit ? text.length : new TextEncoder().encode(text).byteLength;
}

export interface PreparedMessages {
  packets: EnginePacket[];
  frames: Array<string | Uint8Array>;
}

/**
 * An Engine.IO v4 server as a Durable Object: handshake over polling or WebSocket, polling GET/POST with one of
 * each in flight, upgrade, heartbeat (the server pings, a missed pong closes), `maxPayload`. WebSocket sessions
 * hibernate: their state rides in the socket's attachment and the heartbeat is the actor's alarm. Polling
 * sessions live in memory: a held GET keeps the actor awake, and a client whose actor was evicted gets the
 * protocol's "Session ID unknown" and reconnects. The layer above (Socket.IO) implements the hooks.
 *
 * Beside it: the session model and its attachment (`engineio-session.ts`), the polling transport
 * (`engineio-polling.ts`) and the HTTP answers (`engineio-http.ts`); the WebSocket transport is the hibernation
 * handlers below, which must be the actor's own methods.
 */
export abstract class EngineIoActor<S> extends DurableObject<Env> {
  protected readonly sql: SqlStorage;
  protected readonly timers: Scheduler;
  private readonly sessions = new Map<string, EngineSession<S>>();
  /** WebSocket sessions pinged by the last heartbeat and not answered yet, by sid (memory: a wake re-pings). */
  private readonly awaitingPong = new Map<string, number>();
  /** When each WebSocket session was last pinged (memory: after a wake, its open time stands in). */
  private readonly lastPing = new Map<string, number>();
  /** Bytes sent to each WebSocket session since its client last sent a packet (the slow-consumer bound). */
  private readonly unread = new Map<string, number>();
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
    const packets = messages.map((data): EnginePacket => ({ type: 'message', data }));
    return { packets, frames: packets.map(encodeFrame) };
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

  /**
   * The runtime buffers whatever a peer does not read, without limit and without telling (workerd has no
   * `bufferedAmount` on this side), so a client that stops reading is found by its silence: past half of
   * `maxUnreadBytes` sent since it last sent a packet, it is pinged at once (a reading client pongs, which resets
   * the count); past all of it, the session ends with 4008. False when `frames` must not be sent.
   */
  private withinUnread(session: EngineSession<S>, ws: WebSocket, frames: Array<string | Uint8Array>): boolean {
    const limit = this.settings().maxUnreadBytes;
    let bytes = this.unread.get(session.sid) ?? 0;
    for (const frame of frames) bytes += typeof frame === 'string' ? frame.length : frame.byteLength;
    if (bytes > limit) {
      void this.closeSession(session, `Slow consumer: over ${limit} bytes unread`, false, CLOSE.SLOW_CONSUMER);
      return false;
    }
    this.unread.set(session.sid, bytes);
    if (bytes > limit / 2 && !this.awaitingPong.has(session.sid)) {
      const now = Date.now();
      this.awaitingPong.set(session.sid, now);
      this.lastPing.set(session.sid, now);
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
    this.awaitingPong.delete(session.sid);
    this.lastPing.delete(session.sid);
    this.unread.delete(session.sid);
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

  // ---- HTTP: handshake, polling, upgrade --------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const answer = await this.route(request);
    // A refused POST's body is never read: release it instead of leaving the stream half-consumed.
    if (request.body && !request.bodyUsed) await request.body.cancel().catch(() => {});
    return answer;
  }

  private async route(request: Request): Promise<Response> {
    const settings = this.settings();
    const url = new URL(request.url);
    const isUpgrade = request.headers.get('upgrade')?.toLowerCase() === 'websocket';
    if (settings.cors && request.method === 'OPTIONS') return new Response(null, { status: 204, headers: corsHeaders(true) });
    if (url.searchParams.get('EIO') !== String(ENGINE_IO_PROTOCOL))
      return this.refuse(ENGINE_ERRORS.UNSUPPORTED_PROTOCOL_VERSION);
    const transport = url.searchParams.get('transport');
    if (transport !== 'polling' && transport !== 'websocket') return this.refuse(ENGINE_ERRORS.UNKNOWN_TRANSPORT);
    const sid = url.searchParams.get('sid');

    if (!sid) {
      if (request.method !== 'GET') return this.refuse(ENGINE_ERRORS.BAD_HANDSHAKE_METHOD);
      if (transport === 'websocket') {
        if (!isUpgrade) return this.refuse(ENGINE_ERRORS.BAD_REQUEST);
        return this.openWebSocket(settings, url);
      }
      return this.openPolling(settings, url);
    }

    const session = this.session(sid);
    if (!session) return this.refuse(ENGINE_ERRORS.UNKNOWN_SID);
    if (transport === 'websocket') {
      if (!isUpgrade) return this.refuse(ENGINE_ERRORS.BAD_REQUEST);
      // A second upgrade of the same session: accepted and closed at once, as the reference server does.
      if (session.transport === 'websocket' || session.probe) return acceptAndClose();
      return this.acceptProbe(session);
    }
    if (session.transport !== 'polling') return this.refuse(ENGINE_ERRORS.BAD_REQUEST);
    if (request.method === 'GET') return this.onPollRequest(session);
    if (request.method === 'POST') return this.onDataRequest(session, request, settings);
    return this.refuse(ENGINE_ERRORS.BAD_REQUEST);
  }

  private openPolling(settings: EngineSettings, url: URL): Response {
    const session = this.createSession('polling', url);
    this.schedulePollingPing(session, settings);
    return this.text(encodePayload([openPacket(openPayload(session, settings, ['websocket']))]));
  }

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

  private onPollRequest(session: EngineSession<S>): Response | Promise<Response> {
    if (session.poll) {
      // One GET at a time: the reference server closes the session ("overlap from client"); the held GET gets
      // the close packet.
      void this.closeSession(session, 'transport error');
      return this.status(400);
    }
    // While a WebSocket probes an upgrade, a poll ends soon with a noop so that the client can pause polling, or
    // with a 400 if the upgrade completes first (it raced the probe's `5`).
    const held = session.probe && session.queue.length === 0 ? holdProbePoll(session) : holdPoll(session);
    return held.then((body) => (body === null ? this.refuse(ENGINE_ERRORS.BAD_REQUEST) : this.text(body)));
  }

  private async onDataRequest(session: EngineSession<S>, request: Request, settings: EngineSettings): Promise<Response> {
    if (session.posting) {
      await this.closeSession(session, 'transport error');
      return this.status(400);
    }
    if (request.headers.get('content-type') === 'application/octet-stream') {
      await this.closeSession(session, 'transport error');
      return this.status(400);
    }
    const declared = Number(request.headers.get('content-length') ?? '0');
    if (declared > settings.maxPayload) return this.status(413);
    session.posting = true;
    try {
      const body = await request.text();
      if (new TextEncoder().encode(body).byteLength > settings.maxPayload) return this.status(413);
      const packets = decodePayload(body);
      if (!packets) {
        await this.closeSession(session, 'parse error');
        return this.status(400);
      }
      for (const packet of packets) {
        if (session.closed) break;
        await this.onPacket(session, packet, settings);
      }
      return postAccepted(settings.cors);
    } finally {
      session.posting = false;
    }
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
    // The client spoke, so it reads: what was sent before no longer counts against it.
    this.unread.delete(session.sid);
    switch (packet.type) {
      case 'pong':
        this.awaitingPong.delete(session.sid);
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
    this.lastPing.set(session.sid, Date.now());
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

  /**
   * WebSocket heartbeat, one alarm for all sessions (rules in `domain/engineio-heartbeat.ts`: batched sweeps, the
   * server pings, a late pong ends the session). The layers above get their tick first (connect timeouts).
   */
  private async heartbeat(now: number): Promise<void> {
    const settings = this.settings();
    const live = new Map<string, EngineSession<S>>();
    for (const session of this.allSessions()) {
      if (session.transport !== 'websocket') continue;
      if (!this.awaitingPong.has(session.sid)) this.onEngineTick(session, now);
      if (!session.closed) live.set(session.sid, session);
    }
    const plan = planHeartbeat(
      [...live.values()].map((session) => ({
        sid: session.sid,
        openedAt: session.createdAt,
        lastPingAt: this.lastPing.get(session.sid),
        awaitingPongSince: this.awaitingPong.get(session.sid),
      })),
      now,
      settings,
    );
    for (const sid of plan.timedOut) {
      const session = live.get(sid);
      if (session) await this.closeSession(session, 'ping timeout');
    }
    for (const sid of plan.ping) {
      const session = live.get(sid);
      if (!session || session.closed) continue;
      this.awaitingPong.set(sid, now);
      this.lastPing.set(sid, now);
      this.sendPackets(session, [{ type: 'ping' }]);
    }
    if (plan.nextAt !== null) await this.timers.schedule(TIMER_HEARTBEAT, plan.nextAt);
  }

  private text(body: string): Response {
    return textAnswer(body, this.settings().cors);
  }

  private status(status: number): Response {
    return statusAnswer(status, this.settings().cors);
  }

  private refuse(error: EngineError): Response {
    return refusal(error, this.settings().cors);
  }
}
