import type { Budgets } from '../core/budgets';
import type { ActorIdentity } from '../core/dialect';
import { countFrame, type Meter } from '../core/metrics';
import { UDP_DIALECT, type UdpAnswer, type UdpConnectAnswer, type UdpConnectRequest, udpError } from '../dialects/crafting';
import {
  decodeMaterialsDelta,
  decodePacket,
  encodeMaterialsDelta,
  encodeMaterialsKeyframe,
  encodePacket,
  encodeProgressDelta,
  encodeProgressKeyframe,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  HEADER_BYTES,
  KIND_MATERIALS,
  KIND_PROGRESS,
  MAX_PACKET_BYTES,
  materialsDiff,
  PacketError,
  type PacketKind,
  TOKEN_BYTES,
  tokenFromHex,
  tokenToHex,
  UDP_VERSION,
  type UdpProgressState,
} from '../dialects/crafting-udp';
import type { Materials } from '../domain/crafting';
import { ApiError } from '../errors';

/**
 * The Crafting actor's UDP-style sync state, beside the actor: peers (who connected, their rotating session token,
 * the newest `seq` they sent) in SQLite, and per channel (progress, materials) the downstream stream: a sequence
 * number, the latest state and a short ring of recent states, so a delta can be encoded against any base a
 * receiver may still hold, once per base however many receivers share it.
 */

export type Channel = 'progress' | 'materials';
export const CHANNEL_KIND: Record<Channel, PacketKind> = { progress: KIND_PROGRESS, materials: KIND_MATERIALS };

/**
 * Recent states kept per channel to encode deltas from: at 20 Hz, 0.8 s, just under the default keyframe interval
 * (1 s), so a receiver further behind than that gets the keyframe it would get soon anyway. Small on purpose: the
 * ring is most of a session's memory.
 */
const RING = 16;
export const DEFAULT_KEYFRAME_EVERY = 20;
export const DEFAULT_KEYFRAME_MS = 1_000;
export const TOKEN_TTL_MS = 60_000;
/** Binary watchers get a packet per channel at this rate while the session runs (the seed's 20 Hz). */
export const UDP_TICK_MS = 50;
/** Seed 002's UDP packet limit: packets per peer per minute (60/s: three times the 20 Hz the sync needs). */
export const UDP_PACKETS_PER_MINUTE = 3_600;

export interface Peer {
  peerId: string;
  userId: string;
  role: string;
  token: string;
  prevToken: string | null;
  /** Expiry of `prevToken` (it stays valid until then after a rotation). */
  prevExpiresAt: number;
  expiresAt: number;
  lastSeq: number;
  maxPacket: number;
  keyframeEvery: number;
  keyframeMs: number;
  /** Per channel: deltas since the last keyframe this peer got, and when it got it. */
  deltas: Record<Channel, number>;
  lastKeyAt: Record<Channel, number>;
}

type State = UdpProgressState | Materials;

interface Stream {
  seq: number;
  state: State | null;
  ring: Map<number, State>;
  /** Broadcast policy: deltas since the last broadcast keyframe, and when it went out. */
  deltas: number;
  lastKeyAt: number;
  /** Delta bodies of the current head by base seq: encoded once for every receiver on that base. */
  cache: Map<number, Uint8Array>;
}

export interface Downstream {
  flags: number;
  seq: number;
  baseSeq: number;
  body: Uint8Array;
}

const same = (a: State | null, b: State): boolean => a !== null && JSON.stringify(a) === JSON.stringify(b);

export function randomToken(): string {
  return tokenToHex(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
}

export class CraftingSync {
  private readonly streams: Record<Channel, Stream>;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS udp_peers (peer_id TEXT PRIMARY KEY, token TEXT NOT NULL, prev_token TEXT,
      expires_at INTEGER NOT NULL, body TEXT NOT NULL)`);
    sql.exec('CREATE INDEX IF NOT EXISTS udp_peers_token ON udp_peers (token)');
    sql.exec('CREATE INDEX IF NOT EXISTS udp_peers_prev ON udp_peers (prev_token)');
    sql.exec('CREATE TABLE IF NOT EXISTS udp_streams (channel TEXT PRIMARY KEY, seq INTEGER NOT NULL)');
    const seqs = new Map(
      sql
        .exec<{ channel: string; seq: number }>('SELECT channel, seq FROM udp_streams')
        .toArray()
        .map((r) => [r.channel, r.seq]),
    );
    // After a restart the ring is empty: every receiver's base is unknown and gets a keyframe next.
    const fresh = (c: Channel): Stream => ({
      seq: seqs.get(c) ?? 0,
      state: null,
      ring: new Map(),
      deltas: 0,
      lastKeyAt: 0,
      cache: new Map(),
    });
    this.streams = { progress: fresh('progress'), materials: fresh('materials') };
  }

  // ---- peers -------------------------------------------------------------------------------------------------

  addPeer(peer: Peer): void {
    this.sql.exec(
      'INSERT INTO udp_peers (peer_id, token, prev_token, expires_at, body) VALUES (?, ?, ?, ?, ?)',
      peer.peerId,
      peer.token,
      peer.prevToken,
      peer.expiresAt,
      JSON.stringify(peer),
    );
  }

  savePeer(peer: Peer): void {
    this.sql.exec(
      'UPDATE udp_peers SET token = ?, prev_token = ?, expires_at = ?, body = ? WHERE peer_id = ?',
      peer.token,
      peer.prevToken,
      peer.expiresAt,
      JSON.stringify(peer),
      peer.peerId,
    );
  }

  /** The peer holding `token` (current, or the previous one within its grace), or null. Forgets expired peers. */
  peerByToken(token: string, now: number): Peer | null {
    this.sql.exec('DELETE FROM udp_peers WHERE expires_at <= ?', now);
    const row = this.sql
      .exec<{ body: string }>('SELECT body FROM udp_peers WHERE token = ? OR prev_token = ? LIMIT 1', token, token)
      .toArray()[0];
    if (!row) return null;
    const peer = JSON.parse(row.body) as Peer;
    if (peer.token !== token && peer.prevExpiresAt <= now) return null;
    return peer;
  }

  peerCount(now: number): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM udp_peers WHERE expires_at > ?', now).one().n;
  }

  /** Rotates a peer's token once half its lifetime is gone; the old one stays valid for the other half. */
  rotate(peer: Peer, now: number, ttlMs: number): Peer {
    if (peer.expiresAt - now > ttlMs / 2) return peer;
    return { ...peer, prevToken: peer.token, prevExpiresAt: peer.expiresAt, token: randomToken(), expiresAt: now + ttlMs };
  }

  /** Bytes the downstream streams hold in memory (states in the ring as JSON, cached delta bodies): for metrics. */
  memoryBytes(): number {
    let n = 0;
    for (const stream of Object.values(this.streams)) {
      for (const state of stream.ring.values()) n += JSON.stringify(state).length;
      for (const body of stream.cache.values()) n += body.byteLength + 8;
      n += 32; // seq, counters, timestamps
    }
    return n;
  }

  // ---- downstream streams ------------------------------------------------------------------------------------

  seq(channel: Channel): number {
    return this.streams[channel].seq;
  }

  /** Moves a channel to `state`; returns true when it changed (a new seq). */
  update(channel: Channel, state: State): boolean {
    const s = this.streams[channel];
    if (same(s.state, state)) return false;
    s.seq += 1;
    s.state = state;
    s.ring.set(s.seq, state);
    if (s.ring.size > RING) s.ring.delete(s.ring.keys().next().value as number);
    s.cache.clear();
    this.sql.exec(
      'INSERT INTO udp_streams (channel, seq) VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET seq = excluded.seq',
      channel,
      s.seq,
    );
    return true;
  }

  /**
   * The packet for every reliable receiver (binary WebSocket watchers) after `update`: a delta from the previous
   * state, or a keyframe every `keyframeEvery` deltas or `keyframeMs`, whichever comes first.
   */
  broadcast(channel: Channel, now: number, keyframeEvery: number, keyframeMs: number): Downstream | null {
    const s = this.streams[channel];
    if (s.state === null) return null;
    const base = s.seq - 1;
    const forced = s.deltas + 1 >= keyframeEvery || now - s.lastKeyAt >= keyframeMs || !s.ring.has(base);
    if (forced) {
      s.deltas = 0;
      s.lastKeyAt = now;
      return this.keyframe(channel);
    }
    s.deltas += 1;
    return { flags: FLAG_DELTA, seq: s.seq, baseSeq: base, body: this.deltaBody(channel, base) };
  }

  /** The current full state of a channel (for a newcomer, after a reconnect, or when a base is unknown). */
  keyframe(channel: Channel): Downstream | null {
    const s = this.streams[channel];
    if (s.state === null) return null;
    const body =
      channel === 'progress'
        ? encodeProgressKeyframe(s.state as UdpProgressState)
        : encodeMaterialsKeyframe(s.state as Materials);
    return { flags: FLAG_KEYFRAME, seq: s.seq, baseSeq: 0, body };
  }

  /** The answer to a receiver that holds `baseSeq`: unchanged, a delta from it, or a keyframe (forced or needed). */
  answer(channel: Channel, baseSeq: number, peer: Peer, now: number): Downstream | null {
    const s = this.streams[channel];
    if (s.state === null) return null;
    if (baseSeq === s.seq && baseSeq !== 0) return { flags: FLAG_UNCHANGED, seq: s.seq, baseSeq, body: new Uint8Array(0) };
    const forced = peer.deltas[channel] + 1 >= peer.keyframeEvery || now - peer.lastKeyAt[channel] >= peer.keyframeMs;
    if (forced || !s.ring.has(baseSeq)) {
      peer.deltas[channel] = 0;
      peer.lastKeyAt[channel] = now;
      return this.keyframe(channel);
    }
    peer.deltas[channel] += 1;
    return { flags: FLAG_DELTA, seq: s.seq, baseSeq, body: this.deltaBody(channel, baseSeq) };
  }

  private deltaBody(channel: Channel, baseSeq: number): Uint8Array {
    const s = this.streams[channel];
    const cached = s.cache.get(baseSeq);
    if (cached) return cached;
    const base = s.ring.get(baseSeq) as State;
    const body =
      channel === 'progress'
        ? encodeProgressDelta(base as UdpProgressState, s.state as UdpProgressState)
        : encodeMaterialsDelta(materialsDiff(base as Materials, s.state as Materials));
    s.cache.set(baseSeq, body);
    return body;
  }
}

/** A downstream packet with its header (`token`: the receiver's next token, zeros on broadcasts). */
export function downstreamPacket(channel: Channel, d: Downstream, token: Uint8Array, now: number): Uint8Array {
  return encodePacket(
    { flags: d.flags, kind: CHANNEL_KIND[channel], seq: d.seq, baseSeq: d.baseSeq, timestamp: now, token },
    d.body,
  );
}

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
    const limit = this.host.budgets.spend(`udp|${peer.userId}`, { limit: UDP_PACKETS_PER_MINUTE, windowMs: 60_000 }, now);
    if (!limit.allowed) {
      return udpError('RATE_LIMIT_EXCEEDED', `More than ${UDP_PACKETS_PER_MINUTE} packets a minute`, 'rate_limited', {
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
