/**
 * The demo page (GET /demo/{roomId}): a collaboration room of seed 001 on the client SDK (src/client) with the
 * connection status indicator of seed 004. Plain DOM and canvas, no framework.
 *
 * Connection life: the SDK connects (WebSocket, else SSE, else long polling), resumes from the last event id
 * after a drop and replays what was missed (`resyncing`), deduplicating by event id. Each new connection must
 * `room.join` again (membership belongs to a connection): the first join's answer is the whole room; after a
 * reconnect the canvas comes from the replay and the join answer only refreshes presence.
 *
 * `window.edgeDemo.info()` exposes what the page believes (ops, feed, state history) for the browser test.
 */
import { createClient, type EdgeRoomsClient, RequestError, roomsDialect } from '../../client';
import type { ConnectionState } from '../../client/state';
import { CanvasView, type ShapeInput, type StrokePiece } from './canvas-view';
import { $, toast } from './dom';
import { bootLogin } from './login';
import { applyEvent, applySnapshot, createModel, type Point, presenceList, type RoomModel, type Tool, userColor } from './model';
import * as auth from './session';

/** Typing or drawing shows for this long after the last key or stroke. */
const ACTIVITY_IDLE_MS = 3000;

interface Joined {
  userId: string;
  username: string;
}

class RoomPage {
  readonly roomId: string;
  readonly client: EdgeRoomsClient;
  model: RoomModel = createModel();
  me: Joined | null = null;
  joined = false;
  /** Every state the indicator showed, in order (the browser test reads it). */
  readonly stateHistory: ConnectionState[] = [];
  replayed = 0;
  resyncs = 0;
  /** Room calls made while not joined, run once the (re)join succeeded. */
  #waiting: Array<() => void> = [];
  #joinAttempt = 0;
  readonly view: CanvasView;
  #tool: Tool = 'pen';
  #status: 'online' | 'away' = 'online';
  /** Presence activity: what the page wants shown, what the server was last told, and when. */
  #activityWanted: 'typing' | 'drawing' | 'viewing' | null = null;
  #activitySent: 'typing' | 'drawing' | 'viewing' | null = null;
  #activityAt = 0;
  #activityIdle: ReturnType<typeof setTimeout> | undefined;
  #activityFlush: ReturnType<typeof setTimeout> | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #socket: WebSocket | null = null;

  constructor(roomId: string) {
    this.roomId = roomId;
    const origin = location.origin;
    const room = encodeURIComponent(roomId);
    this.client = createClient({
      url: `${origin.replace(/^http/, 'ws')}/ws/rooms/${room}`,
      sseUrl: `${origin}/sse?room=${room}`,
      pollUrl: `${origin}/api/rooms/${room}/events`,
      sendUrl: `${origin}/api/rooms/${room}/messages`,
      dialect: roomsDialect,
      token: () => auth.freshToken(),
      // A person is watching: come back quickly (full jitter below 5 s) and keep trying for a while.
      reconnect: { base: 500, cap: 5000, maxAttempts: 30 },
      transports: transportsFromQuery(),
      // Long polls held at most 5 s: a poller is only "connected" once its first poll is answered, and the server
      // holds even a first poll (no resume point yet) until something happens, so 25 s would leave an idle room's
      // poller "connecting" that long.
      poll: { wait: 5 },
      // The page keeps a handle on its socket so `edgeDemo.dropConnection()` can cut it like a network loss.
      openWebSocket: (url, protocols) => {
        const ws = new WebSocket(url, protocols);
        this.#socket = ws;
        return ws;
      },
    });
    this.view = new CanvasView($<HTMLCanvasElement>('canvas'), $<HTMLCanvasElement>('preview'), $('cursors'), {
      brush: () => ({
        tool: this.#tool,
        color: $<HTMLInputElement>('color').value,
        size: Number($<HTMLInputElement>('size').value),
      }),
      sendPiece: (piece) => this.#sendPiece(piece),
      sendShape: (shape) => this.#sendShape(shape),
      cursor: (p) => this.#cursor(p),
      drawing: () => this.#setActivity('drawing'),
    });
    this.#wireClient();
    this.#wireControls();
  }

  start(): void {
    this.#ticker = setInterval(() => this.renderStatus(), 1000);
    this.renderStatus();
    void this.client.connect();
  }

  stop(): void {
    clearInterval(this.#ticker);
    clearTimeout(this.#activityIdle);
    clearTimeout(this.#activityFlush);
    const leave = this.joined ? this.client.request('room.leave', {}, 2000).catch(() => undefined) : Promise.resolve();
    void leave.finally(() => this.client.disconnect());
  }

  // ---- connection --------------------------------------------------------------------------------------------

  #wireClient(): void {
    const c = this.client;
    c.on('state', ({ state }) => {
      this.stateHistory.push(state);
      if (state !== 'connected' && state !== 'resyncing') this.joined = false;
      this.renderStatus();
    });
    c.on('connected', ({ resumed }) => {
      void this.#join(resumed);
      // Measure the round trip now rather than at the first heartbeat (25 s).
      c.ping();
    });
    // The probe moved us to another transport: a new connection, which must join too.
    c.on('transport', () => {
      if (c.state === 'connected') void this.#join(true);
      this.renderStatus();
    });
    c.on('latency', () => this.renderStatus());
    c.on('reconnecting', () => this.renderStatus());
    c.on('resync_complete', ({ replayed }) => {
      this.replayed += replayed;
      this.resyncs++;
    });
    c.on('snapshot', ({ snapshot }) => this.#update(applySnapshot(this.model, snapshot)));
    c.on('event', (e) => this.#update(applyEvent(this.model, e.name, e.data)));
    c.on('error', (err) => console.warn('[edgerooms]', err.message));
  }

  /**
   * Joins on the current connection; `resumed`: keep the canvas (the replay brought it up to date). A join is
   * idempotent on the server, so a newer attempt simply supersedes an older one still in flight.
   */
  async #join(resumed: boolean, tries = 3): Promise<void> {
    const attempt = ++this.#joinAttempt;
    try {
      const answer = await this.client.request<Record<string, unknown>>('room.join', {}, 10_000);
      if (attempt !== this.#joinAttempt) return;
      const you = answer.you as { userId: string; username: string } | undefined;
      if (you) this.me = { userId: you.userId, username: you.username };
      this.#update(applySnapshot(this.model, answer, { canvas: !resumed }));
      this.joined = true;
      if (this.#status === 'away') void this.#call('presence.update', { status: 'away' });
      for (const run of this.#waiting.splice(0)) run();
    } catch (err) {
      if (attempt !== this.#joinAttempt) return;
      if (tries > 1 && this.client.state === 'connected') {
        setTimeout(() => {
          if (attempt === this.#joinAttempt) void this.#join(resumed, tries - 1);
        }, 1000);
      } else if (this.client.state === 'connected') {
        toast(`Could not join the room: ${message(err)}`);
      }
    }
  }

  /** A room request; waits for the join when the connection has not joined yet. */
  #call<T = unknown>(method: string, params: unknown): Promise<T> {
    const run = () => this.client.request<T>(method, params);
    if (this.joined) return run();
    return new Promise<T>((resolve, reject) => this.#waiting.push(() => run().then(resolve, reject)));
  }

  #update(model: RoomModel): void {
    this.model = model;
    this.view.setOps(model.ops);
    const canvas = $('canvas');
    canvas.dataset.opsCount = String(model.ops.length);
    canvas.dataset.duplicates = String(model.duplicates);
    this.renderPeople();
    this.renderFeed();
    const names = new Map([...model.presence.values()].map((p) => [p.userId, p.username]));
    this.view.setCursors(model.cursors, names, this.me?.userId ?? null);
  }

  // ---- requests from the UI ------------------------------------------------------------------------------------

  async #sendPiece(piece: StrokePiece): Promise<string> {
    const params =
      piece.tool === 'eraser'
        ? { points: piece.points, color: piece.color, size: piece.size }
        : { points: piece.points, color: piece.color, size: piece.size, strokeId: piece.strokeId };
    return this.#opRequest(piece.tool === 'eraser' ? 'canvas.erase' : 'canvas.draw', params);
  }

  #sendShape(shape: ShapeInput): Promise<string> {
    return this.#opRequest('canvas.shape', shape);
  }

  async #opRequest(method: string, params: unknown): Promise<string> {
    try {
      const r = await this.#call<{ id: string }>(method, params);
      return r.id;
    } catch (err) {
      toast(message(err));
      throw err;
    }
  }

  #cursor(p: Point): void {
    // Cursors are fire-and-forget: not queued while offline (a stale position is worth nothing).
    if (!this.joined || this.client.state !== 'connected') return;
    this.client.request('cursor.move', p, 5000).catch(() => undefined);
  }

  /**
   * Presence activity: "typing" or "drawing" while keys or strokes come, cleared after ACTIVITY_IDLE_MS without
   * any. Updates go out only when the activity changes, at most one a second (they count against 100 requests a
   * minute); a change inside that second is sent when it is over, never dropped.
   */
  #setActivity(type: 'typing' | 'drawing' | 'viewing'): void {
    clearTimeout(this.#activityIdle);
    this.#activityIdle = setTimeout(() => this.#clearActivity(), ACTIVITY_IDLE_MS);
    this.#activityWanted = type;
    this.#flushActivity();
  }

  #clearActivity(): void {
    clearTimeout(this.#activityIdle);
    this.#activityWanted = null;
    this.#flushActivity();
  }

  #flushActivity(): void {
    if (this.#activityFlush !== undefined || this.#activityWanted === this.#activitySent || !this.joined) return;
    const wait = this.#activityAt + 1000 - Date.now();
    if (wait > 0) {
      this.#activityFlush = setTimeout(() => {
        this.#activityFlush = undefined;
        this.#flushActivity();
      }, wait);
      return;
    }
    const type = this.#activityWanted;
    this.#activitySent = type;
    this.#activityAt = Date.now();
    this.#call('presence.update', { activity: type ? { type, location: 'canvas' } : null }).catch(() => undefined);
  }

  #simple(method: string, params: unknown = {}): void {
    this.#call(method, params).catch((err) => toast(message(err)));
  }

  #wireControls(): void {
    for (const btn of document.querySelectorAll<HTMLButtonElement>('[data-tool]')) {
      btn.addEventListener('click', () => this.selectTool(btn.dataset.tool as Tool));
    }
    const size = $<HTMLInputElement>('size');
    size.addEventListener('input', () => {
      $('size-value').textContent = size.value;
    });
    $('undo').addEventListener('click', () => this.#simple('canvas.undo'));
    $('redo').addEventListener('click', () => this.#simple('canvas.redo'));
    $('clear').addEventListener('click', () => this.#simple('canvas.clear'));
    document.addEventListener('keydown', (e) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT')) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 'z') {
        e.preventDefault();
        this.#simple(e.shiftKey ? 'canvas.redo' : 'canvas.undo');
      } else if (mod && e.key.toLowerCase() === 'y') {
        e.preventDefault();
        this.#simple('canvas.redo');
      } else if (!mod && !e.altKey) {
        const tool = ({ p: 'pen', e: 'eraser', r: 'rectangle', c: 'circle' } as Record<string, Tool>)[e.key];
        if (tool) this.selectTool(tool);
      }
    });

    $<HTMLFormElement>('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>('chat-input');
      const text = input.value.trim();
      if (!text) return;
      input.value = '';
      this.#clearActivity(); // the message is sent: no longer typing
      this.#call('chat.send', { text }).catch((err) => {
        toast(message(err));
        if (!input.value) input.value = text;
      });
    });
    $('chat-input').addEventListener('input', () => this.#setActivity('typing'));

    $<HTMLFormElement>('dice-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const notation = $<HTMLInputElement>('dice-notation').value.trim();
      if (notation) this.#simple('dice.roll', { notation });
    });

    const status = $<HTMLSelectElement>('me-status');
    status.addEventListener('change', () => this.#setStatus(status.value === 'away' ? 'away' : 'online'));
    document.addEventListener('visibilitychange', () => {
      if (status.value === 'online') this.#setStatus(document.visibilityState === 'hidden' ? 'away' : 'online');
    });
    $('retry').addEventListener('click', () => void this.client.connect());

    const invite = $<HTMLInputElement>('invite-link');
    invite.value = `${location.origin}/demo/${encodeURIComponent(this.roomId)}`;
    invite.addEventListener('focus', () => invite.select());
    $<HTMLFormElement>('invite').addEventListener('submit', (e) => {
      e.preventDefault();
      invite.select();
      navigator.clipboard?.writeText(invite.value).then(
        () => toast('Invite link copied: send it to whoever should join'),
        () => toast('Select the link and copy it'),
      );
    });
    $('export').addEventListener('click', () => this.exportPng());
  }

  /** The canvas as it is now, as a PNG file (white background, like the board). */
  exportPng(): void {
    const source = $<HTMLCanvasElement>('canvas');
    const out = document.createElement('canvas');
    out.width = source.width;
    out.height = source.height;
    const ctx = out.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(source, 0, 0);
    out.toBlob((blob) => {
      if (!blob) return toast('Could not export the canvas');
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${this.roomId}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.png`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    }, 'image/png');
  }

  #setStatus(next: 'online' | 'away'): void {
    if (this.#status === next) return;
    this.#status = next;
    if (this.joined) this.#call('presence.update', { status: next }).catch((err) => toast(message(err)));
  }

  selectTool(tool: Tool): void {
    this.#tool = tool;
    for (const btn of document.querySelectorAll<HTMLButtonElement>('[data-tool]')) {
      btn.setAttribute('aria-pressed', String(btn.dataset.tool === tool));
    }
    $('board').dataset.tool = tool;
  }

  // ---- rendering -------------------------------------------------------------------------------------------------

  renderStatus(): void {
    const s = this.client.status;
    const el = $('status');
    el.dataset.state = s.state;
    el.dataset.transport = s.transport ?? '';
    $('status-text').textContent = s.state;
    const parts: string[] = [];
    if (s.state === 'connected' || s.state === 'resyncing') {
      if (s.transport) parts.push(s.transport === 'websocket' ? 'ws' : s.transport);
      if (s.latency !== null) parts.push(`${s.latency} ms`);
      if (s.state === 'resyncing' && s.resyncProgress) parts.push(`${s.resyncProgress.completed} replayed`);
    } else if (s.state === 'reconnecting') {
      parts.push(`attempt ${s.reconnectAttempt}/${s.maxAttempts}`);
      if (s.nextAttemptIn !== null) parts.push(`next in ${s.nextAttemptIn}s`);
    }
    if (s.queued > 0) parts.push(`${s.queued} queued`);
    $('status-detail').textContent = parts.join(' · ');
    $('retry').hidden = s.state !== 'offline';
  }

  renderPeople(): void {
    const list = $('people');
    const people = presenceList(this.model);
    list.replaceChildren(
      ...people.map((p) => {
        const li = document.createElement('li');
        li.dataset.status = p.status;
        li.dataset.userId = p.userId;
        const dot = document.createElement('span');
        dot.className = 'presence-dot';
        dot.title = p.status;
        const name = document.createElement('span');
        name.className = 'name';
        name.style.color = userColor(p.userId);
        name.textContent = p.username + (p.userId === this.me?.userId ? ' (you)' : '');
        const detail = document.createElement('span');
        detail.className = 'detail';
        detail.textContent =
          p.status === 'offline'
            ? `seen ${new Date(p.lastSeen).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`
            : p.status === 'away'
              ? 'away'
              : (p.activity?.type ?? 'online');
        li.append(dot, name, detail);
        return li;
      }),
    );
    $('people-count').textContent = String(people.filter((p) => p.status !== 'offline').length);
  }

  renderFeed(): void {
    const feed = $('feed');
    const atBottom = feed.scrollHeight - feed.scrollTop - feed.clientHeight < 40;
    feed.replaceChildren(
      ...this.model.feed.map((f) => {
        const li = document.createElement('li');
        li.className = `feed-${f.kind}`;
        li.dataset.id = f.id;
        const time = document.createElement('time');
        time.textContent = new Date(f.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        const who = document.createElement('b');
        who.textContent = f.username;
        who.style.color = userColor(f.userId);
        const text = document.createElement('span');
        text.className = 'text';
        text.textContent = f.kind === 'dice' ? `rolled ${f.text}` : f.text;
        li.append(time, who, text);
        return li;
      }),
    );
    if (atBottom) feed.scrollTop = feed.scrollHeight;
  }

  /** Closes the WebSocket as a lost network would (abnormal closure seen by the client): for tests and demos. */
  dropConnection(): boolean {
    const ws = this.#socket;
    if (!ws || ws.readyState > WebSocket.OPEN) return false;
    ws.close(4000, 'dropped by the page');
    return true;
  }

  /** What the page believes, for the browser test and for curious people in the console. */
  info() {
    return {
      roomId: this.roomId,
      me: this.me,
      joined: this.joined,
      state: this.client.state,
      transport: this.client.transport,
      latency: this.client.latency,
      lastEventId: this.client.lastEventId,
      stateHistory: [...this.stateHistory],
      replayed: this.replayed,
      resyncs: this.resyncs,
      opIds: this.model.ops.map((o) => o.id),
      duplicates: this.model.duplicates,
      feed: this.model.feed.map((f) => ({ kind: f.kind, username: f.username, text: f.text })),
      people: presenceList(this.model).map((p) => ({ username: p.username, status: p.status })),
    };
  }
}

function message(err: unknown): string {
  if (err instanceof RequestError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** `?transport=sse` (or `polling`) pins a transport, to try the fallbacks by hand. */
function transportsFromQuery(): Array<'websocket' | 'sse' | 'polling'> | undefined {
  const t = new URLSearchParams(location.search).get('transport');
  return t === 'websocket' || t === 'sse' || t === 'polling' ? [t] : undefined;
}

// ---- sign-in screen and start-up --------------------------------------------------------------------------------

let page: RoomPage | null = null;

function showRoom(roomId: string, session: auth.Session): void {
  $('login').hidden = true;
  $('room').hidden = false;
  $('me').hidden = false;
  $('status').hidden = false;
  $('room-name').textContent = roomId;
  $('me-name').textContent = session.username;
  document.title = `${roomId} · EdgeRooms`;
  if (location.pathname !== `/demo/${roomId}`) history.replaceState(null, '', `/demo/${roomId}${location.search}`);
  page = new RoomPage(roomId);
  page.selectTool('pen');
  page.start();
}

function boot(): void {
  bootLogin({
    enter: showRoom,
    leave: () => {
      page?.stop();
      page = null;
    },
    describe: message,
  });
  (window as unknown as { edgeDemo: unknown }).edgeDemo = {
    info: () => page?.info() ?? null,
    dropConnection: () => page?.dropConnection() ?? false,
    get client() {
      return page?.client ?? null;
    },
  };
}

boot();
