/**
 * Engine.IO v4 framing (https://socket.io/docs/v4/engine-io-protocol/), checked against the reference server's
 * `engine.io-parser`: a packet is its type digit then its data; binary messages travel as raw WebSocket frames, or
 * as `b` + base64 inside an HTTP long-polling payload, whose packets are joined by the record separator `\x1e`.
 * Pure: no Workers API. (engine.io-parser's browser build needs `FileReader`, which workerd lacks.)
 */

export const ENGINE_IO_PROTOCOL = 4;
export const RECORD_SEPARATOR = '\x1e';

export const PACKET_TYPES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'] as const;
export type EnginePacketType = (typeof PACKET_TYPES)[number];

export interface EnginePacket {
  type: EnginePacketType;
  /** Text, or the bytes of a binary `message`. */
  data?: string | Uint8Array;
}

/** The handshake the server sends first (`0{...}`). */
export interface OpenPayload {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

/** The reference server's error codes for refused transport requests (`{code, message}` JSON, status 400). */
export const ENGINE_ERRORS = {
  UNKNOWN_TRANSPORT: { code: 0, message: 'Transport unknown' },
  UNKNOWN_SID: { code: 1, message: 'Session ID unknown' },
  BAD_HANDSHAKE_METHOD: { code: 2, message: 'Bad handshake method' },
  BAD_REQUEST: { code: 3, message: 'Bad request' },
  FORBIDDEN: { code: 4, message: 'Forbidden' },
  UNSUPPORTED_PROTOCOL_VERSION: { code: 5, message: 'Unsupported protocol version' },
} as const;
export type EngineError = (typeof ENGINE_ERRORS)[keyof typeof ENGINE_ERRORS];

const typeIndex = (type: EnginePacketType): number => PACKET_TYPES.indexOf(type);

/** One packet as text: `<digit><data>`, binary data as `b<base64>` (polling only). */
export function encodeText(packet: EnginePacket): string {
  if (packet.data instanceof Uint8Array) return `b${toBase64(packet.data)}`;
  return `${typeIndex(packet.type)}${packet.data ?? ''}`;
}

/** One packet as a WebSocket frame: binary messages go as raw bytes. */
export function encodeFrame(packet: EnginePacket): string | Uint8Array {
  if (packet.data instanceof Uint8Array) return packet.data;
  return encodeText(packet);
}

/** A polling payload: the packets' text forms joined by the record separator. */
export function encodePayload(packets: readonly EnginePacket[]): string {
  return packets.map(encodeText).join(RECORD_SEPARATOR);
}

/** One text packet; null when it is not a packet (unknown type, bad base64). */
export function decodeText(text: string): EnginePacket | null {
  if (text.length === 0) return null;
  if (text[0] === 'b') {
    const bytes = fromBase64(text.slice(1));
    return bytes ? { type: 'message', data: bytes } : null;
  }
  const type = PACKET_TYPES[Number(text[0])];
  if (type === undefined || !/^[0-6]$/.test(text[0] ?? '')) return null;
  return text.length > 1 ? { type, data: text.slice(1) } : { type };
}

/** One WebSocket frame: text is a packet, binary is a binary `message`. */
export function decodeFrame(frame: string | ArrayBuffer): EnginePacket | null {
  if (typeof frame === 'string') return decodeText(frame);
  return { type: 'message', data: new Uint8Array(frame) };
}

/** A polling POST body; null when any packet in it is malformed (the protocol closes the session then). */
export function decodePayload(body: string): EnginePacket[] | null {
  const packets: EnginePacket[] = [];
  for (const part of body.split(RECORD_SEPARATOR)) {
    const packet = decodeText(part);
    if (!packet) return null;
    packets.push(packet);
  }
  return packets;
}

export const openPacket = (open: OpenPayload): EnginePacket => ({ type: 'open', data: JSON.stringify(open) });

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array | null {
  try {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
