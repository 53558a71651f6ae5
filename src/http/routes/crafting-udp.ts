import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { tokenFromRequest, verifyAccessToken } from '../../auth/tokens';
import { actorIdentity } from '../../core/forward';
import type { UdpAnswer, UdpConnectAnswer } from '../../dialects/crafting';
import { DEFAULT_PACKET_BYTES, MAX_PACKET_BYTES, MIN_PACKET_BYTES, UDP_VERSION } from '../../dialects/crafting-udp';
import { ApiError, fromReply } from '../../errors';
import type { AppEnv } from '../context';
import { assertTenant, requireAuth } from '../middleware/auth';
import { errorContent as error, jsonContent, jsonRequest } from '../openapi';
import { router } from '../validation';
import { fromActorReply, pathId, sessionActor } from './crafting';

/**
 * Seed 002's "UDP" sync, served honestly over HTTP: Workers have no UDP sockets, so each datagram is one
 * `POST` with an `application/octet-stream` body (or a binary WebSocket frame on `/ws/crafting/{id}` with
 * `Sec-WebSocket-Protocol: crafting-udp.v1`). The semantics stay a datagram's: no retransmission, stale or
 * duplicate `seq` dropped (202, `X-Udp-Drop`), newest wins, and the answer is the downstream packet.
 * Formats: src/dialects/crafting-udp.ts and docs/crafting-protocol.md.
 */

/** Data packets skip the per-IP request limit (20 Hz would exceed it): each peer is limited in its session actor. */
export const isUdpPacketPath = (path: string): boolean => /^\/udp\/sessions\/[^/]+\/(progress|materials)$/.test(path);

const ConnectBody = z
  .object({
    version: z
      .number()
      .int()
      .optional()
      .openapi({ description: `Format version; this server speaks ${UDP_VERSION}` }),
    maxPacketSize: z
      .number()
      .int()
      .min(MIN_PACKET_BYTES)
      .max(MAX_PACKET_BYTES)
      .optional()
      .openapi({
        description: `Largest packet either side sends, ${MIN_PACKET_BYTES}..${MAX_PACKET_BYTES} bytes (default ${DEFAULT_PACKET_BYTES})`,
      }),
    keyframeInterval: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .openapi({ description: 'Full state at least every K deltas (default 20)' }),
    keyframeIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .optional()
      .openapi({ description: 'Full state at least every T ms (default 1000)' }),
  })
  .strict()
  .openapi('UdpConnectRequest');

const ConnectAnswer = z
  .object({
    sessionId: z.string(),
    peerId: z.string(),
    sessionToken: z.string().openapi({ description: '16 bytes as 32 hex digits: the header token of the next packet' }),
    tokenExpiresAt: z.string(),
    tokenTtlMs: z.number().int(),
    version: z.number().int(),
    maxPacketSize: z.number().int(),
    keyframeInterval: z.number().int(),
    keyframeIntervalMs: z.number().int(),
    headerBytes: z.number().int(),
    tickHz: z.number().int(),
  })
  .openapi('UdpConnectAnswer');

const connectRoute = createRoute({
  method: 'post',
  path: '/udp/sessions/{session_id}/connect',
  summary: 'Establish a UDP-style sync peer: session token (rotated), packet size, keyframe interval, version',
  security: [{ Bearer: [] }],
  request: {
    params: z.object({ session_id: z.string().openapi({ param: { name: 'session_id', in: 'path' } }) }),
    body: jsonRequest(ConnectBody, false),
  },
  responses: {
    200: jsonContent(ConnectAnswer, 'The negotiated parameters'),
    400: error('Bad parameters or unsupported version'),
    401: error('Not authenticated'),
    404: error('No such session'),
  },
});

export const craftingUdp = router();
craftingUdp.use('/udp/sessions/:session_id/connect', requireAuth);

craftingUdp.openapi(connectRoute, async (c) => {
  const identity = c.get('identity');
  const sessionId = pathId(c.req.valid('param').session_id, 'session_id');
  const body = c.req.valid('json') ?? {};
  const r = await sessionActor(c, identity.tenantId, sessionId).udpConnect(actorIdentity(identity), body);
  return c.json(fromActorReply<UdpConnectAnswer>(r), 200);
});

/** The tenant of a data packet: the Bearer token's when one is sent, else `X-Tenant-ID` (the session token is the credential). */
async function packetTenant(c: Context<AppEnv>): Promise<string> {
  const bearer = tokenFromRequest(c.req.raw);
  const header = c.req.header('x-tenant-id')?.trim();
  if (bearer) {
    const identity = await verifyAccessToken(c.env, bearer);
    assertTenant(identity, header);
    return identity.tenantId;
  }
  if (!header) {
    throw new ApiError('INVALID_REQUEST', 'Send X-Tenant-ID (or Authorization: Bearer) with every packet', {
      details: { field: 'X-Tenant-ID', issue: 'missing_tenant' },
    });
  }
  return header;
}

async function packet(c: Context<AppEnv>, channel: 'progress' | 'materials'): Promise<Response> {
  const sessionId = pathId(c.req.param('session_id'), 'session_id');
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/octet-stream') {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Packets are application/octet-stream', { details: { field: 'Content-Type' } });
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_PACKET_BYTES)
    throw new ApiError('PAYLOAD_TOO_LARGE', `Packets are at most ${MAX_PACKET_BYTES} bytes`, { details: { issue: 'oversize' } });
  const tenantId = await packetTenant(c);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_PACKET_BYTES)
    throw new ApiError('PAYLOAD_TOO_LARGE', `Packets are at most ${MAX_PACKET_BYTES} bytes`, { details: { issue: 'oversize' } });
  // RPC result types cannot express `unknown`; this is the actor's declared answer.
  const answer = (await sessionActor(c, tenantId, sessionId).udpPacket(channel, bytes)) as unknown as UdpAnswer;
  if (answer.kind === 'error') fromReply({ ok: false, error: answer.error });
  if (answer.kind === 'dropped') return new Response(null, { status: 202, headers: { 'X-Udp-Drop': answer.reason } });
  return new Response(answer.bytes, {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' },
  });
}

craftingUdp.post('/udp/sessions/:session_id/progress', (c) => packet(c, 'progress'));
craftingUdp.post('/udp/sessions/:session_id/materials', (c) => packet(c, 'materials'));

// The packet routes read raw bytes, so they are described here rather than validated by zod-openapi.
const packetBody = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
});
const PACKET_CHANNELS = {
  progress: {
    kind: 1,
    summary: 'Send a progress sync packet (UdpProgressUpdate, kind 1); the answer is the newest progress packet',
    upstream: 'No body (flags 0): "I hold baseSeq"',
  },
  materials: {
    kind: 2,
    summary: 'Send a materials sync packet (UdpMaterialUpdate, kind 2); the answer is the newest materials packet',
    upstream: 'No body, or (service and admin peers) flag DELTA with a delta body that changes the materials, all or nothing',
  },
} as const;

for (const [channel, doc] of Object.entries(PACKET_CHANNELS)) {
  craftingUdp.openAPIRegistry.registerPath({
    method: 'post',
    path: `/udp/sessions/{session_id}/${channel}`,
    tags: ['Crafting sync'],
    summary: doc.summary,
    description: `One datagram per request (Workers have no UDP sockets). The body is one packet: the 40-byte big-endian UdpPacketHeader (magic 0xC7AF, version ${UDP_VERSION}, flags, kind ${doc.kind}, bodyLength, the 16-byte session token from connect, seq, baseSeq, timestamp) and a bit-packed body. ${doc.upstream}. The session token authenticates the packet; the tenant comes from X-Tenant-ID (or a Bearer token). Not under the per-IP request limit: 3,600 packets a minute per peer. Format: docs/crafting-protocol.md.`,
    security: [{}, { Bearer: [] }],
    request: {
      params: z.object({ session_id: z.string().openapi({ param: { name: 'session_id', in: 'path' } }) }),
      headers: z.object({
        'X-Tenant-ID': z.string().optional().openapi({ description: 'The tenant, when no Bearer token is sent' }),
      }),
      body: {
        required: true,
        ...packetBody(
          `One packet of kind ${doc.kind}, ${MIN_PACKET_BYTES}..${MAX_PACKET_BYTES} bytes (and at most the peer's maxPacketSize)`,
        ),
      },
    },
    responses: {
      200: packetBody(
        'One downstream packet: UNCHANGED (no body) when baseSeq is the newest state, a DELTA from baseSeq while the server keeps that state (last 64), else a KEYFRAME; its header token, when not zeros, is the next session token',
      ),
      202: {
        description: 'Dropped as a datagram would be: seq not above the newest from this peer; no body, nothing changed',
        headers: z.object({
          'X-Udp-Drop': z.enum(['duplicate', 'stale']).openapi({ description: 'Why the packet was dropped' }),
        }),
      },
      400: error(
        'Malformed packet (details.issue: truncated, bad_magic, unsupported_version, bad_flags, bad_kind, length_mismatch, bad_seq, bad_body, wrong_kind, unexpected_body, missing_tenant)',
      ),
      401: error('Unknown or expired session token (bad_token): connect again'),
      403: error('A player peer sent a materials body (not_allowed)'),
      404: error('No such session'),
      409: error('The material change would go below zero'),
      413: error(`Over ${MAX_PACKET_BYTES} bytes or the peer's maxPacketSize (oversize)`),
      415: error('Not application/octet-stream'),
      429: error('Over 3,600 packets a minute from this peer (rate_limited)'),
    },
  });
}
