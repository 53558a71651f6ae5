/**
 * The "UDP" packet format of seed 002's crafting sync (`UdpPacketHeader`, `UdpProgressUpdate`,
 * `UdpMaterialUpdate`): one definition, used by the client library (`crafting-udp.ts`) and re-exported for the
 * server by `src/dialects/crafting-udp.ts` (the client may import nothing of the server, the server may import
 * this). Self-contained and pure: bytes in, values out. `docs/crafting-protocol.md` is the byte-by-byte
 * description a UE5 or mobile client implements.
 *
 * A packet is a 40-byte header (big-endian) and a bit-packed body:
 *
 *   0  u16  magic 0xC7AF           8  16B  session token (from `connect`, rotated)
 *   2  u8   version (1)           24  u32  seq (the sender's packet counter, from 1)
 *   3  u8   flags                 28  u32  baseSeq (the state the body is relative to; 0: none)
 *   4  u8   kind (1 progress,     32  u64  timestamp, ms since the Unix epoch
 *            2 materials)
 *   5  u8   reserved (0)
 *   6  u16  body length in bytes
 */

/**
 * Protocol constants: a material's wire index is its position here, a status's number its position in
 * `WIRE_STATUSES`. They equal the domain's `MATERIAL_IDS` and `SESSION_STATUSES` (a test holds them together);
 * new materials are only ever appended.
 */
export const WIRE_MATERIALS = [
  'iron_ore',
  'wood',
  'leather',
  'herb',
  'water',
  'crystal',
  'iron_ingot',
  'plank',
  'health_potion',
  'iron_sword',
  'leather_armor',
  'mana_crystal',
] as const;
export const WIRE_STATUSES = ['queued', 'running', 'paused', 'completed', 'cancelled', 'failed'] as const;
export type SessionStatus = (typeof WIRE_STATUSES)[number];
/** Materials by id. */
export type Materials = Record<string, number>;
const isMaterialId = (id: string): boolean => (WIRE_MATERIALS as readonly string[]).includes(id);
const MATERIAL_IDS = WIRE_MATERIALS;
const SESSION_STATUSES = WIRE_STATUSES;

export const UDP_MAGIC = 0xc7af;
export const UDP_VERSION = 1;
export const UDP_VERSIONS = [UDP_VERSION] as const;
export const HEADER_BYTES = 40;
export const TOKEN_BYTES = 16;
/** Negotiable packet sizes (the seed's 64 B..64 KB) and the default. */
export const MIN_PACKET_BYTES = 64;
export const MAX_PACKET_BYTES = 64 * 1024;
export const DEFAULT_PACKET_BYTES = 1200;

export const FLAG_KEYFRAME = 0x01;
export const FLAG_DELTA = 0x02;
/** Nothing changed since `baseSeq`: no body. */
export const FLAG_UNCHANGED = 0x04;
const KNOWN_FLAGS = FLAG_KEYFRAME | FLAG_DELTA | FLAG_UNCHANGED;

export const KIND_PROGRESS = 1;
export const KIND_MATERIALS = 2;
export type PacketKind = typeof KIND_PROGRESS | typeof KIND_MATERIALS;

export interface UdpPacketHeader {
  version: number;
  flags: number;
  kind: PacketKind;
  bodyLength: number;
  seq: number;
  baseSeq: number;
  timestamp: number;
  /** 16 bytes. */
  token: Uint8Array;
}

export interface UdpPacket {
  header: UdpPacketHeader;
  body: Uint8Array;
}

/** Why a packet was refused, as a stable snake_case issue. */
export type PacketIssue =
  | 'truncated'
  | 'bad_magic'
  | 'unsupported_version'
  | 'bad_flags'
  | 'bad_kind'
  | 'length_mismatch'
  | 'bad_seq'
  | 'bad_body';

export class PacketError extends Error {
  constructor(
    readonly issue: PacketIssue,
    message: string,
  ) {
    super(message);
    this.name = 'PacketError';
  }
}

// ---- header -----------------------------------------------------------------------------------------------

export function encodePacket(
  header: Omit<UdpPacketHeader, 'bodyLength' | 'version'> & { version?: number },
  body: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.byteLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, UDP_MAGIC);
  view.setUint8(2, header.version ?? UDP_VERSION);
  view.setUint8(3, header.flags);
  view.setUint8(4, header.kind);
  view.setUint8(5, 0);
  view.setUint16(6, body.byteLength);
  out.set(header.token.subarray(0, TOKEN_BYTES), 8);
  view.setUint32(24, header.seq >>> 0);
  view.setUint32(28, header.baseSeq >>> 0);
  view.setUint32(32, Math.floor(header.timestamp / 2 ** 32));
  view.setUint32(36, header.timestamp % 2 ** 32);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Parses and checks one packet; throws PacketError naming what is wrong. */
export function decodePacket(bytes: Uint8Array): UdpPacket {
  if (bytes.byteLength < HEADER_BYTES) throw new PacketError('truncated', `A packet has at least ${HEADER_BYTES} header bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== UDP_MAGIC) throw new PacketError('bad_magic', 'Not a crafting sync packet (magic 0xC7AF)');
  const version = view.getUint8(2);
  if (version !== UDP_VERSION)
    throw new PacketError('unsupported_version', `Unsupported version ${version}; this server speaks 1`);
  const flags = view.getUint8(3);
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & FLAG_KEYFRAME && flags & FLAG_DELTA)) {
    throw new PacketError('bad_flags', `Unknown or contradictory flags 0x${flags.toString(16)}`);
  }
  const kind = view.getUint8(4);
  if (kind !== KIND_PROGRESS && kind !== KIND_MATERIALS) throw new PacketError('bad_kind', `Unknown packet kind ${kind}`);
  const bodyLength = view.getUint16(6);
  if (HEADER_BYTES + bodyLength > bytes.byteLength)
    throw new PacketError('truncated', 'The body is shorter than the header says');
  if (HEADER_BYTES + bodyLength < bytes.byteLength) throw new PacketError('length_mismatch', 'Bytes after the body');
  const seq = view.getUint32(24);
  if (seq === 0) throw new PacketError('bad_seq', 'seq starts at 1');
  return {
    header: {
      version,
      flags,
      kind,
      bodyLength,
      seq,
      baseSeq: view.getUint32(28),
      timestamp: view.getUint32(32) * 2 ** 32 + view.getUint32(36),
      token: bytes.slice(8, 8 + TOKEN_BYTES),
    },
    body: bytes.subarray(HEADER_BYTES, HEADER_BYTES + bodyLength),
  };
}

// ---- bits -------------------------------------------------------------------------------------------------

/** Writes values MSB first into bytes; the last byte is zero-padded. */
export class BitWriter {
  private bytes: number[] = [];
  private bit = 0;

  write(value: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) {
      if (this.bit === 0) this.bytes.push(0);
      const b = Math.floor(value / 2 ** i) % 2;
      if (b) this.bytes[this.bytes.length - 1] = (this.bytes[this.bytes.length - 1] as number) | (0x80 >> this.bit);
      this.bit = (this.bit + 1) % 8;
    }
  }

  /** uvar: a 6-bit bit length L (0..53), then L bits of the value. */
  writeUvar(value: number): void {
    const length = value === 0 ? 0 : Math.floor(Math.log2(value)) + 1;
    this.write(length, 6);
    this.write(value, length);
  }

  /** svar: zigzag (0, -1, 1, -2, ... → 0, 1, 2, 3, ...) then uvar. */
  writeSvar(value: number): void {
    this.writeUvar(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export class BitReader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  read(width: number): number {
    if (this.pos + width > this.bytes.byteLength * 8) throw new PacketError('bad_body', 'Body ends in the middle of a field');
    let v = 0;
    for (let i = 0; i < width; i++) {
      const byte = this.bytes[(this.pos >> 3) as number] as number;
      v = v * 2 + ((byte >> (7 - (this.pos & 7))) & 1);
      this.pos += 1;
    }
    return v;
  }

  readUvar(): number {
    const length = this.read(6);
    if (length > 53) throw new PacketError('bad_body', 'uvar longer than 53 bits');
    return this.read(length);
  }

  readSvar(): number {
    const z = this.readUvar();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** Only zero padding may follow the last field. */
  end(): void {
    const total = this.bytes.byteLength * 8;
    if (total - this.pos >= 8) throw new PacketError('bad_body', 'Bytes after the last field');
    while (this.pos < total) if (this.read(1) !== 0) throw new PacketError('bad_body', 'Non-zero padding');
  }
}

// ---- UdpProgressUpdate ------------------------------------------------------------------------------------

/** The progress a sync packet carries: `CraftingProgressData` reduced to what changes at 20 Hz. */
export interface UdpProgressState {
  status: SessionStatus;
  stageIndex: number;
  stageCount: number;
  /** 0..65535 = 0..1 over the whole session. */
  progress: number;
  /** 0..65535 = 0..1 within the stage. */
  stageProgress: number;
  elapsedMs: number;
  remainingMs: number;
  /** 0..100, or null before completion (127 on the wire). */
  quality: number | null;
}

const NO_QUALITY = 127;
/** Field order: the bit of each field in a delta's 8-bit mask (bit 7 = field 0). */
const PROGRESS_FIELDS = [
  'status',
  'stageIndex',
  'stageCount',
  'progress',
  'stageProgress',
  'elapsedMs',
  'remainingMs',
  'quality',
] as const;

export const toFixed16 = (fraction: number): number => Math.round(Math.min(1, Math.max(0, fraction)) * 65535);

function writeProgressField(w: BitWriter, field: (typeof PROGRESS_FIELDS)[number], s: UdpProgressState): void {
  switch (field) {
    case 'status':
      w.write(SESSION_STATUSES.indexOf(s.status), 3);
      break;
    case 'stageIndex':
      w.write(s.stageIndex, 5);
      break;
    case 'stageCount':
      w.write(s.stageCount, 5);
      break;
    case 'progress':
      w.write(s.progress, 16);
      break;
    case 'stageProgress':
      w.write(s.stageProgress, 16);
      break;
    case 'elapsedMs':
      w.writeUvar(s.elapsedMs);
      break;
    case 'remainingMs':
      w.writeUvar(s.remainingMs);
      break;
    case 'quality':
      w.write(s.quality ?? NO_QUALITY, 7);
      break;
  }
}

function readStatus(r: BitReader): SessionStatus {
  const status = SESSION_STATUSES[r.read(3)];
  if (!status) throw new PacketError('bad_body', 'Unknown status');
  return status;
}

function readQuality(r: BitReader): number | null {
  const q = r.read(7);
  if (q === NO_QUALITY) return null;
  if (q > 100) throw new PacketError('bad_body', 'Quality above 100');
  return q;
}

/** The full state (keyframe body). */
export function encodeProgressKeyframe(s: UdpProgressState): Uint8Array {
  const w = new BitWriter();
  for (const f of PROGRESS_FIELDS) writeProgressField(w, f, s);
  return w.finish();
}

export function decodeProgressKeyframe(body: Uint8Array): UdpProgressState {
  const r = new BitReader(body);
  const s: UdpProgressState = {
    status: readStatus(r),
    stageIndex: r.read(5),
    stageCount: r.read(5),
    progress: r.read(16),
    stageProgress: r.read(16),
    elapsedMs: r.readUvar(),
    remainingMs: r.readUvar(),
    quality: readQuality(r),
  };
  r.end();
  return s;
}

/**
 * What changed from `base` to `next`: an 8-bit mask, then each changed field in order: enumerations (status,
 * stage index and count, quality) as their new value, numbers as the zigzag svar of their difference.
 */
export function encodeProgressDelta(base: UdpProgressState, next: UdpProgressState): Uint8Array {
  const w = new BitWriter();
  let mask = 0;
  PROGRESS_FIELDS.forEach((f, i) => {
    if (base[f] !== next[f]) mask |= 0x80 >> i;
  });
  w.write(mask, 8);
  PROGRESS_FIELDS.forEach((f, i) => {
    if (!(mask & (0x80 >> i))) return;
    if (f === 'progress' || f === 'stageProgress' || f === 'elapsedMs' || f === 'remainingMs') w.writeSvar(next[f] - base[f]);
    else writeProgressField(w, f, next);
  });
  return w.finish();
}

export function applyProgressDelta(base: UdpProgressState, body: Uint8Array): UdpProgressState {
  const r = new BitReader(body);
  const mask = r.read(8);
  const s: UdpProgressState = { ...base };
  PROGRESS_FIELDS.forEach((f, i) => {
    if (!(mask & (0x80 >> i))) return;
    switch (f) {
      case 'status':
        s.status = readStatus(r);
        break;
      case 'stageIndex':
        s.stageIndex = r.read(5);
        break;
      case 'stageCount':
        s.stageCount = r.read(5);
        break;
      case 'quality':
        s.quality = readQuality(r);
        break;
      default: {
        const v = s[f] + r.readSvar();
        const max = f === 'progress' || f === 'stageProgress' ? 65535 : Number.MAX_SAFE_INTEGER;
        if (v < 0 || v > max) throw new PacketError('bad_body', `${f} out of range after the delta`);
        s[f] = v;
      }
    }
  });
  r.end();
  return s;
}

// ---- UdpMaterialUpdate ------------------------------------------------------------------------------------

/** Materials by wire index (MATERIAL_IDS order), 6 bits each. */
const MATERIAL_INDEX_BITS = 6;

function materialIndex(id: string): number {
  const i = (MATERIAL_IDS as readonly string[]).indexOf(id);
  if (i < 0) throw new PacketError('bad_body', `Unknown material ${id}`);
  return i;
}

function materialAt(r: BitReader): string {
  const id = MATERIAL_IDS[r.read(MATERIAL_INDEX_BITS)];
  if (!id) throw new PacketError('bad_body', 'Unknown material index');
  return id;
}

/** Full state: an 8-bit count, then (index 6 bits, quantity uvar) per material held. */
export function encodeMaterialsKeyframe(m: Readonly<Materials>): Uint8Array {
  const entries = Object.entries(m).filter(([id, n]) => n > 0 && isMaterialId(id));
  const w = new BitWriter();
  w.write(entries.length, 8);
  for (const [id, n] of entries) {
    w.write(materialIndex(id), MATERIAL_INDEX_BITS);
    w.writeUvar(n);
  }
  return w.finish();
}

export function decodeMaterialsKeyframe(body: Uint8Array): Materials {
  const r = new BitReader(body);
  const count = r.read(8);
  const out: Materials = {};
  for (let i = 0; i < count; i++) {
    const id = materialAt(r);
    const n = r.readUvar();
    if (n > 0) out[id] = n;
  }
  r.end();
  return out;
}

/** Changes: an 8-bit count, then (index 6 bits, svar difference) per material that changed. */
export function encodeMaterialsDelta(changes: Readonly<Materials>): Uint8Array {
  const entries = Object.entries(changes).filter(([, n]) => n !== 0);
  const w = new BitWriter();
  w.write(entries.length, 8);
  for (const [id, n] of entries) {
    w.write(materialIndex(id), MATERIAL_INDEX_BITS);
    w.writeSvar(n);
  }
  return w.finish();
}

export function decodeMaterialsDelta(body: Uint8Array): Materials {
  const r = new BitReader(body);
  const count = r.read(8);
  const out: Materials = {};
  for (let i = 0; i < count; i++) {
    const id = materialAt(r);
    out[id] = (out[id] ?? 0) + r.readSvar();
  }
  r.end();
  return out;
}

export function materialsDiff(base: Readonly<Materials>, next: Readonly<Materials>): Materials {
  const out: Materials = {};
  for (const id of new Set([...Object.keys(base), ...Object.keys(next)])) {
    const d = (next[id] ?? 0) - (base[id] ?? 0);
    if (d !== 0) out[id] = d;
  }
  return out;
}

export function applyMaterialsDelta(base: Readonly<Materials>, body: Uint8Array): Materials {
  const out: Materials = { ...base };
  for (const [id, d] of Object.entries(decodeMaterialsDelta(body))) {
    const v = (out[id] ?? 0) + d;
    if (v < 0) throw new PacketError('bad_body', `${id} below zero after the delta`);
    if (v === 0) delete out[id];
    else out[id] = v;
  }
  return out;
}

// ---- tokens -----------------------------------------------------------------------------------------------

export const tokenToHex = (t: Uint8Array): string => [...t].map((b) => b.toString(16).padStart(2, '0')).join('');

export function tokenFromHex(hex: string): Uint8Array | null {
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  const out = new Uint8Array(TOKEN_BYTES);
  for (let i = 0; i < TOKEN_BYTES; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
