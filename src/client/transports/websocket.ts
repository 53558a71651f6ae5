import { decodeFrame, encodeFrame } from '../codec';
import type { SocketEventLike, Transport, TransportContext, WebSocketLike } from '../types';
import { withQuery } from './url';

const OPEN = 1;

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

  const finish = (info: { code?: number; reason?: string; error?: unknown }) => {
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
      sink.open();
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('message', (event: SocketEventLike) => {
      const data = event.data;
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
      if (!socket || socket.readyState !== OPEN) throw new Error('WebSocket is not open');
      socket.send(encodeFrame(frame, ctx.codec));
    },
    close() {
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
