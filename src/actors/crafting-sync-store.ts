import {
  encodeMaterialsDelta,
  encodeMaterialsKeyframe,
  encodePacket,
  encodeProgressDelta,
  encodeProgressKeyframe,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  KIND_MATERIALS,
  KIND_PROGRESS,
  materialsDiff,
  type PacketKind,
  TOKEN_BYTES,
  tokenToHex,
  type UdpProgressState,
} from '../dialects/crafting-udp';
import type { Materials } from '../domain/crafting';

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
/**
 * Sequence numbers are reserved in blocks: SQLite holds the highest seq a stream may have sent, written once per
 * block instead of on every 20 Hz update. A write in the turn that sends would hold the send until it commits (the
 * output gate), so the tick and the material notice send without one; after a restart the stream continues past the
 * reservation, so no seq is ever reused.
 */
const SEQ_BLOCK = 1_024;
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
  /** Highest seq saved in SQLite as reserved: `seq` may reach it without a write. */
  reserved: number;
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
      reserved: seqs.get(c) ?? 0,
      state: null,
      ring: new Map(),
      deltas: 0,
      lastKeyAt: 0,
      cache: new Map(),
    });
    this.streams = { progress: fresh('progress'), materials: fresh('materials') };
  }

  // ---- peers -------------------------------------------------------------------------------------------------

  /** Adds a peer and forgets expired ones (here, not on the packet path: a write there would delay its answer). */
  addPeer(peer: Peer): void {
    this.sql.exec('DELETE FROM udp_peers WHERE expires_at <= ?', Date.now());
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

  /** The peer holding `token` (current, or the previous one within its grace) and not expired, or null. */
  peerByToken(token: string, now: number): Peer | null {
    const row = this.sql
      .exec<{ body: string }>(
        'SELECT body FROM udp_peers WHERE (token = ? OR prev_token = ?) AND expires_at > ? LIMIT 1',
        token,
        token,
        now,
      )
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
    if (s.seq > s.reserved) {
      s.reserved = s.seq + SEQ_BLOCK - 1;
      this.sql.exec(
        'INSERT INTO udp_streams (channel, seq) VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET seq = excluded.seq',
        channel,
        s.reserved,
      );
    }
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
