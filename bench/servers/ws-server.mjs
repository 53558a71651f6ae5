#!/usr/bin/env node
// Baseline (a): the plain-JavaScript limit of this machine. A minimal `ws` server with the same duties as an
// EdgeRooms room, done the cheapest way: rooms by URL (`/rooms/<room>`), ping -> pong, publish -> one frame per
// event broadcast to the room (encoded once), an in-memory ring per room for resync (`?lastSequence=`), and
// `player_move` relayed to the others as `player_moved`. No auth, no persistence, no limits.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const RING = 1000;
/** Frames are encoded to bytes once and sent to every member as text. */
const TEXT = { binary: false };
const epoch = Math.random().toString(36).slice(2, 10);
/** room -> { members: Set<WebSocket>, sequence, ring: Buffer[] (frames, oldest first) } */
const rooms = new Map();

const roomOf = (name) => {
  let room = rooms.get(name);
  if (!room) {
    room = { members: new Set(), sequence: 0, ring: [] };
    rooms.set(name, room);
  }
  return room;
};

const http = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: req.url === '/health', rooms: rooms.size }));
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const name = decodeURIComponent(url.pathname.replace(/^\/rooms\//, '')) || 'lobby';
  const room = roomOf(name);
  const publisher = url.searchParams.get('role') === 'publisher';
  const player = url.searchParams.get('player');
  if (!publisher) room.members.add(ws);
  ws.send(
    JSON.stringify({ type: 'connected', payload: { sequence: room.sequence, epoch }, timestamp: new Date().toISOString() }),
  );

  const last = url.searchParams.get('lastSequence');
  if (last !== null) {
    const missed = room.sequence - Number(last);
    const start = Math.max(0, room.ring.length - missed);
    for (const frame of room.ring.slice(start)) ws.send(frame, TEXT);
  }

  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      ws.send('{"type":"error","payload":{"code":"INVALID_REQUEST"}}');
      return;
    }
    if (msg.type === 'ping') {
      ws.send(
        JSON.stringify({ type: 'pong', payload: { timestamp: msg.payload?.timestamp }, timestamp: new Date().toISOString() }),
      );
    } else if (msg.type === 'publish' && Array.isArray(msg.events)) {
      for (const event of msg.events) {
        room.sequence += 1;
        const frame = Buffer.from(
          JSON.stringify({
            type: event.type,
            payload: event.payload,
            timestamp: new Date().toISOString(),
            eventId: `e${epoch}-${room.sequence}`,
            sequence: room.sequence,
            scope: 'battle',
          }),
        );
        room.ring.push(frame);
        if (room.ring.length > RING) room.ring.shift();
        for (const member of room.members) member.send(frame, TEXT);
      }
    } else if (msg.type === 'player_move') {
      const frame = Buffer.from(
        JSON.stringify({
          type: 'player_moved',
          data: { player_id: player, position: msg.data?.position, floor: msg.data?.floor },
        }),
      );
      for (const member of room.members) if (member !== ws) member.send(frame, TEXT);
    }
  });
  ws.on('close', () => room.members.delete(ws));
  ws.on('error', () => room.members.delete(ws));
});

http.listen(port, '127.0.0.1', () => process.send?.({ ready: port }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
