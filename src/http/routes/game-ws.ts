import { playerScope } from '../../actors/chunk';
import { chunkActor } from '../../actors/keys';
import { actorIdentity, forwardRequest } from '../../core/forward';
import { findPlayer } from '../../db/players';
import { DIALECT, negotiateProtocol, PROTOCOLS } from '../../dialects/earthring';
import { parseBatchOption } from '../../domain/chunk-area';
import { playerIdOf } from '../../domain/input';
import { type ChunkRef, chunkIndexDelta, chunkOf, formatChunkId, parseChunkId } from '../../domain/ring';
import { ApiError } from '../../errors';
import { handshakeIdentity, requireUpgrade } from '../realtime';
import { router } from '../validation';

/**
 * Seed 000's game socket `GET /ws` (the seed's `/ws` belongs to EarthRing; other seeds' sockets live under
 * `/ws/...`). In order: 426 without `Upgrade: websocket`; 401 without a valid token (`?token=` or
 * `Authorization: Bearer`); 400 when `Sec-WebSocket-Protocol` offers no version we speak; 403 for an identity
 * without a player profile. The socket lives in the Chunk actor of the player's chunk (D1 `players` row), or of
 * `?chunk=` when that is the player's chunk or a neighbour of it (a client following a hand-off).
 *
 * The actor gets a URL the Worker builds: the client's resume parameters (`lastEventId`, `lastSequence`,
 * `handoff_from`, `handoff_seq`), and what only the Worker may say: `topics` (the area and the player's own
 * personal scope), `codec` (MessagePack for earthring-v2), the negotiated `protocol` and the D1 position.
 */

const RESUME_PARAMS = ['lastEventId', 'lastSequence', 'handoff_from', 'handoff_seq'] as const;
const MAX_PARAM_LENGTH = 100;

export const gameWs = router();

gameWs.get('/ws', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const identity = await handshakeIdentity(c);
  const offered = c.req.header('sec-websocket-protocol') ?? null;
  const negotiated = negotiateProtocol(offered);
  if (!negotiated) {
    throw new ApiError(
      'INVALID_REQUEST',
      `Unsupported WebSocket protocol version: this server speaks ${[...PROTOCOLS].reverse().join(', ')}`,
      {
        details: {
          field: 'Sec-WebSocket-Protocol',
          issue: 'unsupported_protocol',
          offered: offered?.slice(0, 200),
          supported: [...PROTOCOLS],
        },
      },
    );
  }
  const batched = parseBatchOption(c.req.query('batch'));
  const playerId = playerIdOf(identity.userId);
  const player = playerId === null ? null : await findPlayer(c.env.DB, identity.tenantId, playerId);
  if (!player) {
    throw new ApiError('AUTHORIZATION_FAILED', 'Only players have a game socket: this account has no player profile', {
      details: { field: 'token', issue: 'not_a_player' },
    });
  }
  const here = chunkOf(player.current_floor, player.current_position_x);
  let ref: ChunkRef = here;
  const asked = c.req.query('chunk');
  if (asked !== undefined) {
    ref = parseChunkId(asked, 'chunk');
    if (ref.floor !== here.floor || Math.abs(chunkIndexDelta(here.chunkIndex, ref.chunkIndex)) > 1) {
      throw new ApiError('INVALID_REQUEST', `Chunk ${asked} is not where you stand (${formatChunkId(here)}) or next to it`, {
        details: { field: 'chunk', issue: 'not_your_chunk', chunk_id: formatChunkId(here) },
      });
    }
  }

  const incoming = new URL(c.req.url);
  const url = new URL('https://edge.internal/ws');
  for (const name of RESUME_PARAMS) {
    const value = incoming.searchParams.get(name);
    if (value !== null && value.length <= MAX_PARAM_LENGTH) url.searchParams.set(name, value);
  }
  url.searchParams.set('topics', ['area', playerScope(identity.userId)].join(','));
  if (negotiated.protocol === 'earthring-v2') url.searchParams.set('codec', 'msgpack');
  url.searchParams.set('protocol', negotiated.protocol);
  // The chunk's own opt-in (its movement tick), not the core's per-publish arrays (`batch`): see src/dialects/README.md.
  if (batched) url.searchParams.set('batch_moves', '1');
  url.searchParams.set('px', String(player.current_position_x));
  url.searchParams.set('py', String(player.current_position_y));
  url.searchParams.set('pf', String(player.current_floor));

  const chunk = chunkActor(c.env, identity.tenantId, formatChunkId(ref));
  const res = await chunk.fetch(
    forwardRequest(new Request(url, { headers: c.req.raw.headers }), actorIdentity(identity), DIALECT),
  );
  if (res.status !== 101 || !res.webSocket || !negotiated.echo) return res;
  // The chosen version is echoed in the 101, as the seed's handshake shows.
  return new Response(null, {
    status: 101,
    webSocket: res.webSocket,
    headers: { 'Sec-WebSocket-Protocol': negotiated.protocol },
  });
});
