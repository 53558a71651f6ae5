import { describe, expect, it } from 'vitest';
import { decodeFrame, decodePayload, decodeText, encodeFrame, encodePayload, encodeText } from '../../src/dialects/engineio';
import { decodePacket, encodePacket, PACKET, PacketError, reconstructPacket } from '../../src/dialects/socketio';
import { homeShard, shardCount, shardOfId } from '../../src/domain/hub';

describe('Engine.IO v4 framing', () => {
  it('encodes packets as their type digit and data, binary as b+base64 in payloads and raw in frames', () => {
    expect(encodeText({ type: 'open', data: '{"sid":"x"}' })).toBe('0{"sid":"x"}');
    expect(encodeText({ type: 'ping' })).toBe('2');
    expect(encodeText({ type: 'pong', data: 'probe' })).toBe('3probe');
    expect(encodeText({ type: 'message', data: 'hello' })).toBe('4hello');
    expect(encodeText({ type: 'noop' })).toBe('6');
    expect(encodeText({ type: 'message', data: Uint8Array.from([1, 2, 3, 4]) })).toBe('bAQIDBA==');
    expect(encodeFrame({ type: 'message', data: Uint8Array.from([1, 2]) })).toEqual(Uint8Array.from([1, 2]));
    expect(
      encodePayload([
        { type: 'message', data: 'a' },
        { type: 'message', data: Uint8Array.from([1, 2, 3, 4]) },
      ]),
    ).toBe('4a\x1ebAQIDBA==');
  });

  it('decodes payloads split on the record separator and binary frames', () => {
    expect(decodePayload('4test1\x1e4test2\x1ebAQIDBA==')).toEqual([
      { type: 'message', data: 'test1' },
      { type: 'message', data: 'test2' },
      { type: 'message', data: Uint8Array.from([1, 2, 3, 4]) },
    ]);
    expect(decodePayload('3')).toEqual([{ type: 'pong' }]);
    expect(decodeFrame(Uint8Array.from([9]).buffer)).toEqual({ type: 'message', data: Uint8Array.from([9]) });
    expect(decodeText('2probe')).toEqual({ type: 'ping', data: 'probe' });
  });

  it('refuses what is not a packet: unknown types, empty packets, bad base64', () => {
    expect(decodePayload('abc')).toBeNull();
    expect(decodePayload('4ok\x1e9bad')).toBeNull();
    expect(decodePayload('')).toBeNull();
    expect(decodeText('b!!!')).toBeNull();
    expect(decodeText('7')).toBeNull();
  });
});

describe('Socket.IO v5 packets', () => {
  it('encodes as the reference parser does: type, attachments, namespace, ack id, JSON', () => {
    expect(encodePacket({ type: PACKET.CONNECT, nsp: '/', data: { sid: 'abc' } })).toEqual(['0{"sid":"abc"}']);
    expect(encodePacket({ type: PACKET.CONNECT_ERROR, nsp: '/random', data: { message: 'Invalid namespace' } })).toEqual([
      '4/random,{"message":"Invalid namespace"}',
    ]);
    expect(encodePacket({ type: PACKET.EVENT, nsp: '/', data: ['message-back', 1, '2', { 3: [true] }] })).toEqual([
      '2["message-back",1,"2",{"3":[true]}]',
    ]);
    expect(encodePacket({ type: PACKET.ACK, nsp: '/', id: 456, data: [1] })).toEqual(['3456[1]']);
    expect(encodePacket({ type: PACKET.DISCONNECT, nsp: '/custom' })).toEqual(['1/custom,']);
  });

  it('turns binary into placeholders and attachments (BINARY_EVENT, BINARY_ACK)', () => {
    const [text, a, b] = encodePacket({
      type: PACKET.ACK,
      nsp: '/',
      id: 789,
      data: [Uint8Array.from([1, 2, 3]), { x: Uint8Array.from([4]) }],
    });
    expect(text).toBe('62-789[{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]');
    expect(a).toEqual(Uint8Array.from([1, 2, 3]));
    expect(b).toEqual(Uint8Array.from([4]));
  });

  it('decodes namespaces, ack ids and binary packets, and reconstructs attachments', () => {
    expect(decodePacket('0')).toEqual({ type: PACKET.CONNECT, nsp: '/' });
    expect(decodePacket('0/custom,{"token":"abc"}')).toEqual({ type: PACKET.CONNECT, nsp: '/custom', data: { token: 'abc' } });
    expect(decodePacket('41/custom'.slice(1))).toEqual({ type: PACKET.DISCONNECT, nsp: '/custom' });
    expect(decodePacket('2456["message-with-ack",1]')).toEqual({
      type: PACKET.EVENT,
      nsp: '/',
      id: 456,
      data: ['message-with-ack', 1],
    });
    const binary = decodePacket('52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    expect(binary.attachments).toBe(2);
    const whole = reconstructPacket(binary, [Uint8Array.from([1]), Uint8Array.from([2])]);
    expect(whole).toEqual({ type: PACKET.EVENT, nsp: '/', data: ['message', Uint8Array.from([1]), Uint8Array.from([2])] });
  });

  it('refuses malformed packets as the reference parser does', () => {
    for (const bad of [
      'abc', // unknown type
      '2{}', // EVENT without an array
      '2abc["x"]', // ack id not a number
      '2["connect"]', // reserved event name
      '2[]', // no event name
      '2', // no payload
      '0"str"', // CONNECT payload not an object
      '1{}', // DISCONNECT with a payload
      '5x-["a"]', // bad attachment count
      '511-["a"]', // too many attachments
      '2[1,', // broken JSON
    ]) {
      expect(() => decodePacket(bad), bad).toThrow(PacketError);
    }
    expect(() => reconstructPacket(decodePacket('51-["a",{"_placeholder":true,"num":3}]'), [Uint8Array.from([1])])).toThrow(
      PacketError,
    );
  });
});

describe('hub shards', () => {
  it('reads the shard from a sid or pid, and maps a user to one home shard', () => {
    expect(shardOfId('2.abcdefghij', 3)).toBe(2);
    expect(shardOfId('3.abcdefghij', 3)).toBeNull();
    expect(shardOfId('x.abcdefghij', 3)).toBeNull();
    expect(shardOfId('1.short', 3)).toBeNull();
    expect(shardCount(undefined)).toBe(4);
    expect(shardCount('3')).toBe(3);
    expect(shardCount('0')).toBe(4);
    expect(shardCount('abc')).toBe(4);
    const home = homeShard('t1', '42', 5);
    expect(home).toBe(homeShard('t1', '42', 5));
    expect(home).toBeGreaterThanOrEqual(0);
    expect(home).toBeLessThan(5);
  });
});
