import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Identity } from '../auth/identity';
import { redeemTicket } from '../auth/tickets';
import { tokenFromRequest, verifyAccessToken } from '../auth/tokens';
import type { RealtimeActor } from '../core/actor';
import { actorIdentity, forwardRequest } from '../core/forward';
import { POLL_MAX_WAIT_SECONDS } from '../core/polling';
import type { PollResponse } from '../core/protocol';
import { REPLAY_LIMIT } from '../core/protocol';
import { parseTypes } from '../core/sse';
import { ApiError, type ErrorBody } from '../errors';
import type { AppEnv } from './context';
import { idempotencyKeyOf } from './idempotency';
import { assertTenant } from './middleware/auth';
import { errorContent } from './openapi';

/**
 * The HTTP plumbing every realtime stream shares, whatever its actor class, dialect and actor key: the WebSocket
 * and SSE handshakes (token checked before anything is opened, then forwarded to the actor), long polling and
 * HTTP-sent frames over the actor's RPC, and the OpenAPI pieces of those routes. Every `RealtimeActor` (Room,
 * Race, Chunk, and the actors to come) answers these the same way, so a route only finds its actor and dialect.
 */

/** A handle on any realtime actor: the core's `fetch`, `poll` and `sendFrame` are all these helpers call. */
export type RealtimeHandle = DurableObjectStub<RealtimeActor>;

/**
 * WebSocket and SSE handshakes, checked before any upgrade or stream exists: `?ticket=` (a single-use connection
 * ticket from `POST /api/auth/ticket`, the way to keep tokens out of URLs), `Authorization: Bearer`, or
 * `?token=` (kept for compatibility: a URL with a token can land in logs and browser history).
 */
export async function handshakeIdentity(c: Context<AppEnv>): Promise<Identity> {
  const ticket = c.req.query('ticket');
  const token = ticket ? null : tokenFromRequest(c.req.raw);
  if (!ticket && !token) {
    throw new ApiError(
      'AUTHENTICATION_REQUIRED',
      'Authentication required: ?ticket= (POST /api/auth/ticket), Authorization: Bearer <access_token> or ?token=',
      { details: { reason: 'missing' } },
    );
  }
  const identity = ticket ? await redeemTicket(c.env, ticket) : await verifyAccessToken(c.env, token as string);
  assertTenant(identity, c.req.header('x-tenant-id'));
  return identity;
}

/** 426 for a plain GET on a WebSocket path, in the one REST error shape. */
export function requireUpgrade(c: Context<AppEnv>): Response | null {
  if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return null;
  const body: ErrorBody = {
    error: 'INVALID_REQUEST',
    message: 'This endpoint speaks WebSocket: send Upgrade: websocket',
    details: { required: 'Upgrade: websocket' },
  };
  return c.json(body, 426, { Upgrade: 'websocket' });
}

/** Hands an authenticated WebSocket upgrade or SSE request to the actor, with the identity the Worker verified. */
export function forwardToActor(
  c: Context<AppEnv>,
  actor: RealtimeHandle,
  identity: Identity,
  dialect: string,
): Promise<Response> {
  return actor.fetch(forwardRequest(c.req.raw, actorIdentity(identity), dialect));
}

export const EventsQuery = z.object({
  lastEventId: z.string().max(100).optional().openapi({ description: 'Last event id received; omit for the current state' }),
  lastSequence: z.coerce.number().int().min(0).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(REPLAY_LIMIT)
    .optional()
    .openapi({ description: `1..${REPLAY_LIMIT}, default 50` }),
  wait: z.coerce
    .number()
    .min(0)
    .max(POLL_MAX_WAIT_SECONDS)
    .optional()
    .openapi({ description: 'Long-poll: seconds to wait for a new event' }),
  types: z.string().max(2000).optional().openapi({ description: 'Comma-separated event types' }),
});

/** The long-polling answer's schema around a dialect's event frame. */
export const pollAnswer = (frame: z.ZodType, name: string) =>
  z
    .object({
      events: z.array(frame),
      hasMore: z.boolean(),
      nextEventId: z.string().nullable(),
      truncated: z.boolean().optional(),
      snapshot: z.unknown().optional(),
    })
    .openapi(name);

/** Long polling over the actor's log. */
export async function pollActor(
  actor: RealtimeHandle,
  identity: Identity,
  dialect: string,
  q: z.infer<typeof EventsQuery>,
): Promise<PollResponse> {
  // RPC result types cannot express `unknown`; this is the actor's declared return type.
  return (await actor.poll(actorIdentity(identity), dialect, {
    lastEventId: q.lastEventId,
    lastSequence: q.lastSequence,
    limit: q.limit,
    wait: q.wait,
    types: parseTypes(q.types ?? null),
  })) as PollResponse;
}

/**
 * One client frame sent over HTTP; answers the frames sent back to the sender (413 when too large). With an
 * `Idempotency-Key`, a retry answers the first frames and is not handled again.
 */
export async function sendFrameTo(
  c: Context<AppEnv>,
  actor: RealtimeHandle,
  identity: Identity,
  dialect: string,
): Promise<unknown[]> {
  const key = idempotencyKeyOf(c);
  const text = await c.req.text();
  const result = (await actor.sendFrame(actorIdentity(identity), dialect, text, key)) as unknown as Awaited<
    ReturnType<RealtimeActor['sendFrame']>
  >;
  if (result.tooLarge) throw new ApiError('PAYLOAD_TOO_LARGE', 'Frame is larger than this stream accepts');
  return result.frames;
}

export const messagesResponses = {
  200: { description: 'Frames sent back to the sender', content: { 'application/json': { schema: z.array(z.unknown()) } } },
  401: errorContent('Not authenticated'),
  413: errorContent('Frame larger than the dialect allows'),
};
