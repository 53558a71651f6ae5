import { z } from 'zod';
import { EVENT_PAYLOADS, EVENT_TYPES, SCOPES } from '../domain/orchestrator';
import { METHOD_PARAMS, ROOM_EVENTS, type RoomMethod } from '../domain/room-methods';
import { RequestEnvelope } from './collab';
import { CLIENT_TYPES, ClientEnvelope, SERVER_TYPES } from './earthring';
import { CLIENT_TYPES as RACE_CLIENT_TYPES, ClientEnvelope as RaceEnvelope } from './earthring-race';
import { PingFrame, ResyncFrame } from './orchestrator';

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
  send: SERVER_TYPES.map(earthringEnvelope),
};

const race: DialectMessages = {
  title: 'EarthRing race stream (seed 000)',
  description: 'A race followed live: racers send racing_start / racing_update; everyone receives the logged events.',
  receive: RACE_CLIENT_TYPES.map((type) => ({
    name: type,
    summary: `${type} from the client`,
    schema: RaceEnvelope.extend({ type: z.literal(type) }),
  })),
  send: [
    'connected',
    'resync',
    'pong',
    'error',
    'racing_started',
    'racing_update',
    'racing_joined',
    'racing_result',
    'racing_finished',
  ].map(earthringEnvelope),
};

const orchestrator: DialectMessages = {
  title: 'Orchestrator event stream (seed 004)',
  description: '`{type, payload, timestamp, eventId, sequence, scope}` frames over one per-tenant event log.',
  receive: [
    { name: 'ping', summary: 'Heartbeat; answered with pong', schema: PingFrame },
    { name: 'resync', summary: 'Ask for the events missed after a reference, by scope', schema: ResyncFrame },
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
    ...EVENT_TYPES.map((type) => ({
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
    })),
  ],
};

/** By dialect name (`DIALECT` of each module). */
export const DIALECT_MESSAGES: Record<string, DialectMessages> = {
  collab,
  earthring,
  'earthring-race': race,
  orchestrator,
};
