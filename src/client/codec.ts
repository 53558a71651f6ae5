import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';

/** JSON text frames or MessagePack binary frames: the same envelope either way (issue 3, "Codecs"). */
export type CodecName = 'json' | 'msgpack';

export function encodeFrame(frame: unknown, codec: CodecName): string | Uint8Array {
  return codec === 'msgpack' ? msgpackEncode(frame) : JSON.stringify(frame);
}

/**
 * Decodes what a socket delivered, whatever the runtime handed over: text is JSON, bytes are MessagePack
 * (a server answers in the codec it was asked for, but reading by frame kind is what never guesses wrong).
 * Throws on a malformed frame; the caller reports it and keeps the connection.
 */
export async function decodeFrame(data: unknown): Promise<unknown> {
  if (typeof data === 'string') return JSON.parse(data);
  if (data instanceof ArrayBuffer) return msgpackDecode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return msgpackDecode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (typeof Blob !== 'undefined' && data instanceof Blob) return msgpackDecode(new Uint8Array(await data.arrayBuffer()));
  throw new TypeError('Unsupported frame data');
}
