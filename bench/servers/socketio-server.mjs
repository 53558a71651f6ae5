#!/usr/bin/env node
// Baseline (b): what users would pick instead. A Socket.IO 4 server with the same duties as the `ws` baseline:
// rooms (the `room` handshake query), `rtt` -> `pong`, `publish` -> one `event` per published event broadcast to
// the room, connection state recovery for resync (Socket.IO's own feature), and `player_move` relayed to the
// others as `player_moved`. WebSocket transport only, no compression: the same wire conditions as the others.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { attachHub } from './socketio-hub.mjs';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const epoch = Math.random().toString(36).slice(2, 10);
const sequences = new Map();

const http = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  }
});
const io = new Server(http, {
  serveClient: false,
  transports: ['websocket'],
  perMessageDeflate: false,
  connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
});

// Sockets with `auth.token` are the hub scenario's (socketio-hub.mjs); the others are handled below.
attachHub(io);

io.on('connection', (socket) => {
  if (socket.data.hub) return;
  const { room = 'lobby', role, player } = socket.handshake.query;
  if (role !== 'publisher' && !socket.recovered) socket.join(String(room));

  socket.on('rtt', (payload) => socket.emit('pong', { type: 'pong', payload, timestamp: new Date().toISOString() }));

  socket.on('publish', (events) => {
    if (!Array.isArray(events)) return;
    const target = String(room);
    for (const event of events) {
      const sequence = (sequences.get(target) ?? 0) + 1;
      sequences.set(target, sequence);
      io.to(target).emit('event', {
        type: event.type,
        payload: event.payload,
        timestamp: new Date().toISOString(),
        eventId: `e${epoch}-${sequence}`,
        sequence,
        scope: 'battle',
      });
    }
  });

  socket.on('player_move', (data) => {
    socket
      .to(String(room))
      .emit('player_moved', { type: 'player_moved', data: { player_id: player, position: data?.position, floor: data?.floor } });
  });
});

http.listen(port, '127.0.0.1', () => process.send?.({ ready: port }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
