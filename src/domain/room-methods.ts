/**
 * The collaboration room's methods (seed 001's `{type:'request', method, params}`): one zod schema per method
 * for its params, the event each method announces, and `parseMethodParams`, which turns bad input into an
 * INVALID_REQUEST ApiError naming the failing field. Objects strip unknown keys: a client that sends the
 * seed's whole DrawOperation (with `userId`) is accepted, and the caller's identity is used, never the input's.
 */
import { z } from 'zod';
import { invalid, zodMessage } from '../errors';
import { COLOR_PATTERN, COORD_MAX, COORD_MIN, MAX_POINTS, MAX_SIZE, MIN_SIZE } from './canvas';
import { MAX_NOTATION_LENGTH } from './dice';
import { MAX_LOCATION_LENGTH } from './room-presence';
import { MAX_INITIATIVE, MAX_NAME_LENGTH, MIN_INITIATIVE } from './turns';

export const MAX_CHAT_LENGTH = 2_000;
export const MAX_NOTE_LENGTH = 20_000;
export const MAX_NOTES = 200;
export const MAX_TOKENS = 200;
export const MAX_REASON_LENGTH = 200;

/** Ids chosen by clients (notes, map tokens, stroke tags). */
export const clientId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits, or _ . : -');

const coord = z.number().min(COORD_MIN).max(COORD_MAX);
const point = z.object({ x: coord, y: coord });
const color = z.string().regex(COLOR_PATTERN, 'must be #rgb, #rrggbb or #rrggbbaa');
const size = z.number().min(MIN_SIZE).max(MAX_SIZE);
const freehandPoints = z.array(point).min(1).max(MAX_POINTS);
const noParams = z.object({});

const token = z.object({
  id: clientId,
  x: coord,
  y: coord,
  label: z.string().max(100).optional(),
  color: color.optional(),
  size: z.number().min(1).max(1000).optional(),
});
export type MapToken = z.infer<typeof token>;

export const METHOD_PARAMS = {
  'room.join': noParams,
  'room.leave': noParams,
  'room.state': noParams,
  'chat.send': z.object({
    text: z.string().min(1).max(MAX_CHAT_LENGTH),
  }),
  'dice.roll': z.object({
    notation: z.string().min(1).max(MAX_NOTATION_LENGTH),
    reason: z.string().max(MAX_REASON_LENGTH).optional(),
  }),
  'turn.next': noParams,
  /** Beyond the issue's list: how participants get into the initiative order that `turn.next` walks. */
  'turn.add': z.object({
    name: z.string().min(1).max(MAX_NAME_LENGTH),
    initiative: z.number().min(MIN_INITIATIVE).max(MAX_INITIATIVE),
    userId: z.string().min(1).max(128).optional(),
  }),
  'turn.remove': z.object({ id: z.string().min(1).max(64) }),
  'note.edit': z.object({
    noteId: clientId,
    text: z.string().max(MAX_NOTE_LENGTH),
    /** Optimistic concurrency: the version the edit was made on; a stale one is refused. */
    baseVersion: z.number().int().min(0).optional(),
  }),
  'map.update': z
    .object({
      name: z.string().min(1).max(100).optional(),
      backgroundUrl: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .nullable()
        .optional(),
      gridSize: z.number().int().min(5).max(500).optional(),
      /** Upserted by id. */
      tokens: z.array(token).max(MAX_TOKENS).optional(),
      removeTokens: z.array(clientId).max(MAX_TOKENS).optional(),
    })
    .refine((p) => Object.values(p).some((v) => v !== undefined), 'map.update needs at least one field to change'),
  'presence.update': z
    .object({
      status: z.enum(['online', 'away']).optional(),
      activity: z
        .object({ type: z.enum(['typing', 'drawing', 'viewing']), location: z.string().max(MAX_LOCATION_LENGTH).optional() })
        .nullable()
        .optional(),
    })
    .refine((p) => p.status !== undefined || p.activity !== undefined, 'presence.update needs status or activity'),
  'cursor.move': z.object({ x: coord, y: coord }),
  'canvas.draw': z.object({
    type: z.literal('draw').optional(),
    tool: z.literal('pen').optional(),
    points: freehandPoints,
    color,
    size,
    /** Optional client tag for one pen stroke sent in pieces: only pieces with the same tag are batched. */
    strokeId: clientId.optional(),
  }),
  'canvas.erase': z.object({
    type: z.literal('erase').optional(),
    tool: z.literal('eraser').optional(),
    points: freehandPoints,
    color: color.optional(),
    size,
  }),
  'canvas.shape': z.object({
    type: z.literal('shape').optional(),
    tool: z.enum(['rectangle', 'circle']),
    points: z.array(point).length(2),
    color,
    size,
  }),
  'canvas.clear': noParams,
  'canvas.undo': noParams,
  'canvas.redo': noParams,
} as const;

export type RoomMethod = keyof typeof METHOD_PARAMS;
export type RoomMethodParams = { [M in RoomMethod]: z.infer<(typeof METHOD_PARAMS)[M]> };
export const ROOM_METHODS = Object.keys(METHOD_PARAMS) as RoomMethod[];

export const ROOM_EVENTS = [
  'user_joined',
  'user_left',
  'chat_message',
  'dice_roll',
  'turn_changed',
  'note_edited',
  'map_updated',
  'draw',
  'clear',
  'undo',
  'redo',
  'presence',
  'cursor',
] as const;
export type RoomEventName = (typeof ROOM_EVENTS)[number];

/**
 * The event a method announces when it changes something (null: it only answers). `canvas.draw` announces its
 * `draw` when the batched stroke is flushed; `room.join`/`room.leave` announce only a user's first/last tab.
 */
export const METHOD_EVENTS: Record<RoomMethod, RoomEventName | null> = {
  'room.join': 'user_joined',
  'room.leave': 'user_left',
  'room.state': null,
  'chat.send': 'chat_message',
  'dice.roll': 'dice_roll',
  'turn.next': 'turn_changed',
  'turn.add': 'turn_changed',
  'turn.remove': 'turn_changed',
  'note.edit': 'note_edited',
  'map.update': 'map_updated',
  'presence.update': 'presence',
  'cursor.move': 'cursor',
  'canvas.draw': 'draw',
  'canvas.erase': 'draw',
  'canvas.shape': 'draw',
  'canvas.clear': 'clear',
  'canvas.undo': 'undo',
  'canvas.redo': 'redo',
};

export const isRoomMethod = (m: unknown): m is RoomMethod => typeof m === 'string' && Object.hasOwn(METHOD_PARAMS, m);

/** Checks that `method` exists; an unknown one is INVALID_REQUEST with the list of known methods. */
export function requireMethod(method: unknown): RoomMethod {
  if (isRoomMethod(method)) return method;
  const name = typeof method === 'string' ? method.slice(0, 64) : typeof method;
  throw invalid(`Unknown method '${name}'`, { issue: 'unknown_method', method: name, methods: ROOM_METHODS });
}

/** Validates params (absent params count as `{}`); on failure INVALID_REQUEST naming the first bad field. */
export function parseMethodParams<M extends RoomMethod>(method: M, params: unknown): RoomMethodParams[M] {
  const schema = METHOD_PARAMS[method] as unknown as z.ZodType<RoomMethodParams[M]>;
  const result = schema.safeParse(params ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 10).map((i) => ({ field: i.path.join('.') || '(params)', message: i.message }));
  const first = issues[0] ?? { field: '(params)', message: 'invalid' };
  throw invalid(`Invalid params for ${method}: ${zodMessage(result.error, '(params)')}`, {
    issue: 'invalid_params',
    method,
    field: first.field,
    issues,
  });
}
