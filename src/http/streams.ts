import { DIALECT as COLLAB } from '../dialects/collab';
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
    ],
  },
  {
    id: 'roomSocket',
    path: '/ws/rooms/{roomId}',
    transport: 'websocket',
    dialect: COLLAB,
    summary: 'Collaboration room socket',
    description: 'Requests, responses and events of one room (seed 001).',
    params: [roomId, token, ...resume],
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
    description: "The tenant's orchestrator events (seed 004), with ping and resync.",
    params: [token, ...resume],
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
    params: [eventId, token, ...resume],
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
  { path: '/docs', summary: 'API reference (Scalar), served with its assets', contentType: 'text/html' },
  { path: '/docs/reference.js', summary: "The API reference page's script", contentType: 'text/javascript' },
  {
    path: '/asyncapi.json',
    summary: 'AsyncAPI 3 description of every WebSocket and SSE channel',
    contentType: 'application/json',
  },
  { path: '/openapi.json', summary: 'This OpenAPI description', contentType: 'application/json' },
];
