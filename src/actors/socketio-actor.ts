import {
  ackPacket,
  connectErrorPacket,
  connectPacket,
  decodePacket,
  disconnectPacket,
  encodePacket,
  eventPacket,
  PACKET,
  PacketError,
  reconstructPacket,
  type SocketPacket,
} from '../dialects/socketio';
import { EngineIoActor, type EngineSession, type PreparedMessages } from './engineio-actor';

/** One Socket.IO socket: a client connected to one namespace over an Engine.IO session. */
export interface SocketRecord<D> {
  id: string;
  nsp: string;
  /** Recovery session id (connection-state recovery), when the application offers it. */
  pid?: string;
  data: D;
}

/** What an Engine.IO session carries for Socket.IO: its sockets by namespace, and when it opened. */
export interface SocketIoState<D> {
  sockets: Record<string, SocketRecord<D>>;
  /** Set once any namespace was joined: the connect timeout only closes sessions that never connected. */
  everConnected?: boolean;
}

export type ConnectResult<D> =
  | {
      ok: true;
      socket: SocketRecord<D> /** packets to send right after the CONNECT answer (recovery) */;
      replay?: SocketPacket[];
    }
  | { ok: false; message: string; data?: unknown };

/** Acknowledges an event: sends the ACK packet with these arguments, once. */
export type Ack = (args: unknown[]) => void;

/** A packet waiting for its binary attachments. */
interface PendingBinary {
  packet: SocketPacket;
  buffers: Uint8Array[];
}

/**
 * The Socket.IO v5 layer over the Engine.IO actor: namespaces, CONNECT / CONNECT_ERROR, events with acks, binary
 * attachments, DISCONNECT, the connect timeout, and a malformed packet closing the session as the reference
 * server does. The application (the seed's hub, the conformance server) implements the hooks.
 */
export abstract class SocketIoActor<D> extends EngineIoActor<SocketIoState<D>> {
  private readonly pending = new Map<string, PendingBinary>();

  // ---- hooks ------------------------------------------------------------------------------------------------

  /** Namespaces served; a CONNECT to any other gets "Invalid namespace". */
  protected abstract readonly namespaces: readonly string[];
  /** Milliseconds a session may stay without any namespace before it is closed. */
  protected abstract connectTimeoutMs(): number;
  /** Decides a CONNECT (`auth` is the handshake payload). */
  protected abstract authorize(
    session: EngineSession<SocketIoState<D>>,
    nsp: string,
    auth: Record<string, unknown>,
  ): Promise<ConnectResult<D>>;
  /** The socket is connected and its CONNECT answer sent. */
  protected onSocketConnected(_session: EngineSession<SocketIoState<D>>, _socket: SocketRecord<D>): void | Promise<void> {}
  protected abstract onSocketEvent(
    session: EngineSession<SocketIoState<D>>,
    socket: SocketRecord<D>,
    event: string | number,
    args: unknown[],
    ack: Ack | null,
  ): void | Promise<void>;
  /** The socket left: `client namespace disconnect`, `transport close`, `ping timeout`, `parse error`, ... */
  protected onSocketDisconnected(
    _session: EngineSession<SocketIoState<D>>,
    _socket: SocketRecord<D>,
    _reason: string,
  ): void | Promise<void> {}

  // ---- sending ----------------------------------------------------------------------------------------------

  protected sendPacket(session: EngineSession<SocketIoState<D>>, packet: SocketPacket): void {
    this.sendMessages(session, encodePacket(packet));
  }

  /** A packet encoded once for many sessions (`sendPrepared`): a broadcast costs one encoding, not one per socket. */
  protected preparePacket(packet: SocketPacket): PreparedMessages {
    return this.prepareMessages(encodePacket(packet));
  }

  protected emit(session: EngineSession<SocketIoState<D>>, socket: SocketRecord<D>, event: string, args: unknown[]): void {
    this.sendPacket(session, eventPacket(socket.nsp, event, args));
  }

  /** Server-side disconnect of one socket: the client gets DISCONNECT and does not reconnect by itself. */
  protected async disconnectSocket(
    session: EngineSession<SocketIoState<D>>,
    socket: SocketRecord<D>,
    reason: string,
  ): Promise<void> {
    this.sendPacket(session, disconnectPacket(socket.nsp));
    await this.dropSocket(session, socket, reason);
  }

  // ---- Engine.IO hooks --------------------------------------------------------------------------------------

  protected override initialState(): SocketIoState<D> {
    return { sockets: {} };
  }

  protected override onEngineTick(session: EngineSession<SocketIoState<D>>, now: number): void {
    if (!session.state.everConnected && now - session.createdAt >= this.connectTimeoutMs()) {
      void this.closeSession(session, 'connect timeout');
    }
  }

  protected override async onEngineMessage(session: EngineSession<SocketIoState<D>>, data: string | Uint8Array): Promise<void> {
    const waiting = this.pending.get(session.sid);
    if (typeof data !== 'string') {
      // A binary message is only ever an attachment of the packet before it.
      if (!waiting) return this.closeSession(session, 'parse error');
      waiting.buffers.push(data);
      if (waiting.buffers.length < (waiting.packet.attachments ?? 0)) return;
      this.pending.delete(session.sid);
      let packet: SocketPacket;
      try {
        packet = reconstructPacket(waiting.packet, waiting.buffers);
      } catch {
        return this.closeSession(session, 'parse error');
      }
      return this.onSocketPacket(session, packet);
    }
    if (waiting) return this.closeSession(session, 'parse error'); // text while attachments were expected
    let packet: SocketPacket;
    try {
      packet = decodePacket(data);
    } catch (err) {
      if (err instanceof PacketError) return this.closeSession(session, 'parse error');
      throw err;
    }
    if (packet.type === PACKET.BINARY_EVENT || packet.type === PACKET.BINARY_ACK) {
      if ((packet.attachments ?? 0) > 0) {
        this.pending.set(session.sid, { packet, buffers: [] });
        return;
      }
      packet = reconstructPacket(packet, []);
    }
    return this.onSocketPacket(session, packet);
  }

  protected override async onEngineClose(session: EngineSession<SocketIoState<D>>, reason: string): Promise<void> {
    this.pending.delete(session.sid);
    for (const socket of Object.values(session.state.sockets)) await this.dropSocket(session, socket, reason);
  }

  // ---- packets ----------------------------------------------------------------------------------------------

  private async onSocketPacket(session: EngineSession<SocketIoState<D>>, packet: SocketPacket): Promise<void> {
    const socket = session.state.sockets[packet.nsp];
    switch (packet.type) {
      case PACKET.CONNECT:
        return this.onConnect(session, packet);
      case PACKET.DISCONNECT:
        if (socket) await this.dropSocket(session, socket, 'client namespace disconnect');
        return;
      case PACKET.EVENT: {
        if (!socket) return; // the reference server ignores packets for a namespace the client is not in
        const [event, ...args] = packet.data as [string | number, ...unknown[]];
        const ack = packet.id === undefined ? null : this.ackFor(session, packet.nsp, packet.id);
        await this.onSocketEvent(session, socket, event, args, ack);
        return;
      }
      case PACKET.ACK:
        return; // the server never asks for acks
      default:
        // CONNECT_ERROR only flows server to client.
        return this.closeSession(session, 'parse error');
    }
  }

  private async onConnect(session: EngineSession<SocketIoState<D>>, packet: SocketPacket): Promise<void> {
    if (!this.namespaces.includes(packet.nsp)) {
      this.sendPacket(session, connectErrorPacket(packet.nsp, 'Invalid namespace'));
      return;
    }
    if (session.state.sockets[packet.nsp]) return; // already connected there
    const auth = (packet.data ?? {}) as Record<string, unknown>;
    const result = await this.authorize(session, packet.nsp, auth);
    if (session.closed) return;
    if (!result.ok) {
      this.sendPacket(session, connectErrorPacket(packet.nsp, result.message, result.data));
      return;
    }
    session.state.sockets[packet.nsp] = result.socket;
    session.state.everConnected = true;
    this.persist(session);
    this.sendPacket(
      session,
      connectPacket(
        packet.nsp,
        result.socket.pid ? { sid: result.socket.id, pid: result.socket.pid } : { sid: result.socket.id },
      ),
    );
    for (const replayed of result.replay ?? []) this.sendPacket(session, replayed);
    await this.onSocketConnected(session, result.socket);
  }

  private ackFor(session: EngineSession<SocketIoState<D>>, nsp: string, id: number): Ack {
    let sent = false;
    return (args) => {
      if (sent) return;
      sent = true;
      this.sendPacket(session, ackPacket(nsp, id, args));
    };
  }

  private async dropSocket(session: EngineSession<SocketIoState<D>>, socket: SocketRecord<D>, reason: string): Promise<void> {
    if (session.state.sockets[socket.nsp]?.id !== socket.id) return;
    delete session.state.sockets[socket.nsp];
    this.persist(session);
    try {
      await this.onSocketDisconnected(session, socket, reason);
    } catch (err) {
      console.error('socket.io: disconnect hook failed', err);
    }
  }
}
