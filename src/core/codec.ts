import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { compress as lz4Compress } from 'lz4js';
import { jsonTextDepth, MAX_NESTING_DEPTH, tooDeepMessage, valueDeeperThan } from './depth';
import type { Codec } from './protocol';

/** What a codec made of one incoming frame. */
export type Decoded = { ok: true; value: unknown; codec: Codec } | { ok: false; codec: Codec; reason: string };

const encoder = new TextEncoder();

/** True when a frame is larger than `maxBytes` on the wire (UTF-8 for text), encoding only when it could matter. */
export function exceedsBytes(message: string | ArrayBuffer | ArrayBufferView, maxBytes: number): boolean {
  if (typeof message !== 'string') return message.byteLength > maxBytes;
  // A UTF-16 unit is at least 1 and at most 3 UTF-8 bytes.
  if (message.length > maxBytes) return true;
  if (message.length * 3 <= maxBytes) return false;
  return encoder.encode(message).byteLength > maxBytes;
}

/**
 * Text frames are JSON, binary frames are MessagePack: the frame itself says which codec the client speaks.
 * A frame nested deeper than `MAX_NESTING_DEPTH` is refused here, like a malformed one (the ingress guard).
 */
export function decodeFrame(message: string | ArrayBuffer | ArrayBufferView): Decoded {
  if (typeof message === 'string') {
    if (jsonTextDepth(message) > MAX_NESTING_DEPTH) return { ok: false, codec: 'json', reason: tooDeepMessage() };
    try {
      return { ok: true, value: JSON.parse(message), codec: 'json' };
    } catch {
      return { ok: false, codec: 'json', reason: 'Malformed JSON frame' };
    }
  }
  try {
    const bytes =
      message instanceof ArrayBuffer
        ? new Uint8Array(message)
        : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    const value = msgpackDecode(bytes);
    if (valueDeeperThan(value)) return { ok: false, codec: 'msgpack', reason: tooDeepMessage() };
    return { ok: true, value, codec: 'msgpack' };
  } catch {
    return { ok: false, codec: 'msgpack', reason: 'Malformed MessagePack frame' };
  }
}

/**
 * Frames of the `lz4` codec larger than this (UTF-8 JSON bytes) go out as one binary LZ4 frame; smaller ones stay
 * JSON text, where compression would cost more than it saves.
 */
export const LZ4_THRESHOLD_BYTES = 512;

/**
 * A frame serialized as JSON once and sent to many connections (the Chunk's movement tick): the text codecs send
 * the text as it is, MessagePack encodes what it parses to.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/** Encodes one outgoing frame; undefined fields are dropped in every codec so the envelopes match. */
export function encodeFrame(codec: Codec, frame: unknown): string | Uint8Array {
  const pre = frame instanceof JsonText ? frame.text : null;
  if (codec === 'msgpack') return msgpackEncode(pre === null ? frame : JSON.parse(pre), { ignoreUndefined: true });
  const text = pre ?? JSON.stringify(frame);
  if (codec === 'lz4' && text.length > LZ4_THRESHOLD_BYTES / 3) {
    const bytes = encoder.encode(text);
    if (bytes.byteLength > LZ4_THRESHOLD_BYTES) return lz4Compress(bytes);
  }
  return text;
}

export const parseCodec = (value: string | null | undefined): Codec =>
  value === 'msgpack' ? 'msgpack' : value === 'lz4' ? 'lz4' : 'json';
