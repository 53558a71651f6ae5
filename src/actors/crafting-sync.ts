import type { Budgets } from '../core/budgets';
import type { ActorIdentity } from '../core/dialect';
import { countFrame, type Meter } from '../core/metrics';
import { CLOSE } from '../core/protocol';
import {
  UDP_DIALECT,
  type UdpAnswer,
  type UdpConnectAnswer,
  type UdpConnectRequest,
  udpError,
  udpErrorFrame,
} from '../dialects/crafting';
import {
  decodeMaterialsDelta,
  decodePacket,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  HEADER_BYTES,
  KIND_MATERIALS,
  MAX_PACKET_BYTES,
  PacketError,
  TOKEN_BYTES,
  tokenFromHex,
  tokenToHex,
  UDP_VERSION,
  type UdpProgressState,
} from '../dialects/crafting-udp';
import type { Materials } from '../domain/crafting';
import { ApiError } from '../errors';
import { type Channel, CraftingSync, downstreamPacket, type Peer, randomToken } from './crafting-sync-store';

export type { Channel };

export const DEFAULT_KEYFRAME_EVERY = 20;
export const DEFAULT_KEYFRAME_MS = 1_000;
export const TOKEN_TTL_MS = 60_000;
/** Binary watchers get a packet per channel at this rate while the session runs (the seed's 20 Hz). */
export const UDP_TICK_MS = 50;
/** Seed 002's UDP packet limit: packets per peer per minute (60/s: three times the 20 Hz the sync needs). */
export const UDP_PACKETS_PER_MINUTE = 3_600;

/** What the sync plumbing needs of its Crafting actor. */
export interface SyncHost {
  readonly meter: Meter;
  /** The actor's per-user budgets (the UDP packet limit is one of them). */
  readonly budgets: Budgets;
  config(key: string): number | undefined;
  /** The session's channel states now, or null before the session exists. */
  state(): { progress: UdpProgressState; materials: Materials } | null;
  /** The binary watchers' open sockets. */
  sockets(): WebSocket[];
  /** Applies the materials delta of a service or admin peer: an error answer, or null once applied. */
  applyMaterials(peer: Peer, changes: Materials): Promise<UdpAnswer | null>;
  /** Records a delivery latency sample. */
  delivered(path: string, since: number): void;
}

/**
 * The UDP-style sync plumbing of one Crafting actor: peers connecting over HTTP, upstream packets checked and
 * answered, and every change of a channel pushed to the binary watchers, each packet encoded once for all of them.
 */
export class SyncLink {
  readonly sync: CraftingSync;

  constructor(
    sql: SqlStorage,
    private readonly host: SyncHost,
  ) {
    this.sync = new CraftingSync(sql);
  }

  keyframeEvery(): number {
    return this.host.config('udpKeyframeEvery') ?? DEFAULT_KEYFRAME_EVERY;
  }

  keyframeMs(): number {
    return this.host.config('udpKeyframeMs') ?? DEFAULT_KEYFRAME_MS;
  }

  private tokenTtl(): number {
    return this.host.config('udpTokenTtlMs') ?? TOKEN_TTL_MS;
  }

  /** `POST /udp/sessions/{id}/connect`: a peer, its first token and the negotiated parameters. */
  connect(sessionId: string, identity: ActorIdentity, request: UdpConnectRequest): UdpConnectAnswer {
    const version = request.version ?? UDP_VERSION;
    if (version !== UDP_VERSION) {
      throw new ApiError('INVALID_REQUEST', `Unsupported sync version ${version}`, {
        details: { field: 'version', issue: 'unsupported_version', supported: [UDP_VERSION] },
      });
    }
    const now = Date.now();
    const ttl = this.tokenTtl();
    const peer: Peer = {
      peerId: `peer_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`,
      userId: identity.userId,
      role: identity.role,
      token: randomToken(),
      prevToken: null,
      prevExpiresAt: 0,
      expiresAt: now + ttl,
      lastSeq: 0,
      maxPacket: request.maxPacketSize ?? 1200,
      keyframeEvery: request.keyframeInterval ?? DEFAULT_KEYFRAME_EVERY,
      keyframeMs: request.keyframeIntervalMs ?? DEFAULT_KEYFRAME_MS,
      deltas: { progress: 0, materials: 0 },
      lastKeyAt: { progress: 0, materials: 0 },
    };
    this.sync.addPeer(peer);
    return {
      sessionId,
      peerId: peer.peerId,
      sessionToken: peer.token,
      tokenExpiresAt: new Date(peer.expiresAt).toISOString(),
      tokenTtlMs: ttl,
      version,
      maxPacketSize: peer.maxPacket,
      keyframeInterval: peer.keyframeEvery,
      keyframeIntervalMs: peer.keyframeMs,
      headerBytes: HEADER_BYTES,
      tickHz: Math.round(1000 / UDP_TICK_MS),
    };
  }

  /** One packet of `channel` (over HTTP or a binary watcher): checked, counted, answered for the peer's base. */
  async packet(channel: Channel, bytes: Uint8Array): Promise<UdpAnswer> {
    const since = Date.now();
    const meter = this.host.meter;
    const answer = await this.receive(channel, bytes);
    const result = answer.kind === 'packet' ? 'accepted' : answer.kind === 'dropped' ? answer.reason : 'rejected';
    meter.inc('edgerooms_crafting_udp_packets_total', { channel, result });
    meter.inc('edgerooms_crafting_udp_bytes_total', { channel, direction: 'in' }, bytes.byteLength);
    if (answer.kind === 'error' && answer.error.error === 'RATE_LIMIT_EXCEEDED') {
      meter.inc('edgerooms_rate_limited_total', { limit: 'udp_packets' });
    }
    if (answer.kind === 'packet') {
      meter.inc('edgerooms_crafting_udp_bytes_total', { channel, direction: 'out' }, answer.bytes.byteLength);
      this.countPacket(channel, answer.bytes[3] as number);
      this.host.delivered('udp_answer', since);
    }
    return answer;
  }

  private async receive(channel: Channel, bytes: Uint8Array): Promise<UdpAnswer> {
    if (bytes.byteLength > MAX_PACKET_BYTES)
      return udpError('PAYLOAD_TOO_LARGE', `Packets are at most ${MAX_PACKET_BYTES} bytes`, 'oversize');
    let packet: ReturnType<typeof decodePacket>;
    try {
      packet = decodePacket(bytes);
    } catch (err) {
      if (err instanceof PacketError) return udpError('INVALID_REQUEST', err.message, err.issue);
      throw err;
    }
    const h = packet.header;
    const now = Date.now();
    const found = this.host.state() ? this.sync.peerByToken(tokenToHex(h.token), now) : null;
    if (!found) return udpError('AUTHENTICATION_REQUIRED', 'Unknown or expired session token: connect again', 'bad_token');
    let peer = found;
    if (bytes.byteLength > peer.maxPacket) {
      return udpError('PAYLOAD_TOO_LARGE', `This peer negotiated packets of at most ${peer.maxPacket} bytes`, 'oversize', {
        maxPacketSize: peer.maxPacket,
      });
    }
    if ((h.kind === KIND_MATERIALS) !== (channel === 'materials')) {
      return udpError('INVALID_REQUEST', `A ${channel} endpoint takes ${channel} packets`, 'wrong_kind');
    }
    // Per user in this session (a sliding window): a reconnect as a new peer does not hand out a fresh budget.
    const perMinute = this.host.config('udpPacketsPerMinute') ?? UDP_PACKETS_PER_MINUTE;
    const limit = this.host.budgets.spend(`udp|${peer.userId}`, { limit: perMinute, windowMs: 60_000 }, now);
    if (!limit.allowed) {
      return udpError('RATE_LIMIT_EXCEEDED', `More than ${perMinute} packets a minute`, 'rate_limited', {
        retryAfterMs: limit.retryAfterMs,
      });
    }
    // Datagram semantics: no retransmission; a packet older than or equal to the newest seen is dropped.
    if (h.seq <= peer.lastSeq) {
      this.sync.savePeer(peer);
      return { kind: 'dropped', reason: h.seq === peer.lastSeq ? 'duplicate' : 'stale' };
    }
    peer.lastSeq = h.seq;
    if (packet.body.byteLength > 0) {
      const applied = await this.upstreamBody(channel, peer, h.flags, packet.body);
      if (applied) {
        this.sync.savePeer(peer);
        return applied;
      }
    }
    peer = this.sync.rotate(peer, now, this.tokenTtl());
    this.push(undefined, now);
    const answer = this.sync.answer(channel, h.baseSeq, peer, now);
    this.sync.savePeer(peer);
    if (!answer) return udpError('INVALID_REQUEST', 'Nothing to sync yet', 'no_state');
    return { kind: 'packet', bytes: downstreamPacket(channel, answer, tokenFromHex(peer.token) as Uint8Array, now) };
  }

  /**
   * An upstream body: only a `materials` delta from a service or admin peer (the crafting service pushing material
   * changes); anything else must come without a body. Returns an error answer, or null once applied.
   */
  private async upstreamBody(channel: Channel, peer: Peer, flags: number, body: Uint8Array): Promise<UdpAnswer | null> {
    if (channel !== 'materials' || !(flags & FLAG_DELTA) || flags & FLAG_KEYFRAME) {
      return udpError('INVALID_REQUEST', 'Only materials deltas carry a body upstream', 'unexpected_body');
    }
    if (peer.role !== 'service' && peer.role !== 'admin') {
      return udpError('AUTHORIZATION_FAILED', 'Only service or admin peers change materials', 'not_allowed');
    }
    let changes: Materials;
    try {
      changes = decodeMaterialsDelta(body);
    } catch (err) {
      if (err instanceof PacketError) return udpError('INVALID_REQUEST', err.message, err.issue);
      throw err;
    }
    return this.host.applyMaterials(peer, changes);
  }

  /**
   * A binary frame from a binary watcher: a packet as over HTTP, answered on the socket (the downstream packet, or
   * a JSON `error` frame; an oversize packet also closes the socket with 1009).
   */
  async frame(ws: WebSocket, sessionId: string, bytes: Uint8Array): Promise<void> {
    countFrame(this.host.meter, UDP_DIALECT, 'in', bytes);
    if (bytes.byteLength < HEADER_BYTES) {
      const error = { error: 'INVALID_REQUEST', message: 'Truncated packet', details: { issue: 'truncated' } } as const;
      ws.send(udpErrorFrame(sessionId, error));
      return;
    }
    const answer = await this.packet(bytes[4] === KIND_MATERIALS ? 'materials' : 'progress', bytes);
    if (answer.kind === 'packet') ws.send(answer.bytes);
    else if (answer.kind === 'error') {
      ws.send(udpErrorFrame(sessionId, answer.error));
      if (answer.error.error === 'PAYLOAD_TOO_LARGE') ws.close(CLOSE.MESSAGE_TOO_BIG, 'Packet too large');
    }
  }

  /** Brings both downstream channels to the state now; true per channel that changed. */
  private refresh(): Record<Channel, boolean> {
    const state = this.host.state();
    const out = { progress: false, materials: false };
    if (!state) return out;
    out.progress = this.sync.update('progress', state.progress);
    out.materials = this.sync.update('materials', state.materials);
    return out;
  }

  /**
   * Brings the channels to the state now and sends what changed to every binary watcher (but `exclude`), each
   * packet encoded once for all of them. Every path that moves a channel goes through here, so a watcher never
   * misses a seq it would need as a base.
   */
  push(exclude?: string, since?: number): void {
    const changed = this.refresh();
    if (!changed.progress && !changed.materials) return;
    const sockets = this.host
      .sockets()
      .filter((ws) => exclude === undefined || (ws.deserializeAttachment() as { id?: string } | null)?.id !== exclude);
    const now = Date.now();
    const zero = new Uint8Array(TOKEN_BYTES);
    for (const channel of ['progress', 'materials'] as const) {
      if (!changed[channel]) continue;
      const d = this.sync.broadcast(channel, now, this.keyframeEvery(), this.keyframeMs());
      if (!d || sockets.length === 0) continue;
      const bytes = downstreamPacket(channel, d, zero, now);
      this.countPacket(channel, d.flags);
      for (const ws of sockets) {
        try {
          ws.send(bytes);
          countFrame(this.host.meter, UDP_DIALECT, 'out', bytes);
        } catch {
          // closing: its close handler cleans up
        }
      }
      if (since !== undefined) this.host.delivered('udp_broadcast', since);
    }
  }

  /** A binary watcher (new or reconnecting) starts from keyframes of both channels; the others move on first. */
  welcome(id: string): void {
    this.push(id);
    const now = Date.now();
    const zero = new Uint8Array(TOKEN_BYTES);
    const ws = this.host.sockets().find((s) => (s.deserializeAttachment() as { id?: string } | null)?.id === id);
    for (const channel of ['progress', 'materials'] as const) {
      const k = this.sync.keyframe(channel);
      if (!ws || !k) continue;
      const bytes = downstreamPacket(channel, k, zero, now);
      ws.send(bytes);
      countFrame(this.host.meter, UDP_DIALECT, 'out', bytes);
      this.countPacket(channel, k.flags);
    }
  }

  private countPacket(channel: Channel, flags: number): void {
    const meter = this.host.meter;
    if (flags & FLAG_KEYFRAME) meter.inc('edgerooms_crafting_udp_keyframes_total', { channel });
    else if (flags & FLAG_DELTA) meter.inc('edgerooms_crafting_udp_deltas_total', { channel });
    else if (flags & FLAG_UNCHANGED) meter.inc('edgerooms_crafting_udp_unchanged_total', { channel });
  }
}
