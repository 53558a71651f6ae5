import { describe, expect, it } from 'vitest';
import {
  applyMaterialsDelta,
  applyProgressDelta,
  BitReader,
  BitWriter,
  decodeMaterialsKeyframe,
  decodePacket,
  decodeProgressKeyframe,
  encodeMaterialsDelta,
  encodeMaterialsKeyframe,
  encodePacket,
  encodeProgressDelta,
  encodeProgressKeyframe,
  FLAG_DELTA,
  HEADER_BYTES,
  KIND_MATERIALS,
  materialsDiff,
  PacketError,
  type UdpProgressState,
  WIRE_MATERIALS,
  WIRE_STATUSES,
} from '../../src/dialects/crafting-udp';
import { MATERIAL_IDS, SESSION_STATUSES } from '../../src/domain/crafting';

const state: UdpProgressState = {
  status: 'running',
  stageIndex: 1,
  stageCount: 3,
  progress: 30_000,
  stageProgress: 12_345,
  elapsedMs: 7_000,
  remainingMs: 8_000,
  quality: null,
};

const issueOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof PacketError) return err.issue;
    throw err;
  }
  throw new Error('expected a PacketError');
};

describe('protocol constants', () => {
  it("the wire's material indexes and status numbers are the domain's lists, in order", () => {
    expect([...WIRE_MATERIALS]).toEqual([...MATERIAL_IDS]);
    expect([...WIRE_STATUSES]).toEqual([...SESSION_STATUSES]);
  });
});

describe('bit packing', () => {
  it('writes and reads fixed widths, uvar and zigzag svar, MSB first', () => {
    const w = new BitWriter();
    w.write(5, 3);
    w.writeUvar(0);
    w.writeUvar(1_234_567);
    w.writeSvar(-50);
    w.writeSvar(50);
    w.write(1, 1);
    const r = new BitReader(w.finish());
    expect([r.read(3), r.readUvar(), r.readUvar(), r.readSvar(), r.readSvar(), r.read(1)]).toEqual([5, 0, 1_234_567, -50, 50, 1]);
    r.end();
    expect(issueOf(() => new BitReader(new Uint8Array([0xff])).read(9))).toBe('bad_body');
  });
});

describe('UdpProgressUpdate', () => {
  it('round-trips a keyframe in a few bytes', () => {
    const body = encodeProgressKeyframe(state);
    expect(body.byteLength).toBeLessThanOrEqual(12);
    expect(decodeProgressKeyframe(body)).toEqual(state);
    expect(decodeProgressKeyframe(encodeProgressKeyframe({ ...state, status: 'completed', quality: 88 }))).toMatchObject({
      quality: 88,
    });
  });

  it('a 20 Hz delta is smaller than the keyframe and applies back exactly', () => {
    const next = { ...state, progress: 30_546, stageProgress: 12_891, elapsedMs: 7_050, remainingMs: 7_950 };
    const delta = encodeProgressDelta(state, next);
    expect(delta.byteLength).toBeLessThan(encodeProgressKeyframe(next).byteLength);
    expect(applyProgressDelta(state, delta)).toEqual(next);
    expect(encodeProgressDelta(state, state)).toEqual(new Uint8Array([0]));
    const staged = { ...next, stageIndex: 2, status: 'paused' as const };
    expect(applyProgressDelta(state, encodeProgressDelta(state, staged))).toEqual(staged);
  });

  it('refuses bodies that end early, carry extra bytes or push a field out of range', () => {
    const body = encodeProgressKeyframe(state);
    expect(issueOf(() => decodeProgressKeyframe(body.slice(0, 4)))).toBe('bad_body');
    expect(issueOf(() => decodeProgressKeyframe(new Uint8Array([...body, 0, 0])))).toBe('bad_body');
    const w = new BitWriter();
    w.write(0x10, 8); // progress changed
    w.writeSvar(-40_000);
    expect(issueOf(() => applyProgressDelta(state, w.finish()))).toBe('bad_body');
  });
});

describe('UdpMaterialUpdate', () => {
  it('round-trips keyframes and deltas by material index', () => {
    const a = { iron_ore: 10, wood: 3 };
    const b = { iron_ore: 8, wood: 3, plank: 2 };
    expect(decodeMaterialsKeyframe(encodeMaterialsKeyframe(a))).toEqual(a);
    const delta = encodeMaterialsDelta(materialsDiff(a, b));
    expect(delta.byteLength).toBeLessThanOrEqual(5); // 8 + 2 × (6 + 6 + ≤ 4) bits
    expect(applyMaterialsDelta(a, delta)).toEqual(b);
    expect(issueOf(() => applyMaterialsDelta({}, encodeMaterialsDelta({ wood: -1 })))).toBe('bad_body');
    expect(issueOf(() => decodeMaterialsKeyframe(new Uint8Array([1, 0xfc])))).toBe('bad_body');
  });
});

describe('UdpPacketHeader', () => {
  const token = new Uint8Array(16).fill(9);
  it('round-trips every field', () => {
    const bytes = encodePacket(
      { flags: FLAG_DELTA, kind: KIND_MATERIALS, seq: 70_000, baseSeq: 69_999, timestamp: 1_764_000_000_123, token },
      new Uint8Array([1, 2]),
    );
    expect(bytes.byteLength).toBe(HEADER_BYTES + 2);
    const p = decodePacket(bytes);
    expect(p.header).toMatchObject({
      version: 1,
      flags: FLAG_DELTA,
      kind: KIND_MATERIALS,
      seq: 70_000,
      baseSeq: 69_999,
      timestamp: 1_764_000_000_123,
      bodyLength: 2,
    });
    expect(p.header.token).toEqual(token);
    expect([...p.body]).toEqual([1, 2]);
  });

  it('names what is wrong with a bad packet', () => {
    const good = encodePacket({ flags: 0, kind: 1, seq: 1, baseSeq: 0, timestamp: 1, token }, new Uint8Array(0));
    const bad = (patch: (b: Uint8Array) => void) => {
      const b = good.slice();
      patch(b);
      return issueOf(() => decodePacket(b));
    };
    expect(issueOf(() => decodePacket(good.slice(0, 39)))).toBe('truncated');
    expect(bad((b) => (b[0] = 0x43))).toBe('bad_magic');
    expect(bad((b) => (b[2] = 9))).toBe('unsupported_version');
    expect(bad((b) => (b[3] = 0x03))).toBe('bad_flags');
    expect(bad((b) => (b[3] = 0x80))).toBe('bad_flags');
    expect(bad((b) => (b[4] = 7))).toBe('bad_kind');
    expect(bad((b) => (b[7] = 1))).toBe('truncated');
    expect(issueOf(() => decodePacket(new Uint8Array([...good, 0])))).toBe('length_mismatch');
    expect(bad((b) => (b[27] = 0))).toBe('bad_seq');
  });
});
