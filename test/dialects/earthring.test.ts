import { decode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/core/codec';
import type { LoggedEvent } from '../../src/core/protocol';
import {
  CLIENT_TYPES,
  errorFrame,
  frameId,
  handoffFrame,
  jsonText,
  moveJson,
  negotiateProtocol,
  parseEnvelope,
  playersMovedFrame,
  playersMovedText,
} from '../../src/dialects/earthring';
import { isApiError } from '../../src/errors';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (isApiError(e)) return { code: e.code, message: e.message, details: e.details };
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('earthring subprotocol negotiation', () => {
  it('picks the highest version both sides speak and echoes it', () => {
    expect(negotiateProtocol('earthring-v1')).toEqual({ protocol: 'earthring-v1', echo: true });
    expect(negotiateProtocol('earthring-v2')).toEqual({ protocol: 'earthring-v2', echo: true });
    expect(negotiateProtocol('earthring-v1, earthring-v2')).toEqual({ protocol: 'earthring-v2', echo: true });
    expect(negotiateProtocol(' earthring-v3 ,earthring-v1 ')).toEqual({ protocol: 'earthring-v1', echo: true });
  });

  it('treats no header as v1 without an echo, and an offer with nothing we speak as refused', () => {
    expect(negotiateProtocol(null)).toEqual({ protocol: 'earthring-v1', echo: false });
    expect(negotiateProtocol('  ')).toEqual({ protocol: 'earthring-v1', echo: false });
    expect(negotiateProtocol('earthring-v3')).toBeUndefined();
    expect(negotiateProtocol('EARTHRING-V1')).toBeUndefined();
    expect(negotiateProtocol(',')).toBeUndefined();
  });
});

describe('earthring envelope', () => {
  it('accepts every seed client type with an optional string or number id', () => {
    for (const type of CLIENT_TYPES)
      expect(parseEnvelope({ type, id: 'a', data: { x: 1 } })).toEqual({ type, id: 'a', data: { x: 1 } });
    expect(parseEnvelope({ type: 'ping', id: 7 })).toEqual({ type: 'ping', id: 7, data: undefined });
    expect(parseEnvelope({ type: 'ping' })).toEqual({ type: 'ping', data: undefined });
  });

  it('refuses non-objects, missing or unknown types and bad ids with INVALID_REQUEST', () => {
    for (const bad of [null, 3, 'ping', [1], {}]) {
      const r = refusal(() => parseEnvelope(bad));
      expect(r.code).toBe('INVALID_REQUEST');
      expect(r.details?.issue).toBe('invalid_message_format');
    }
    const unknown = refusal(() => parseEnvelope({ type: 'fly' }));
    expect(unknown).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'type', issue: 'unknown_message_type' } });
    expect(unknown.message).toContain('"fly"');
    expect(unknown.details?.supported).toEqual([...CLIENT_TYPES]);
    expect(refusal(() => parseEnvelope({ type: 'ping', id: { a: 1 } })).details).toMatchObject({ field: 'id' });
    expect(refusal(() => parseEnvelope({ type: 'ping', id: 'x'.repeat(129) })).details).toMatchObject({ field: 'id' });
  });

  it('renders errors in both seed shapes, echoing only a usable id', () => {
    const f = errorFrame(
      {
        code: 'INVALID_ZONE',
        message: 'Zone geometry contains self-intersections',
        details: { field: 'geometry', issue: 'self_intersection' },
      },
      'req_123',
    );
    expect(f).toEqual({
      type: 'error',
      id: 'req_123',
      error: 'Zone geometry contains self-intersections',
      message: 'Zone geometry contains self-intersections',
      code: 'INVALID_ZONE',
      data: {
        code: 'INVALID_ZONE',
        message: 'Zone geometry contains self-intersections',
        details: { field: 'geometry', issue: 'self_intersection' },
      },
    });
    expect(errorFrame({ code: 'SERVER_ERROR', message: 'x' })).not.toHaveProperty('id');
    expect(frameId({ id: Number.NaN })).toBeUndefined();
    expect(frameId({ id: 4 })).toBe(4);
  });
});

describe('players_moved (one frame per movement tick)', () => {
  const logged = (sequence: number): LoggedEvent => ({
    sequence,
    eventId: `eep-${sequence}`,
    timestamp: '2026-11-29T00:00:00.000Z',
    epoch: 'ep',
    scope: 'area',
    type: 'player_moved',
    data: {},
  });
  const data = (player_id: number, x: number) => ({ player_id, position: { x, y: 0 }, floor: 0, rotation: 0 });

  it('lists the moves in order with their sequences; the frame resumes at the last one', () => {
    const frame = playersMovedFrame('ep', [
      { event: logged(3), data: data(1, 10) },
      { event: logged(5), data: data(2, 20) },
    ]);
    expect(frame).toEqual({
      type: 'players_moved',
      data: {
        epoch: 'ep',
        moves: [
          { ...data(1, 10), sequence: 3 },
          { ...data(2, 20), sequence: 5 },
        ],
      },
      eventId: 'eep-5',
      sequence: 5,
    });
  });

  it('refuses an empty tick (nothing is sent then)', () => {
    expect(() => playersMovedFrame('ep', [])).toThrow(RangeError);
    expect(() => playersMovedText('ep', [])).toThrow(RangeError);
  });

  it('renders the same frame as text from moves serialized once, written verbatim by JSON.stringify', () => {
    const moves = [
      { event: logged(3), data: data(1, 10) },
      { event: logged(5), data: data(2, 20.5) },
    ];
    const text = playersMovedText(
      'ep',
      moves.map((m) => ({ event: m.event, json: moveJson(m.event, m.data) })),
    );
    expect(JSON.parse(text)).toEqual(playersMovedFrame('ep', moves));
    // The text codecs send it as it is; MessagePack encodes the same frame.
    expect(encodeFrame('json', jsonText(text))).toBe(text);
    expect(decode(encodeFrame('msgpack', jsonText(text)) as Uint8Array)).toEqual(playersMovedFrame('ep', moves));
  });

  it('keeps batch=1 in the hand-off URL of a batched socket only', () => {
    const h = { chunkId: '0_6', lastEventId: 'eep-9', from: '0_5', seq: 12 };
    expect(new URL(`https://x${handoffFrame({ ...h, batched: true }).data.url}`).searchParams.get('batch')).toBe('1');
    expect(new URL(`https://x${handoffFrame(h).data.url}`).searchParams.has('batch')).toBe(false);
  });
});
