import { DEFAULT_ENGINE_SETTINGS, EngineIoActor, type EngineSession, type EngineSettings } from './engineio-actor';
import { type Ack, type ConnectResult, SocketIoActor, type SocketIoState, type SocketRecord } from './socketio-actor';

/**
 * The servers the official Engine.IO and Socket.IO protocol test suites expect (their `test-suite/` folders), built
 * on the production Engine.IO and Socket.IO actors: only the application on top differs. Never deployed with the
 * production Worker (see wrangler.conformance.toml).
 */

/** The suites' settings: pingInterval 300, pingTimeout 200, maxPayload 1e6, CORS `*`. */
export const CONFORMANCE_SETTINGS: EngineSettings = {
  ...DEFAULT_ENGINE_SETTINGS,
  pingInterval: 300,
  pingTimeout: 200,
  maxPayload: 1_000_000,
  cors: true,
};

const randomId = (): string => crypto.randomUUID().replaceAll('-', '').slice(0, 20);

/** `/engine.io/`: every message echoed back, text and binary. */
export class EngineEcho extends EngineIoActor<null> {
  protected engineSettings(): EngineSettings {
    return CONFORMANCE_SETTINGS;
  }
  protected newSid(): string {
    return randomId();
  }
  protected initialState(): null {
    return null;
  }
  protected onEngineMessage(session: EngineSession<null>, data: string | Uint8Array): void {
    this.sendMessages(session, [data]);
  }
  protected onEngineClose(): void {}
}

type Auth = Record<string, unknown>;

/**
 * `/socket.io/`: namespaces `/` and `/custom` without authentication, `auth` emitted with the handshake payload on
 * connection, `message` answered with `message-back` (same arguments), `message-with-ack` acknowledged with its
 * arguments; connect timeout 1000 ms.
 */
export class ConformanceSocketIo extends SocketIoActor<Auth> {
  protected readonly namespaces = ['/', '/custom'] as const;

  protected engineSettings(): EngineSettings {
    return CONFORMANCE_SETTINGS;
  }
  protected newSid(): string {
    return randomId();
  }
  protected connectTimeoutMs(): number {
    return 1_000;
  }
  protected async authorize(_session: EngineSession<SocketIoState<Auth>>, nsp: string, auth: Auth): Promise<ConnectResult<Auth>> {
    return { ok: true, socket: { id: randomId(), nsp, data: auth } };
  }
  protected override onSocketConnected(session: EngineSession<SocketIoState<Auth>>, socket: SocketRecord<Auth>): void {
    this.emit(session, socket, 'auth', [socket.data]);
  }
  protected onSocketEvent(
    session: EngineSession<SocketIoState<Auth>>,
    socket: SocketRecord<Auth>,
    event: string | number,
    args: unknown[],
    ack: Ack | null,
  ): void {
    if (event === 'message') this.emit(session, socket, 'message-back', args);
    else if (event === 'message-with-ack') ack?.(args);
  }
}
