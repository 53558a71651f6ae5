import { decodeFrame, encodeFrame } from '../codec';
import { authFrame, TokenRefresher } from '../token-refresh';
import type { SocketEventLike, Transport, TransportContext, WebSocketLike } from '../types';
import { withQuery } from './url';

const OPEN = 1;

/**
 * The server closes a socket (4008) that was sent more than 8 MiB without a frame back, since it cannot see
 * what the peer has read. A client that only listens says "still reading" with the runtime-answered `ping`
 * text frame every this many bytes received.
 */
export const READ_ACK_BYTES = 1024 * 1024;
const AUTO_PING = 'ping';
const AUTO_PONG = 'pong';

const sizeOf = (data: unknown): number =>
  typeof data === 'string'
    ? data.length
    : data instanceof ArrayBuffer || ArrayBuffer.isView(data)
      ? data.byteLength
      : typeof Blob !== 'undefined' && data instanceof Blob
        ? data.size
        : 0;

/**
 * The WebSocket transport: `?token=&lastEventId=&codec=&batch=` in the URL (a browser cannot set headers on an
 * upgrade). The socket may come already open (workerd's `res.webSocket.accept()`), hence the readyState check.
 */
export function openWebSocketTransport(ctx: TransportContext): Transport {
  const { sink } = ctx;
  let socket: WebSocketLike | null = null;
  let closedByUs = false;
  let established = false;
  let finished = false;
  // Decoding may be asynchronous (Blob data); a chain keeps frames in arrival order regardless.
  let inbound: Promise<void> = Promise.resolve();
  // Bytes received since this client last wrote to the socket (see READ_ACK_BYTES).
  let unacked = 0;
  // Presents a fresh token on the open socket before this one expires (`{"type":"auth"}`), so 4001 never comes.
  const refresher = new TokenRefresher(ctx.token, ctx.refreshToken, (token) => write(authFrame(token)));
  const write = (data: string | Uint8Array): boolean => {
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(data);
    unacked = 0;
    return true;
  };

  const finish = (info: { code?: number; reason?: string; error?: unknown }) => {
    refresher.stop();
    if (finished || closedByUs) return;
    finished = true;
    sink.closed({ established, ...info });
  };

  const url = withQuery(ctx.urls.url, {
    ...ctx.query,
    token: ctx.token,
    lastEventId: ctx.lastEventId,
    codec: ctx.codec === 'msgpack' ? 'msgpack' : undefined,
    batch: ctx.batch ? '1' : undefined,
  });

  const attach = (ws: WebSocketLike) => {
    if (closedByUs) {
      ws.close(1000, 'client closed');
      return;
    }
    socket = ws;
    try {
      ws.binaryType = 'arraybuffer';
    } catch {
      // Some runtimes have no settable binaryType; the codec reads every byte container anyway.
    }
    const onOpen = () => {
      if (established || finished || closedByUs) return;
      established = true;
      refresher.start();
      sink.open();
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('message', (event: SocketEventLike) => {
      const data = event.data;
      if (data === AUTO_PONG) return;
      unacked += sizeOf(data);
      if (unacked >= READ_ACK_BYTES) write(AUTO_PING);
      inbound = inbound.then(async () => {
        if (finished || closedByUs) return;
        let frame: unknown;
        try {
          frame = await decodeFrame(data);
        } catch (error) {
          sink.malformed(error);
          return;
        }
        sink.frame(frame);
      });
    });
    ws.addEventListener('close', (event: SocketEventLike) => {
      // Let frames already received reach the app before it hears of the close.
      inbound = inbound.then(() => finish({ code: event.code, reason: event.reason }));
    });
    ws.addEventListener('error', (event: SocketEventLike) => {
      // Before open this is the failed upgrade; after open a close event follows with the real code.
      if (!established) finish({ error: event.error ?? new Error(event.message ?? 'WebSocket error') });
    });
    if (ws.readyState === OPEN) onOpen();
  };

  const open = ctx.openWebSocket;
  if (!open) {
    queueMicrotask(() =>
      finish({ error: new Error('No WebSocket implementation: pass options.WebSocket or options.openWebSocket') }),
    );
  } else {
    Promise.resolve()
      .then(() => open(url, ctx.protocols))
      .then(attach, (error: unknown) => finish({ error }));
  }

  return {
    kind: 'websocket',
    send(frame) {
      if (!write(encodeFrame(frame, ctx.codec))) throw new Error('WebSocket is not open');
    },
    close() {
      refresher.stop();
      if (closedByUs) return;
      closedByUs = true;
      try {
        socket?.close(1000, 'client closed');
      } catch {
        // Already closing: nothing left to release.
      }
    },
  };
}
