/**
 * Client library for seed 002's UDP-style crafting sync (format: src/dialects/crafting-udp.ts,
 * docs/crafting-protocol.md). Works in browsers, Node >= 20 and Workers.
 *
 *   const sync = new CraftingSyncClient({ baseUrl, sessionId, tenantId, token: accessToken });
 *   await sync.connect({ keyframeInterval: 20 });
 *   const r = await sync.poll('progress');        // one datagram: ask, apply the answer
 *   sync.state.progress                            // UdpProgressState, newest applied
 *
 * `SyncReceiver` alone applies packets from any transport (HTTP answers, binary WebSocket frames): a keyframe
 * replaces the state, a delta applies only on the base it names, anything else is ignored until the next keyframe.
 */

import {
  applyMaterialsDelta,
  applyProgressDelta,
  decodeMaterialsKeyframe,
  decodePacket,
  decodeProgressKeyframe,
  encodeMaterialsDelta,
  encodePacket,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  KIND_MATERIALS,
  KIND_PROGRESS,
  type Materials,
  TOKEN_BYTES,
  tokenFromHex,
  tokenToHex,
  type UdpPacketHeader,
  type UdpProgressState,
} from './crafting-wire';

export {
  decodePacket,
  encodeMaterialsDelta,
  encodePacket,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  KIND_MATERIALS,
  KIND_PROGRESS,
  type UdpPacketHeader,
  type UdpProgressState,
};

export type SyncChannel = 'progress' | 'materials';

export interface SyncState {
  progress: UdpProgressState | null;
  progressSeq: number;
  materials: Materials | null;
  materialsSeq: number;
}

/** What applying one packet did. */
export type Applied =
  | { applied: true; channel: SyncChannel; kind: 'keyframe' | 'delta' | 'unchanged'; seq: number }
  | { applied: false; channel: SyncChannel; reason: 'base_missing' | 'stale'; seq: number };

/** Applies downstream packets to a state; transport-agnostic. */
export class SyncReceiver {
  state: SyncState = { progress: null, progressSeq: 0, materials: null, materialsSeq: 0 };
  /** The newest non-zero token a packet carried (HTTP answers carry the peer's next token). */
  token: Uint8Array | null = null;

  apply(bytes: Uint8Array): Applied {
    const { header, body } = decodePacket(bytes);
    if (header.token.some((b) => b !== 0)) this.token = header.token;
    const channel: SyncChannel = header.kind === KIND_MATERIALS ? 'materials' : 'progress';
    const current = channel === 'progress' ? this.state.progressSeq : this.state.materialsSeq;
    if (header.seq < current) return { applied: false, channel, reason: 'stale', seq: header.seq };
    if (header.flags & FLAG_UNCHANGED) return { applied: true, channel, kind: 'unchanged', seq: header.seq };
    if (header.flags & FLAG_KEYFRAME) {
      if (channel === 'progress') this.state = { ...this.state, progress: decodeProgressKeyframe(body), progressSeq: header.seq };
      else this.state = { ...this.state, materials: decodeMaterialsKeyframe(body), materialsSeq: header.seq };
      return { applied: true, channel, kind: 'keyframe', seq: header.seq };
    }
    // A delta applies only to the exact state it was encoded against: otherwise wait for the next keyframe.
    if (header.baseSeq !== current || current === 0) return { applied: false, channel, reason: 'base_missing', seq: header.seq };
    if (channel === 'progress') {
      this.state = {
        ...this.state,
        progress: applyProgressDelta(this.state.progress as UdpProgressState, body),
        progressSeq: header.seq,
      };
    } else {
      this.state = { ...this.state, materials: applyMaterialsDelta(this.state.materials ?? {}, body), materialsSeq: header.seq };
    }
    return { applied: true, channel, kind: 'delta', seq: header.seq };
  }

  /** Forgets everything (after a reconnect the server sends keyframes again). */
  reset(): void {
    this.state = { progress: null, progressSeq: 0, materials: null, materialsSeq: 0 };
  }
}

export interface ConnectParameters {
  version?: number;
  maxPacketSize?: number;
  keyframeInterval?: number;
  keyframeIntervalMs?: number;
}

export interface Negotiated {
  peerId: string;
  sessionToken: string;
  tokenExpiresAt: string;
  tokenTtlMs: number;
  version: number;
  maxPacketSize: number;
  keyframeInterval: number;
  keyframeIntervalMs: number;
  headerBytes: number;
  tickHz: number;
}

export interface SyncClientOptions {
  baseUrl: string;
  sessionId: string;
  tenantId: string;
  /** Access token for `connect` (packets authenticate with the session token alone). */
  token: string;
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

/** One peer of the sync over HTTP: connect, then one datagram per `poll` (or `send`). */
export class CraftingSyncClient {
  readonly receiver = new SyncReceiver();
  negotiated: Negotiated | null = null;
  private seq = 0;
  private readonly doFetch: (input: string, init?: RequestInit) => Promise<Response>;

  constructor(private readonly options: SyncClientOptions) {
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  get state(): SyncState {
    return this.receiver.state;
  }

  private url(path: string): string {
    return `${this.options.baseUrl}/udp/sessions/${encodeURIComponent(this.options.sessionId)}/${path}`;
  }

  async connect(params: ConnectParameters = {}): Promise<Negotiated> {
    const res = await this.doFetch(this.url('connect'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as Negotiated & { error?: string; message?: string };
    if (!res.ok) throw new Error(`connect failed: ${res.status} ${body.error ?? ''} ${body.message ?? ''}`.trim());
    this.negotiated = body;
    this.receiver.reset();
    this.receiver.token = tokenFromHex(body.sessionToken);
    return body;
  }

  /** Encodes the next upstream packet of `channel` (the base is the state this client holds). */
  packet(channel: SyncChannel, body: Uint8Array = new Uint8Array(0), flags = 0): Uint8Array {
    const token = this.receiver.token ?? new Uint8Array(TOKEN_BYTES);
    this.seq += 1;
    return encodePacket(
      {
        flags,
        kind: channel === 'progress' ? KIND_PROGRESS : KIND_MATERIALS,
        seq: this.seq,
        baseSeq: channel === 'progress' ? this.state.progressSeq : this.state.materialsSeq,
        timestamp: Date.now(),
        token,
      },
      body,
    );
  }

  /** Sends raw packet bytes; applies the answer unless `apply` is false (a test dropping answers on purpose). */
  async send(
    channel: SyncChannel,
    bytes: Uint8Array,
    apply = true,
  ): Promise<{ status: number; applied?: Applied; dropped?: string; answer?: Uint8Array; error?: unknown }> {
    const res = await this.doFetch(this.url(channel), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-tenant-id': this.options.tenantId },
      body: new Uint8Array(bytes), // an ArrayBuffer-backed copy: what BodyInit accepts in every runtime
    });
    if (res.status === 202) return { status: 202, dropped: res.headers.get('x-udp-drop') ?? 'dropped' };
    if (!res.ok) return { status: res.status, error: await res.json().catch(() => null) };
    const answer = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, answer, ...(apply ? { applied: this.receiver.apply(answer) } : {}) };
  }

  /** One datagram asking for `channel` from the state held; the answer is applied. */
  poll(channel: SyncChannel, apply = true) {
    return this.send(channel, this.packet(channel), apply);
  }

  /** A service or admin peer pushing material changes (positive grants, negative takes). */
  pushMaterials(changes: Materials) {
    return this.send('materials', this.packet('materials', encodeMaterialsDelta(changes), FLAG_DELTA));
  }

  get sessionToken(): string | null {
    return this.receiver.token ? tokenToHex(this.receiver.token) : null;
  }
}
