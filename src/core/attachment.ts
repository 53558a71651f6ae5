import { ApiError } from '../errors';
import type { ActorIdentity } from './dialect';
import type { Codec, EventRef } from './protocol';

/**
 * What each WebSocket carries through hibernation: under 1 KiB without `state` (identity, topics, limiter), and
 * `state` is bounded by `CONNECTION_STATE_MAX_BYTES`, so it stays well under the runtime's 16 KiB limit.
 */
export interface Attachment {
  v: 1;
  id: string;
  identity: ActorIdentity;
  dialect: string;
  codec: Codec;
  topics: string[];
  connectedAt: number;
  lastSeen: number;
  /** Consecutive refused frames. */
  strikes: number;
  /** `?batch=1`: the logged events of one publish arrive as one frame, an array of the dialect's event frames. */
  batch?: true;
  /** The connection state of the dialect or actor (`Connection.state`). */
  state?: unknown;
}

/** A socket with its attachment, as the registry hands them out. */
export interface OpenSocket {
  ws: WebSocket;
  att: Attachment;
}

export const randomId = (prefix: string): string => `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`;

export const MAX_TOPICS = 32;
const MAX_TOPIC_LENGTH = 64;

export function readAttachment(ws: WebSocket): Attachment | null {
  const att = ws.deserializeAttachment() as Attachment | null;
  return att && att.v === 1 ? att : null;
}

/** `?topics=a,b`: bounded so the attachment stays small. */
export function parseTopics(value: string | null): string[] {
  if (!value) return [];
  return [...new Set(value.split(',').map((t) => t.trim()))]
    .filter((t) => t.length > 0 && t.length <= MAX_TOPIC_LENGTH)
    .slice(0, MAX_TOPICS);
}

/** `?batch=1` (or `true`) opts a socket in to one frame per published batch; absent, `0` or `false` keeps one per event. */
export function parseBatch(value: string | null): boolean {
  if (value === null || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new ApiError('INVALID_REQUEST', 'batch must be 1 or 0', { details: { field: 'batch', supported: ['1', '0'] } });
}

/** `?lastEventId=` or `?lastSequence=` on a connect URL. */
export function connectRef(url: URL): EventRef | null {
  const lastEventId = url.searchParams.get('lastEventId');
  if (lastEventId) return { lastEventId };
  const lastSequence = url.searchParams.get('lastSequence');
  if (lastSequence !== null && lastSequence !== '')
    return { lastSequence: /^\d{1,15}$/.test(lastSequence) ? Number(lastSequence) : -1 };
  return null;
}
