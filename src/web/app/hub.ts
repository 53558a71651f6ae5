/**
 * The hub page (GET /demo/hub/{roomId}): seed 003's Socket.IO hub from the browser, on the official
 * `socket.io-client`. Sign in (guest, login or register, as on the collaboration demo), join a room, chat (class C
 * messages, acknowledged), see who is here (online / away) and how the page is connected: the transport (polling,
 * then WebSocket once Engine.IO upgraded) and the connection state (connecting, connected, reconnecting, offline).
 *
 * Recovery is Socket.IO's own: after a dropped transport the client reconnects with its session id and offset; when
 * the server recovers the session (`socket.recovered`) the rooms are kept and the missed messages arrive once, in
 * order. Otherwise the page joins its room again.
 *
 * `window.edgeHub.info()` exposes what the page believes, `edgeHub.drop()` cuts the transport as a lost network
 * would (for the browser test and for trying it by hand).
 */
import { io, type Socket } from 'socket.io-client';
import { $, toast } from './dom';
import { bootLogin } from './login';
import * as auth from './session';

type State = 'connecting' | 'connected' | 'reconnecting' | 'offline';
type Status = 'online' | 'away';

interface Person {
  userId: string;
  username: string | null;
  status: Status;
}

interface FeedItem {
  messageId: string;
  senderId: string;
  username: string;
  text: string;
  timestamp: string;
}

/** The server's `message` event (seed 003), as far as the page reads it. */
interface HubMessage {
  messageId: string;
  type: string;
  senderId: string;
  roomId?: string;
  payload: unknown;
  timestamp: string;
  metadata?: Record<string, unknown>;
}

interface PresenceEvent {
  userId: string;
  status: Status | 'offline';
  roomId?: string;
}

class HubPage {
  readonly socket: Socket;
  state: State = 'connecting';
  readonly stateHistory: State[] = ['connecting'];
  /** Every transport the page was on, in order (`polling`, `websocket`, ...). */
  readonly transports: string[] = [];
  joined = false;
  recoveries = 0;
  connects = 0;
  /** Completed REST reads of the room's presence. */
  presenceReads = 0;
  readonly people = new Map<string, Person>();
  readonly feed: FeedItem[] = [];
  #status: Status = 'online';

  constructor(
    readonly roomId: string,
    readonly me: auth.Session,
  ) {
    const t = new URLSearchParams(location.search).get('transport');
    this.socket = io(location.origin, {
      // A function, so each (re)connect presents a fresh token; the client adds `pid` and `offset` for recovery.
      auth: (cb) => {
        auth.freshToken().then(
          (token) => cb({ token }),
          () => cb({}),
        );
      },
      query: { clientId: `hub-page-${me.userId}` },
      transports: t === 'polling' || t === 'websocket' ? [t] : ['polling', 'websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
    });
    this.people.set(me.userId, { userId: me.userId, username: me.username, status: 'online' });
    this.#wire();
    this.render();
  }

  #wire(): void {
    const { socket } = this;
    const manager = socket.io;
    const watchEngine = () => {
      const engine = manager.engine;
      this.#transport(engine.transport.name);
      engine.on('upgrade', (transport) => this.#transport(transport.name));
    };
    manager.on('open', watchEngine);
    manager.on('reconnect_attempt', () => this.#setState('reconnecting'));
    manager.on('reconnect_failed', () => this.#setState('offline'));
    socket.on('connect', () => {
      this.connects++;
      if (socket.recovered) {
        // Rooms kept by the server, missed messages on their way; presence is not replayed (class A), so re-read it.
        this.recoveries++;
        this.#setState('connected');
        void this.#readPresence();
        return;
      }
      this.joined = false;
      this.#setState('connected');
      socket.emit('join_room', { roomId: this.roomId }, (answer: { roomId?: string; error?: string }) => {
        if (answer?.roomId !== this.roomId) return toast(answer?.error ?? 'Could not join the room');
        this.joined = true;
        if (this.#status !== 'online') socket.emit('presence_update', { status: this.#status });
        void this.#readPresence();
        this.render();
      });
    });
    socket.on('disconnect', (reason) => {
      this.#setState(socket.active ? 'reconnecting' : 'offline');
      if (!socket.active) toast(`Disconnected (${reason})`);
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      // A refused CONNECT (bad token) is final; a transport error is retried by the manager.
      if (!socket.active) {
        this.#setState('offline');
        toast(`${err.message}${err.data?.code ? ` (${err.data.code})` : ''}`);
      }
    });
    socket.on('message', (m: HubMessage) => this.#message(m));
    socket.on('presence_update', (p: PresenceEvent) => this.#presence(p));
    socket.on('error', (e: { error?: string; code?: string }) => toast(`${e.code ?? 'ERROR'}: ${e.error ?? ''}`));
    if (manager.engine) watchEngine();
  }

  #transport(name: string): void {
    if (this.transports[this.transports.length - 1] !== name) this.transports.push(name);
    this.render();
  }

  #setState(state: State): void {
    if (this.state === state) return;
    this.state = state;
    this.stateHistory.push(state);
    this.render();
  }

  #message(m: HubMessage): void {
    if (m.type !== 'chat' || m.roomId !== this.roomId) return;
    if (this.feed.some((f) => f.messageId === m.messageId)) return;
    const payload = m.payload as { text?: unknown };
    const username = typeof m.metadata?.username === 'string' ? m.metadata.username : null;
    this.feed.push({
      messageId: m.messageId,
      senderId: m.senderId,
      username: username ?? `user ${m.senderId}`,
      text: typeof payload?.text === 'string' ? payload.text : '',
      timestamp: m.timestamp,
    });
    const known = this.people.get(m.senderId);
    if (known && username) known.username = username;
    this.render();
  }

  /**
   * Who was here before us: the paged REST read (`GET /api/hub/rooms/{roomId}/presence`). Live presence_update
   * events that arrive meanwhile win: only users not heard of since the read started are taken from it.
   */
  async #readPresence(): Promise<void> {
    const heardLive = new Set<string>();
    this.#heardLive = heardLive;
    const found = new Map<string, Person>();
    let cursor: string | null = '';
    try {
      while (cursor !== null) {
        const q = new URLSearchParams({ limit: '200', ...(cursor ? { cursor } : {}) });
        const res = await fetch(`/api/hub/rooms/${encodeURIComponent(this.roomId)}/presence?${q}`, {
          headers: { Authorization: `Bearer ${await auth.freshToken()}` },
        });
        if (!res.ok) throw new Error(`presence read failed (${res.status})`);
        const page = (await res.json()) as { presence: Array<{ userId: string; status: Status }>; nextCursor: string | null };
        for (const p of page.presence) {
          found.set(p.userId, { userId: p.userId, username: this.people.get(p.userId)?.username ?? null, status: p.status });
        }
        cursor = page.nextCursor;
      }
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err));
      return;
    }
    // A newer read started meanwhile: it will answer.
    if (this.#heardLive !== heardLive) return;
    for (const userId of heardLive) {
      const live = this.people.get(userId);
      if (live) found.set(userId, live);
      else found.delete(userId);
    }
    const self = this.people.get(this.me.userId);
    if (self) found.set(this.me.userId, self);
    this.people.clear();
    for (const [userId, person] of found) this.people.set(userId, person);
    this.presenceReads++;
    this.render();
  }

  #heardLive = new Set<string>();

  #presence(p: PresenceEvent): void {
    this.#heardLive.add(p.userId);
    if (p.roomId !== undefined && p.roomId !== this.roomId) return;
    if (p.status === 'offline') this.people.delete(p.userId);
    else {
      const known = this.people.get(p.userId);
      this.people.set(p.userId, { userId: p.userId, username: known?.username ?? null, status: p.status });
    }
    this.render();
  }

  send(text: string): void {
    const metadata = { username: this.me.username };
    this.socket.emit(
      'message',
      { type: 'chat', roomId: this.roomId, payload: { text }, metadata },
      (ack: { messageId?: string; error?: string; code?: string }) => {
        if (!ack?.messageId) return toast(`${ack?.code ?? 'ERROR'}: ${ack?.error ?? 'not sent'}`);
        // The server sends a message to every member but its sender: the ack is our copy.
        this.#message({
          messageId: ack.messageId,
          type: 'chat',
          senderId: this.me.userId,
          roomId: this.roomId,
          payload: { text },
          timestamp: new Date().toISOString(),
          metadata,
        });
      },
    );
  }

  setStatus(status: Status): void {
    this.#status = status;
    const self = this.people.get(this.me.userId);
    if (self) self.status = status;
    if (this.socket.connected) this.socket.emit('presence_update', { status });
    this.render();
  }

  /** Cuts the transport as a lost network would; the client's reconnection takes over. */
  drop(): boolean {
    const engine = this.socket.io.engine;
    if (!this.socket.connected || !engine) return false;
    engine.close();
    return true;
  }

  stop(): void {
    this.socket.disconnect();
  }

  render(): void {
    const status = $('status');
    status.hidden = false;
    status.dataset.state = this.state;
    const transport = this.transports[this.transports.length - 1] ?? '';
    status.dataset.transport = transport;
    $('status-text').textContent = this.state;
    $('status-detail').textContent = [
      this.transports.length > 1 ? this.transports.join(' → ') : transport,
      this.recoveries > 0 ? `recovered ×${this.recoveries}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    const people = [...this.people.values()].sort((a, b) => a.userId.localeCompare(b.userId));
    $('people').replaceChildren(
      ...people.map((p) => {
        const li = document.createElement('li');
        li.dataset.status = p.status;
        li.dataset.userId = p.userId;
        const dot = document.createElement('span');
        dot.className = 'presence-dot';
        dot.title = p.status;
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = (p.username ?? `user ${p.userId}`) + (p.userId === this.me.userId ? ' (you)' : '');
        const detail = document.createElement('span');
        detail.className = 'detail';
        detail.textContent = p.status;
        li.append(dot, name, detail);
        return li;
      }),
    );
    $('people-count').textContent = String(people.length);
    const feed = $('feed');
    feed.replaceChildren(
      ...this.feed.map((f) => {
        const li = document.createElement('li');
        li.dataset.id = f.messageId;
        const time = document.createElement('time');
        time.textContent = new Date(f.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        const who = document.createElement('b');
        who.textContent = f.username;
        const text = document.createElement('span');
        text.className = 'text';
        text.textContent = f.text;
        li.append(time, who, text);
        return li;
      }),
    );
    feed.scrollTop = feed.scrollHeight;
  }

  /** What the page believes, for the browser test and for curious people in the console. */
  info() {
    return {
      roomId: this.roomId,
      me: { userId: this.me.userId, username: this.me.username },
      state: this.state,
      stateHistory: [...this.stateHistory],
      transport: this.transports[this.transports.length - 1] ?? null,
      transports: [...this.transports],
      connected: this.socket.connected,
      joined: this.joined,
      recovered: this.socket.recovered,
      recoveries: this.recoveries,
      connects: this.connects,
      presenceReads: this.presenceReads,
      people: [...this.people.values()].map((p) => ({ userId: p.userId, status: p.status })),
      feed: this.feed.map((f) => ({ messageId: f.messageId, senderId: f.senderId, text: f.text })),
    };
  }
}

// ---- sign-in screen and start-up --------------------------------------------------------------------------------

let page: HubPage | null = null;

function showRoom(roomId: string, session: auth.Session): void {
  $('login').hidden = true;
  $('room').hidden = false;
  $('me').hidden = false;
  $('me-name').textContent = session.username;
  $('room-name').textContent = roomId;
  document.title = `${roomId} · EdgeRooms hub`;
  if (location.pathname !== `/demo/hub/${roomId}`) history.replaceState(null, '', `/demo/hub/${roomId}${location.search}`);
  page = new HubPage(roomId, session);
}

function boot(): void {
  bootLogin({
    enter: showRoom,
    leave: () => {
      page?.stop();
      page = null;
    },
  });
  $<HTMLFormElement>('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('chat-input');
    const text = input.value.trim();
    if (!text || !page) return;
    page.send(text);
    input.value = '';
  });
  $<HTMLSelectElement>('me-status').addEventListener('change', (e) => {
    page?.setStatus((e.target as HTMLSelectElement).value === 'away' ? 'away' : 'online');
  });
  (window as unknown as { edgeHub: unknown }).edgeHub = {
    info: () => page?.info() ?? null,
    drop: () => page?.drop() ?? false,
    get socket() {
      return page?.socket ?? null;
    },
  };
}

boot();
