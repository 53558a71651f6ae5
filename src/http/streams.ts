import { DIALECT as COLLAB } from '../dialects/collab';
import { QUEUE_DIALECT, SESSION_DIALECT } from '../dialects/crafting';
import { DIALECT as EARTHRING } from '../dialects/earthring';
import { DIALECT as RACE } from '../dialects/earthring-race';
import { DIALECT as ORCHESTRATOR } from '../dialects/orchestrator';

/**
 * The realtime routes (WebSocket and SSE) and the pages: what /openapi.json says about each (a handshake, a page)
 * and, for the realtime ones, the AsyncAPI channel they carry. A route added to the app without an entry here (or
 * an OpenAPI description of its own) fails test/http/api-docs.test.ts.
 */

export interface StreamParam {
  name: string;
  in: 'path' | 'query';
  description: string;
  required?: boolean;
}

export interface StreamRoute {
  /** AsyncAPI channel id. */
  id: string;
  /** OpenAPI-style path (`{param}`). */
  path: string;
  transport: 'websocket' | 'sse';
  /** The dialect whose messages travel here (src/dialects/catalog.ts). */
  dialect: string;
  summary: string;
  description: string;
  params: StreamParam[];
  /** No token at the handshake (the health stream; Socket.IO authenticates in its CONNECT packet). */
  public?: boolean;
}

const token: StreamParam = {
  name: 'token',
  in: 'query',
  description: "Access token, when the client cannot send `Authorization: Bearer` (browsers' WebSocket and EventSource)",
};
const resume: StreamParam[] = [
  { name: 'lastEventId', in: 'query', description: 'Resume after this event (missed events, or a snapshot with truncated)' },
  { name: 'lastSequence', in: 'query', description: 'Resume after this sequence number' },
];
const roomId: StreamParam = {
  name: 'roomId',
  in: 'path',
  required: true,
  description: 'Room id: 1-64 letters, digits, "_" or "-"',
};
const compression: StreamParam = {
  name: 'compression',
  in: 'query',
  description: '`lz4` or `none`, when no subprotocol is offered',
};
/** Every socket of the actor core: one frame per published batch (src/core/README.md, "Batched delivery"). */
const batch: StreamParam = {
  name: 'batch',
  in: 'query',
  description:
    '`1`: the logged events of one publish arrive as one frame, the array of their usual frames in log order (message `batch`); absent or `0`: one frame per event',
};
const eventId: StreamParam = { name: 'event_id', in: 'path', required: true, description: 'Race event id' };

export const STREAM_ROUTES: StreamRoute[] = [
  {
    id: 'gameSocket',
    path: '/ws',
    transport: 'websocket',
    dialect: EARTHRING,
    summary: 'EarthRing game socket',
    description:
      'On the Chunk actor where the player stands. `Sec-WebSocket-Protocol`: `earthring-v1` (JSON) or `earthring-v2` (MessagePack); none offered = v1.',
    params: [
      token,
      ...resume,
      { name: 'chunk', in: 'query', description: "The player's chunk or a neighbour (after a hand-off)" },
      batch,
    ],
  },
  {
    id: 'roomSocket',
    path: '/ws/rooms/{roomId}',
    transport: 'websocket',
    dialect: COLLAB,
    summary: 'Collaboration room socket',
    description: 'Requests, responses and events of one room (seed 001).',
    params: [roomId, token, ...resume, batch],
  },
  {
    id: 'roomEvents',
    path: '/sse',
    transport: 'sse',
    dialect: COLLAB,
    summary: 'Collaboration room events (SSE)',
    description: "The room's event log as Server-Sent Events; `Last-Event-ID` resumes.",
    params: [{ name: 'room', in: 'query', required: true, description: roomId.description }, token, ...resume],
  },
  {
    id: 'orchestratorSocket',
    path: '/ws/orchestrator',
    transport: 'websocket',
    dialect: ORCHESTRATOR,
    summary: 'Orchestrator event stream',
    description:
      "The tenant's orchestrator events (seed 004), with ping and resync; service and admin clients publish with `publish` frames.",
    params: [token, ...resume, batch],
  },
  {
    id: 'orchestratorEvents',
    path: '/sse/orchestrator',
    transport: 'sse',
    dialect: ORCHESTRATOR,
    summary: 'Orchestrator event stream (SSE)',
    description: "The tenant's orchestrator events as Server-Sent Events; `Last-Event-ID` resumes.",
    params: [token, ...resume],
  },
  {
    id: 'raceSocket',
    path: '/ws/racing/{event_id}',
    transport: 'websocket',
    dialect: RACE,
    summary: 'A race, live',
    description: 'Racers send racing_start / racing_update; racers and spectators receive the logged events.',
    params: [eventId, token, ...resume, batch],
  },
  {
    id: 'raceEvents',
    path: '/sse/racing/{event_id}',
    transport: 'sse',
    dialect: RACE,
    summary: 'A race, live (SSE)',
    description: "The race's events as Server-Sent Events; `Last-Event-ID` resumes.",
    params: [eventId, token, ...resume],
  },
  {
    id: 'craftingSessionSocket',
    path: '/ws/crafting/{session_id}',
    transport: 'websocket',
    dialect: SESSION_DIALECT,
    summary: 'A crafting session, live',
    description:
      'Progress, stage changes and material notifications of one session (seed 002), and its pause / resume / cancel. `Sec-WebSocket-Protocol`: `crafting.v1` (JSON), `crafting.v1.lz4` or `?compression=lz4` (JSON, frames over 512 bytes as binary LZ4 frames) or `crafting-udp.v1` / `?mode=udp` (the binary sync packets of docs/crafting-protocol.md).',
    params: [
      { name: 'session_id', in: 'path', required: true, description: 'Crafting session id' },
      token,
      ...resume,
      compression,
      { name: 'mode', in: 'query', description: '`udp`: the binary sync packets (as `crafting-udp.v1`)' },
      batch,
    ],
  },
  {
    id: 'craftingQueueSocket',
    path: '/ws/queue/{player_id}',
    transport: 'websocket',
    dialect: QUEUE_DIALECT,
    summary: "A player's crafting queue, live",
    description:
      "Queue positions, estimates and material changes of one player (seed 002): the player's own token or an admin's. `Sec-WebSocket-Protocol`: `crafting-queue.v1`, or `crafting-queue.v1.lz4` / `?compression=lz4`.",
    params: [{ name: 'player_id', in: 'path', required: true, description: 'Player id' }, token, ...resume, compression, batch],
  },
  {
    id: 'healthSocket',
    path: '/health/ws',
    transport: 'websocket',
    dialect: 'crafting-health',
    public: true,
    summary: 'Health stream',
    description:
      'Health of the named services now and every interval (seed 002 WebSocketHealthMessage); no token needed, 60 handshakes a minute per IP.',
    params: [
      { name: 'interval', in: 'query', description: 'Seconds between reports, 1..300 (default 10)' },
      {
        name: 'services',
        in: 'query',
        description: 'Comma-separated service names, at most 20 (default d1,actors,crafting,queue)',
      },
    ],
  },
  {
    id: 'hubSocket',
    path: '/socket.io/',
    transport: 'websocket',
    dialect: 'socketio',
    public: true,
    summary: 'Realtime hub (Socket.IO)',
    description:
      "Engine.IO v4 (`?EIO=4&transport=websocket`, or `transport=polling` then an upgrade) carrying Socket.IO v5 (seed 003); the token goes in the CONNECT packet's `auth.token`.",
    params: [
      { name: 'EIO', in: 'query', required: true, description: 'Engine.IO protocol version: 4' },
      { name: 'transport', in: 'query', required: true, description: '`websocket` or `polling`' },
      { name: 'sid', in: 'query', description: 'Engine.IO session id (polling, and the upgrade of a polling session)' },
    ],
  },
];

export interface PageRoute {
  path: string;
  summary: string;
  contentType: string;
  params?: StreamParam[];
}

/** Pages and their assets: public, described in /openapi.json as what they answer. */
export const PAGE_ROUTES: PageRoute[] = [
  { path: '/demo', summary: 'The demo page (a room picker)', contentType: 'text/html' },
  {
    path: '/demo/{roomId}',
    summary: 'The demo page in a room (an invalid room id gets an HTML error page)',
    contentType: 'text/html',
    params: [roomId],
  },
  { path: '/demo/app.js', summary: "The demo page's script", contentType: 'text/javascript' },
  { path: '/demo/app.css', summary: "The demo page's stylesheet", contentType: 'text/css' },
  { path: '/demo/hub', summary: 'The Socket.IO hub page (seed 003) in the lobby room', contentType: 'text/html' },
  {
    path: '/demo/hub/{roomId}',
    summary: 'The Socket.IO hub page in a room (an invalid room id gets an HTML error page)',
    contentType: 'text/html',
    params: [roomId],
  },
  { path: '/demo/hub/app.js', summary: "The hub page's script (socket.io-client bundled)", contentType: 'text/javascript' },
  { path: '/docs', summary: 'API reference (Scalar), served with its assets', contentType: 'text/html' },
  { path: '/docs/reference.js', summary: "The API reference page's script", contentType: 'text/javascript' },
  {
    path: '/asyncapi.json',
    summary: 'AsyncAPI 3 description of every WebSocket and SSE channel',
    contentType: 'application/json',
  },
  { path: '/openapi.json', summary: 'This OpenAPI description', contentType: 'application/json' },
];
