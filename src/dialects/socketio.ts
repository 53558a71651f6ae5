/**
 * Socket.IO v5 packets (https://socket.io/docs/v4/socket-io-protocol/) over Engine.IO `message` packets, checked
 * against the reference `socket.io-parser` (4.2): `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`, binary
 * values replaced by `{_placeholder: true, num}` and sent as the following binary messages, and the same payload
 * rules (`isPayloadValid`): CONNECT carries an object, DISCONNECT nothing, EVENT an array whose first element is a
 * non-reserved event name, ACK an array. Pure: no Workers API, no state (a packet waiting for its attachments is
 * the caller's to keep).
 */

import { ApiError } from '../errors';

export const PACKET = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type PacketType = (typeof PACKET)[keyof typeof PACKET];

/** Event names with a meaning of their own in the client or server libraries; never valid on the wire. */
export const RESERVED_EVENTS = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'];

/** The reference decoder's default bound on attachments per packet. */
export const MAX_ATTACHMENTS = 10;

export interface SocketPacket {
  type: PacketType;
  nsp: string;
  id?: number;
  data?: unknown;
  /** Binary packets: how many binary messages follow. */
  attachments?: number;
}

/**
 * A malformed packet: the project's one error (`INVALID_REQUEST`), marked so the Socket.IO layer can tell it from
 * a failure of its own and close the session with `parse error`, as the protocol asks.
 */
export class PacketError extends ApiError {
  constructor(message: string) {
    super('INVALID_REQUEST', message);
  }
}

// ---- encoding ---------------------------------------------------------------------------------------------

const isBinary = (v: unknown): v is Uint8Array | ArrayBuffer => v instanceof Uint8Array || v instanceof ArrayBuffer;

function hasBinary(value: unknown, depth = 0): boolean {
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  if (isBinary(value) || ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) return value.some((v) => hasBinary(v, depth + 1));
  return Object.values(value).some((v) => hasBinary(v, depth + 1));
}

function deconstruct(value: unknown, buffers: Uint8Array[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isBinary(value)) {
    buffers.push(value instanceof Uint8Array ? value : new Uint8Array(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (ArrayBuffer.isView(value)) {
    buffers.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = deconstruct(v, buffers);
  return out;
}

/**
 * A packet as Engine.IO messages: its text, then one binary message per attachment. EVENT and ACK with binary
 * anywhere in their data become BINARY_EVENT and BINARY_ACK.
 */
export function encodePacket(packet: SocketPacket): Array<string | Uint8Array> {
  let { type, data } = packet;
  const buffers: Uint8Array[] = [];
  if ((type === PACKET.EVENT || type === PACKET.ACK) && hasBinary(data)) {
    type = type === PACKET.EVENT ? PACKET.BINARY_EVENT : PACKET.BINARY_ACK;
    data = deconstruct(data, buffers);
  }
  let text = String(type);
  if (type === PACKET.BINARY_EVENT || type === PACKET.BINARY_ACK) text += `${buffers.length}-`;
  if (packet.nsp && packet.nsp !== '/') text += `${packet.nsp},`;
  if (packet.id !== undefined) text += String(packet.id);
  if (data !== undefined) text += JSON.stringify(data);
  return [text, ...buffers];
}

// ---- decoding ---------------------------------------------------------------------------------------------

const isObject = (v: unknown): boolean => Object.prototype.toString.call(v) === '[object Object]';

function payloadValid(type: PacketType, payload: unknown): boolean {
  switch (type) {
    case PACKET.CONNECT:
      return payload === undefined || isObject(payload);
    case PACKET.DISCONNECT:
      return payload === undefined;
    case PACKET.CONNECT_ERROR:
      return typeof payload === 'string' || isObject(payload);
    case PACKET.EVENT:
    case PACKET.BINARY_EVENT:
      return (
        Array.isArray(payload) &&
        (typeof payload[0] === 'number' || (typeof payload[0] === 'string' && !RESERVED_EVENTS.includes(payload[0])))
      );
    case PACKET.ACK:
    case PACKET.BINARY_ACK:
      return Array.isArray(payload);
  }
}

/** One text message as a packet (binary packets still hold placeholders). Throws `PacketError` when malformed. */
export function decodePacket(text: string): SocketPacket {
  let i = 0;
  const type = Number(text.charAt(0));
  if (!/^[0-6]$/.test(text.charAt(0))) throw new PacketError(`unknown packet type ${text.charAt(0)}`);
  const packet: SocketPacket = { type: type as PacketType, nsp: '/' };

  if (type === PACKET.BINARY_EVENT || type === PACKET.BINARY_ACK) {
    const dash = text.indexOf('-', 1);
    const count = dash > 1 ? text.slice(1, dash) : '';
    if (!/^\d{1,3}$/.test(count)) throw new PacketError('illegal attachments');
    const n = Number(count);
    if (n > MAX_ATTACHMENTS) throw new PacketError('too many attachments');
    packet.attachments = n;
    i = dash;
  }

  if (text.charAt(i + 1) === '/') {
    const comma = text.indexOf(',', i + 1);
    const end = comma === -1 ? text.length : comma;
    packet.nsp = text.slice(i + 1, end);
    i = end;
  }

  const idMatch = /^\d+/.exec(text.slice(i + 1));
  if (idMatch) {
    const id = Number(idMatch[0]);
    if (!Number.isSafeInteger(id)) throw new PacketError('invalid ack id');
    packet.id = id;
    i += idMatch[0].length;
  }

  const rest = text.slice(i + 1);
  if (rest.length > 0) {
    let payload: unknown;
    try {
      payload = JSON.parse(rest);
    } catch {
      throw new PacketError('invalid payload');
    }
    if (!payloadValid(packet.type, payload)) throw new PacketError('invalid payload');
    packet.data = payload;
  } else if (packet.type === PACKET.EVENT || packet.type === PACKET.BINARY_EVENT || packet.type === PACKET.ACK) {
    throw new PacketError('invalid payload');
  }
  return packet;
}

/** Puts the received attachments in place of their placeholders. Throws `PacketError` on a bad index. */
export function reconstructPacket(packet: SocketPacket, buffers: Uint8Array[]): SocketPacket {
  const fill = (value: unknown, depth: number): unknown => {
    if (depth > 64 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => fill(v, depth + 1));
    const rec = value as Record<string, unknown>;
    if (rec._placeholder === true) {
      const num = rec.num;
      if (typeof num === 'number' && Number.isInteger(num) && num >= 0 && num < buffers.length) return buffers[num];
      throw new PacketError('illegal attachments');
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rec)) out[k] = fill(v, depth + 1);
    return out;
  };
  const type = packet.type === PACKET.BINARY_EVENT ? PACKET.EVENT : packet.type === PACKET.BINARY_ACK ? PACKET.ACK : packet.type;
  const { attachments: _attachments, ...rest } = packet;
  return { ...rest, type, data: fill(packet.data, 0) };
}

// ---- the packets a server sends ---------------------------------------------------------------------------

export const connectPacket = (nsp: string, data: { sid: string; pid?: string }): SocketPacket => ({
  type: PACKET.CONNECT,
  nsp,
  data,
});

export const connectErrorPacket = (nsp: string, message: string, data?: unknown): SocketPacket => ({
  type: PACKET.CONNECT_ERROR,
  nsp,
  data: data === undefined ? { message } : { message, data },
});

export const eventPacket = (nsp: string, event: string, args: unknown[]): SocketPacket => ({
  type: PACKET.EVENT,
  nsp,
  data: [event, ...args],
});

export const ackPacket = (nsp: string, id: number, args: unknown[]): SocketPacket => ({ type: PACKET.ACK, nsp, id, data: args });

export const disconnectPacket = (nsp: string): SocketPacket => ({ type: PACKET.DISCONNECT, nsp });
