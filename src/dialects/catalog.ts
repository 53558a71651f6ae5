import { z } from 'zod';
import { INTERACTION_CLASSES, messageInput, presenceInput, roomInput } from '../domain/hub';
import { EVENT_PAYLOADS, EVENT_TYPES, SCOPES } from '../domain/orchestrator';
import { METHOD_PARAMS, ROOM_EVENTS, type RoomMethod } from '../domain/room-methods';
import { RequestEnvelope } from './collab';
import { CLIENT_FRAMES, QUEUE_CLIENT_TYPES, QUEUE_DIALECT, SESSION_CLIENT_TYPES, SESSION_DIALECT } from './crafting';
import { CLIENT_TYPES, ClientEnvelope, SERVER_TYPES } from './earthring';
import { CLIENT_TYPES as RACE_CLIENT_TYPES, ClientEnvelope as RaceEnvelope } from './earthring-race';
import { PingFrame, PublishFrame, ResyncFrame } from './orchestrator';

/**
 * Every dialect's messages as zod schemas, built from the very schemas the dialects validate with (envelopes,
 * room method params, orchestrator payloads), so a description made from this catalogue (the AsyncAPI document at
 * /asyncapi.json) cannot drift from what the sockets accept. `receive`: client → server; `send`: server → client.
 * What a dialect hands to its host unvalidated (EarthRing payloads, room event data) is described as an object.
 */

export interface MessageDoc {
  /** Unique within the dialect; the AsyncAPI message id is `<dialect>.<name>`. */
  name: string;
  summary: string;
  schema: z.ZodType;
  /** Only on WebSockets (the `batch` frame of `?batch=1`): left out of SSE channels. */
  socketOnly?: true;
}

export interface DialectMessages {
  title: string;
  description: string;
  receive: MessageDoc[];
  send: MessageDoc[];
}

const timestamp = z.number().describe('ms since the epoch');
const eventId = z.string().describe('resume point: `?lastEventId=` or `Last-Event-ID`');
const sequence = z.number().int().min(0).describe('monotonic per actor, never reused');
const anyData = z.record(z.string(), z.unknown());

/**
 * `?batch=1` on a socket of the actor core: the logged events of one publish as one frame, the array of the
 * dialect's event frames in log order (two or more, or one). Other frames (answers, errors) stay single.
 */
const batchOf = (events: MessageDoc[]): MessageDoc => ({
  name: 'batch',
  summary: 'With ?batch=1: the events of one publish in one frame, an array of event frames in log order',
  schema: z
    .array(events.length > 1 ? z.union(events.map((m) => m.schema) as [z.ZodType, z.ZodType, ...z.ZodType[]]) : events[0]!.schema)
    .min(1),
  socketOnly: true,
});

const collabEvent = (name: string, summary: string) => ({
  name: `event.${name}`,
  summary,
  schema: z.object({ type: z.literal('event'), method: z.literal(name), data: anyData, timestamp, eventId, sequence }),
});

const collab: DialectMessages = {
  title: 'Collaboration room (seed 001)',
  description: 'JSON-RPC style frames: requests with ids, responses and errors echoing them, logged events.',
  receive: (Object.keys(METHOD_PARAMS) as RoomMethod[]).map((method) => ({
    name: `request.${method}`,
    summary: `Request ${method}`,
    schema: RequestEnvelope.extend({ method: z.literal(method), params: METHOD_PARAMS[method] }),
  })),
  send: [
    {
      name: 'connected',
      summary: 'First frame: connection id and where the event log stands',
      schema: z.object({ type: z.literal('event'), method: z.literal('connected'), data: anyData, timestamp }),
    },
    {
      name: 'resync',
      summary: 'Missed events after ?lastEventId=, or a snapshot with truncated: true',
      schema: z.object({ type: z.literal('event'), method: z.literal('resync'), data: anyData, timestamp }),
    },
    {
      name: 'response',
      summary: 'Answer to a request, same id',
      schema: z.object({ type: z.literal('response'), id: RequestEnvelope.shape.id, data: z.unknown(), timestamp }),
    },
    {
      name: 'error',
      summary: 'A refused request; the socket stays open',
      schema: z.object({
        type: z.literal('error'),
        id: RequestEnvelope.shape.id,
        error: z.object({ code: z.number().int(), message: z.string(), reason: z.string(), details: anyData.optional() }),
        timestamp,
      }),
    },
    ...ROOM_EVENTS.map((name) => collabEvent(name, `Event ${name}`)),
    batchOf(ROOM_EVENTS.map((name) => collabEvent(name, `Event ${name}`))),
  ],
};

const earthringEnvelope = (type: string) => ({
  name: type,
  summary: `${type} frame`,
  schema: z.object({
    type: z.literal(type),
    id: ClientEnvelope.shape.id,
    data: anyData.optional(),
    eventId: eventId.optional(),
    sequence: sequence.optional(),
  }),
});

const earthring: DialectMessages = {
  title: 'EarthRing game socket (seed 000)',
  description: '`{type, id, data}` frames; JSON text (`earthring-v1`) or MessagePack binary (`earthring-v2`).',
  receive: CLIENT_TYPES.map((type) => ({
    name: type,
    summary: `${type} from the client`,
    schema: ClientEnvelope.extend({ type: z.literal(type) }),
  })),
  send: [...SERVER_TYPES.map(earthringEnvelope), batchOf(SERVER_TYPES.map(earthringEnvelope))],
};

const RACE_EVENTS = ['racing_started', 'racing_update', 'racing_joined', 'racing_result', 'racing_finished'];

const race: DialectMessages = {
  title: 'EarthRing race stream (seed 000)',
  description: 'A race followed live: racers send racing_start / racing_update; everyone receives the logged events.',
  receive: RACE_CLIENT_TYPES.map((type) => ({
    name: type,
    summary: `${type} from the client`,
    schema: RaceEnvelope.extend({ type: z.literal(type) }),
  })),
  send: [
    ...['connected', 'resync', 'pong', 'error', ...RACE_EVENTS].map(earthringEnvelope),
    batchOf(RACE_EVENTS.map(earthringEnvelope)),
  ],
};

const orchestratorEvents: MessageDoc[] = EVENT_TYPES.map((type) => ({
  name: `event.${type}`,
  summary: `Event ${type}`,
  schema: z.object({
    type: z.literal(type),
    payload: EVENT_PAYLOADS[type],
    timestamp: z.string(),
    eventId,
    sequence,
    scope: z.enum(SCOPES),
  }),
}));

const orchestrator: DialectMessages = {
  title: 'Orchestrator event stream (seed 004)',
  description: '`{type, payload, timestamp, eventId, sequence, scope}` frames over one per-tenant event log.',
  receive: [
    { name: 'ping', summary: 'Heartbeat; answered with pong', schema: PingFrame },
    { name: 'resync', summary: 'Ask for the events missed after a reference, by scope', schema: ResyncFrame },
    {
      name: 'publish',
      summary:
        'Service and admin only: publish 1-100 events (the items of POST /api/orchestrator/events), answered with publish_ack',
      schema: PublishFrame,
    },
  ],
  send: [
    {
      name: 'connected',
      summary: 'First frame: connection id and where the event log stands',
      schema: z.object({ type: z.literal('connected'), payload: anyData, timestamp: z.string() }),
    },
    {
      name: 'resync_response',
      summary: 'State, missed events and truncated',
      schema: z.object({ type: z.literal('resync_response'), payload: anyData, timestamp: z.string() }),
    },
    {
      name: 'pong',
      summary: 'Answer to ping',
      schema: z.object({
        type: z.literal('pong'),
        payload: z.object({ timestamp: z.union([z.string(), z.number()]) }),
        timestamp: z.string(),
      }),
    },
    {
      name: 'publish_ack',
      summary: 'Answer to publish, once the events are in the log: their ids and sequences, in order (the REST answer)',
      schema: z.object({
        type: z.literal('publish_ack'),
        id: PublishFrame.shape.id,
        payload: z.object({
          events: z.array(
            z.object({ eventId, sequence, type: z.enum(EVENT_TYPES), scope: z.enum(SCOPES), timestamp: z.string() }),
          ),
        }),
        timestamp: z.string(),
      }),
    },
    {
      name: 'error',
      summary: "A refused frame (a publish's error carries its id); nothing of it was published; the socket stays open",
      schema: z.object({
        type: z.literal('error'),
        id: PublishFrame.shape.id,
        payload: z.object({ message: z.string(), code: z.string(), details: anyData.optional() }),
        timestamp: z.string(),
      }),
    },
    ...orchestratorEvents,
    batchOf(orchestratorEvents),
  ],
};

// ---- seed 002: crafting -----------------------------------------------------------------------------------------

const isoTime = z.string().describe('ISO 8601');
const logged = { eventId: eventId.optional(), sequence: sequence.optional() };
const clientFrames = (types: readonly (keyof typeof CLIENT_FRAMES)[]) =>
  types.map((type) => ({
    name: type,
    summary: CLIENT_FRAMES[type].description ?? type,
    schema: CLIENT_FRAMES[type],
  }));

const frameId = z.union([z.string(), z.number()]).describe("The client frame's id, on its answer");
/** `WebSocketCraftingMessage` / `WebSocketQueueMessage`: one envelope, keyed by `sessionId` or `playerId`. */
const craftingMessage = (key: 'sessionId' | 'playerId', type: string, summary: string, data: z.ZodType = anyData) => ({
  name: type,
  summary,
  schema: z.object({ type: z.literal(type), [key]: z.string(), timestamp: isoTime, ...logged, id: frameId.optional(), data }),
});
const craftingError = z.object({ code: z.string(), message: z.string(), details: anyData.optional() });
const pongData = z.object({ timestamp: z.union([z.string(), z.number()]) });

const SESSION_EVENTS = [
  'session_created',
  'session_started',
  'session_paused',
  'session_resumed',
  'stage_changed',
  'session_completed',
  'session_cancelled',
  'session_failed',
  'material_notification',
];
const QUEUE_EVENTS = ['queue_update', 'session_started', 'session_finished', 'material_update'];

const crafting: DialectMessages = {
  title: 'Crafting session (seed 002 WebSocketCraftingMessage)',
  description:
    '`{type, sessionId, timestamp, data, eventId?, sequence?}` JSON frames (`Sec-WebSocket-Protocol: crafting.v1`; `crafting.v1.lz4` sends those over 512 bytes as binary LZ4 frames, `crafting-udp.v1` carries the binary sync packets of docs/crafting-protocol.md). Logged events carry eventId and sequence and are replayed after `?lastEventId=`; heartbeat every 30 s.',
  receive: clientFrames(SESSION_CLIENT_TYPES),
  send: [
    craftingMessage('sessionId', 'connected', 'First frame: the session state and where its event log stands'),
    craftingMessage('sessionId', 'resync', 'Missed events after ?lastEventId=, or a snapshot with truncated: true'),
    craftingMessage('sessionId', 'progress', 'CraftingProgressData tick (not logged: the state in connected is newer)'),
    craftingMessage('sessionId', 'session_state', 'Answer to get_state: CraftingProgressData'),
    craftingMessage('sessionId', 'ack', 'Answer to pause, resume or cancel: {command, state}'),
    craftingMessage(
      'sessionId',
      'udp_connected',
      'crafting-udp.v1 / ?mode=udp only: first frame (JSON text) with the sync parameters; binary packets follow',
    ),
    craftingMessage('sessionId', 'pong', 'Answer to ping', pongData),
    craftingMessage('sessionId', 'error', 'A refused frame; the socket stays open', craftingError),
    ...SESSION_EVENTS.map((type) => craftingMessage('sessionId', type, `Logged event ${type}`)),
    batchOf(SESSION_EVENTS.map((type) => craftingMessage('sessionId', type, `Logged event ${type}`))),
  ],
};

const craftingQueue: DialectMessages = {
  title: "A player's crafting queue (seed 002 WebSocketQueueMessage)",
  description:
    '`{type, playerId, timestamp, data, eventId?, sequence?}` JSON frames (`crafting-queue.v1`, or `crafting-queue.v1.lz4`); logged events are replayed after `?lastEventId=`; heartbeat every 30 s.',
  receive: clientFrames(QUEUE_CLIENT_TYPES),
  send: [
    craftingMessage('playerId', 'connected', 'First frame: the queue (QueueStatusData) and where its event log stands'),
    craftingMessage('playerId', 'resync', 'Missed events after ?lastEventId=, or a snapshot with truncated: true'),
    craftingMessage('playerId', 'queue_state', 'Answer to get_state: entries with positions and estimates, materials'),
    craftingMessage('playerId', 'pong', 'Answer to ping', pongData),
    craftingMessage('playerId', 'error', 'A refused frame; the socket stays open', craftingError),
    ...QUEUE_EVENTS.map((type) => craftingMessage('playerId', type, `Logged event ${type}`)),
    batchOf(QUEUE_EVENTS.map((type) => craftingMessage('playerId', type, `Logged event ${type}`))),
  ],
};

const serviceHealth = z.object({
  status: z.enum(['healthy', 'unhealthy', 'unknown']),
  latency: z.number().optional().describe('ms'),
  lastCheck: isoTime,
  error: z.string().optional(),
});
const healthReport = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  services: z.record(z.string(), serviceHealth),
  timestamp: isoTime,
  intervalSeconds: z.number().int(),
});
const healthMessage = (type: string, summary: string, data: z.ZodType) => ({
  name: type,
  summary,
  schema: z.object({ type: z.literal(type), timestamp: isoTime, data }),
});

const craftingHealth: DialectMessages = {
  title: 'Health stream (seed 002 WebSocketHealthMessage)',
  description: '`{type, timestamp, data}` JSON frames: a report now, then every `?interval=` seconds.',
  receive: [
    {
      name: 'ping',
      summary: 'Heartbeat (the plain text `ping` too); answered with pong',
      schema: z.object({ type: z.literal('ping') }),
    },
    { name: 'check', summary: 'Check now; answered with health', schema: z.object({ type: z.literal('check') }) },
  ],
  send: [
    healthMessage('health', 'The report: overall status and each service', healthReport),
    healthMessage('health_changed', 'A service changed status since the last report', healthReport),
    healthMessage('pong', 'Answer to ping', z.object({})),
    healthMessage('error', 'A frame that is neither ping nor check', z.object({ code: z.string(), message: z.string() })),
  ],
};

// ---- seed 003: the Socket.IO hub ---------------------------------------------------------------------------------

/** An EVENT packet's JSON array: the event name, then its argument. */
const socketEvent = (name: string, summary: string, arg?: z.ZodType) => ({
  name,
  summary,
  schema: (arg ? z.tuple([z.literal(name), arg]) : z.tuple([z.literal(name)])).describe(
    `Socket.IO EVENT packet data: \`2[<ack id>]["${name}", ...]\``,
  ),
});
const hubMessage = z.object({
  messageId: z.string(),
  type: z.string(),
  interactionClass: z.enum(INTERACTION_CLASSES),
  tenantId: z.string(),
  senderId: z.string(),
  recipientId: z.string().optional(),
  roomId: z.string().optional(),
  payload: z.unknown(),
  timestamp: isoTime,
  metadata: anyData.optional(),
});

const socketio: DialectMessages = {
  title: 'Realtime hub (seed 003, Socket.IO v5 over Engine.IO v4)',
  description:
    'Socket.IO EVENT packets on the default namespace; CONNECT carries `auth: {token}` (refused: CONNECT_ERROR AUTH_FAILED). An event sent with an ack id is acknowledged with its answer (or its error event). Class D is refused over realtime.',
  receive: [
    socketEvent('message', 'A message to a user (recipientId) or a joined room (roomId)', messageInput),
    socketEvent('join_room', 'Join a room; answered with room_joined', roomInput),
    socketEvent('leave_room', 'Leave a room; answered with room_left', roomInput),
    socketEvent('presence_update', "Set the user's presence; members of their rooms are told", presenceInput),
    socketEvent('ping', 'Heartbeat; answered with pong (not rate limited)'),
  ],
  send: [
    {
      ...socketEvent(
        'connected',
        'First event after CONNECT',
        z.object({
          connectionId: z.string(),
          clientId: z.string().optional(),
          userId: z.string(),
          serverTime: isoTime,
          interactionClasses: z.array(z.enum(INTERACTION_CLASSES)),
        }),
      ),
      name: 'connected',
    },
    { ...socketEvent('message', 'A message for this user or one of their rooms', hubMessage), name: 'message.delivered' },
    socketEvent('message_ack', 'Class B and C messages: durably accepted', z.object({ messageId: z.string() })),
    socketEvent('room_joined', 'Answer to join_room', z.object({ roomId: z.string() })),
    socketEvent('room_left', 'Answer to leave_room', z.object({ roomId: z.string() })),
    {
      ...socketEvent(
        'presence_update',
        "A room member's presence changed",
        z.object({
          userId: z.string(),
          status: z.enum(['online', 'away', 'offline']),
          metadata: anyData,
          roomId: z.string().optional(),
          timestamp: isoTime,
        }),
      ),
      name: 'presence_update.delivered',
    },
    socketEvent('pong', 'Answer to ping'),
    socketEvent(
      'error',
      'A refused event (seed 003 codes: INVALID_REQUEST, AUTHZ_FAILED, RATE_LIMIT, INTERNAL_ERROR, ...)',
      z.object({ error: z.string(), code: z.string(), details: anyData.optional() }),
    ),
  ],
};

/** By dialect name (`DIALECT` of each module). */
export const DIALECT_MESSAGES: Record<string, DialectMessages> = {
  collab,
  earthring,
  'earthring-race': race,
  orchestrator,
  [SESSION_DIALECT]: crafting,
  [QUEUE_DIALECT]: craftingQueue,
  'crafting-health': craftingHealth,
  socketio,
};
