/**
 * Seed 003's realtime hub rules (its "WebSocket API" section and best practices §4): the client events' shapes,
 * interaction classes, the server's `message` object, its error vocabulary, and how sessions, users and
 * recovery sessions are spread over shard actors. Pure: no Workers API.
 */
import { z } from 'zod';
import { ApiError, codeIn, zodDetails } from '../errors';

export const INTERACTION_CLASSES = ['CLASS_A', 'CLASS_B', 'CLASS_C', 'CLASS_D'] as const;
export type InteractionClass = (typeof INTERACTION_CLASSES)[number];

/** Class D (critical transactions) never goes over realtime: this REST path is where it belongs. */
export const CLASS_D_REST_PATH = 'POST /api/reconciliation/reconcile';

/** Seed 003's table: 100 WebSocket messages a minute per connection. */
export const MESSAGES_PER_MINUTE = 100;
/** Socket.IO's default connection-state recovery window. */
export const RECOVERY_WINDOW_MS = 2 * 60_000;
export const MAX_ROOMS_PER_SOCKET = 100;
/**
 * Class A coalescing window: within it, one sender's class A messages of one type to one room or user are latest
 * wins (the first goes at once, the latest when the window closes). 100 ms: a 10 Hz cursor or typing signal.
 */
export const CLASS_A_WINDOW_MS = 100;
export const MAX_TYPE_LENGTH = 128;
export const MAX_METADATA_BYTES = 4096;
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

const metadata = z.record(z.string(), z.unknown()).refine((m) => JSON.stringify(m).length <= MAX_METADATA_BYTES, {
  message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
});
const roomId = z.string().regex(ROOM_ID_PATTERN, 'must be 1-128 letters, digits, or _ . : -');

export const messageInput = z
  .object({
    type: z.string().min(1).max(MAX_TYPE_LENGTH),
    interactionClass: z.enum(INTERACTION_CLASSES).optional(),
    recipientId: z.string().regex(USER_ID_PATTERN, 'must be a user id').optional(),
    roomId: roomId.optional(),
    payload: z.unknown(),
    metadata: metadata.optional(),
  })
  .refine((m) => (m.recipientId === undefined) !== (m.roomId === undefined), {
    message: 'exactly one of recipientId (direct message) or roomId (room broadcast) is required',
    path: ['recipientId'],
  })
  .refine((m) => m.payload !== undefined, { message: 'payload is required', path: ['payload'] });
export type MessageInput = z.infer<typeof messageInput>;

export const roomInput = z.object({ roomId });
export const presenceInput = z.object({
  status: z.enum(['online', 'away', 'offline']),
  metadata: metadata.optional(),
});
export type PresenceInput = z.infer<typeof presenceInput>;

/** Validates one client event's payload; bad input is INVALID_REQUEST naming the field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, event: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new ApiError('INVALID_REQUEST', `Invalid "${event}" payload: ${parsed.error.issues[0]?.message ?? 'bad input'}`, {
    details: zodDetails(parsed.error),
  });
}

/** The client's class, the seed's default being C. Class D is refused over realtime. */
export function interactionClassOf(input: MessageInput): InteractionClass {
  const cls = input.interactionClass ?? 'CLASS_C';
  if (cls === 'CLASS_D') {
    throw new ApiError(
      'INVALID_REQUEST',
      `Class D (critical transactions) is not accepted over realtime: use ${CLASS_D_REST_PATH}`,
      {
        details: { interactionClass: cls, use: CLASS_D_REST_PATH },
      },
    );
  }
  return cls;
}

/** The server → client `message` object, exactly as the seed names it. */
export interface HubMessage {
  messageId: string;
  type: string;
  interactionClass: InteractionClass;
  tenantId: string;
  senderId: string;
  recipientId?: string;
  roomId?: string;
  payload: unknown;
  timestamp: string;
  metadata?: Record<string, unknown>;
}

export function buildMessage(
  input: MessageInput,
  cls: InteractionClass,
  sender: { tenantId: string; userId: string },
  messageId: string,
  now: number,
): HubMessage {
  return {
    messageId,
    type: input.type,
    interactionClass: cls,
    tenantId: sender.tenantId,
    senderId: sender.userId,
    ...(input.recipientId !== undefined ? { recipientId: input.recipientId } : {}),
    ...(input.roomId !== undefined ? { roomId: input.roomId } : {}),
    payload: input.payload,
    timestamp: new Date(now).toISOString(),
    ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
  };
}

/** The seed's `error` event: `{ error, code?, details? }`. */
export interface HubErrorEvent {
  error: string;
  code: string;
  details?: Record<string, unknown>;
}

export const errorEvent = (err: ApiError): HubErrorEvent => ({
  error: err.message,
  code: codeIn('seed003', err.code),
  ...(err.details ? { details: err.details } : {}),
});

// ---- shards ---------------------------------------------------------------------------------------------------

export const DEFAULT_SHARDS = 4;
export const MAX_SHARDS = 64;

/** `HUB_SHARDS` as a shard count (1..64), the default when unset or malformed. */
export function shardCount(value: string | undefined): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= MAX_SHARDS ? n : DEFAULT_SHARDS;
}

/** Engine.IO session ids and recovery ids start with their shard: `<shard>.<random>`. */
export function shardOfId(id: string, count: number): number | null {
  const m = /^(\d{1,2})\.[A-Za-z0-9_-]{8,64}$/.exec(id);
  if (!m) return null;
  const n = Number(m[1]);
  return n < count ? n : null;
}

/** FNV-1a: the shard that keeps one user's presence and room counts (every shard computes the same). */
export function homeShard(tenantId: string, userId: string, count: number): number {
  let h = 0x811c9dc5;
  const key = `${tenantId}\u0000${userId}`;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

// ---- the REST read of a room's presence --------------------------------------------------------------------------

export const PRESENCE_PAGE_DEFAULT = 50;
export const PRESENCE_PAGE_MAX = 200;

/** One user present in a room (read from the user's home shard). */
export interface RoomPresenceEntry {
  userId: string;
  status: 'online' | 'away' | 'offline';
  metadata: Record<string, unknown>;
  /** When the user last set a presence (null: never, so the default `online`). */
  updatedAt: string | null;
  /** The user's connected sockets in the room. */
  connections: number;
}

/**
 * Merges the shards' pages (each sorted by user id, each user on one home shard only, each asked for `limit + 1`)
 * into one page of `limit`, and the cursor of the next page: the last user id given, when more exist.
 */
export function mergePresencePages(
  pages: RoomPresenceEntry[][],
  limit: number,
): { presence: RoomPresenceEntry[]; nextCursor: string | null } {
  const all = pages.flat().sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const presence = all.slice(0, limit);
  return { presence, nextCursor: all.length > limit ? (presence[presence.length - 1]?.userId ?? null) : null };
}

// ---- delivery, recovery and presence between shards -----------------------------------------------------------

/** Who a delivery reaches on a shard. */
export type DeliveryTarget = { room: string } | { userId: string } | { rooms: string[]; excludeUserId: string };

export interface Delivery {
  tenantId: string;
  target: DeliveryTarget;
  /** `[event, ...args]`. */
  packet: unknown[];
  /** Logged for connection-state recovery (an offset is appended). Class A traffic is not. */
  store: boolean;
  /** Socket id left out (the sender). */
  exclude?: string;
}

/** The packet log's target of a delivery (`r:<room>`, `u:<user>`); null for presence to several rooms (never logged). */
export function logTarget(target: DeliveryTarget): string | null {
  return 'room' in target ? `r:${target.room}` : 'userId' in target ? `u:${target.userId}` : null;
}

/** A packet of the recovery log. */
export interface LoggedPacket {
  seq: number;
  /** `[event, ...args]` without the offset. */
  packet: unknown[];
}

export type RecoveryAnswer =
  | { kind: 'none' }
  | { kind: 'moved'; to: number }
  | { kind: 'ok'; socketId: string; clientId: string; rooms: string[]; packets: LoggedPacket[] };

/** The client's recovery `offset` (the last packet it saw) as a log position; 0 when absent or malformed. */
export const recoveryOffset = (offset: unknown): number =>
  typeof offset === 'string' && /^\d{1,15}$/.test(offset) ? Number(offset) : 0;

/** The `clientId` query parameter when well-formed, else `fallback`. */
export const clientIdOf = (query: string | undefined, fallback: string): string =>
  query && /^[A-Za-z0-9_.:-]{1,128}$/.test(query) ? query : fallback;

export interface PresenceState {
  status: 'online' | 'away' | 'offline';
  metadata: Record<string, unknown>;
}

/** A user's socket count in a room went to `count` by `delta`: the first in and the last out are announced. */
export const announcesPresence = (roomId: string, delta: number, count: number): boolean =>
  roomId !== '*' && ((delta > 0 && count === delta) || (delta < 0 && count === 0));

export const presenceChanged = (before: PresenceState, next: PresenceState): boolean =>
  before.status !== next.status || JSON.stringify(before.metadata) !== JSON.stringify(next.metadata);
