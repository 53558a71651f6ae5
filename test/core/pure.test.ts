import { decode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, exceedsBytes, parseCodec } from '../../src/core/codec';
import { forwardRequest, IDENTITY_HEADER, readForwarded } from '../../src/core/forward';
import { normalizePoll } from '../../src/core/polling';
import { presenceTransition } from '../../src/core/presence';
import { formatSse, parseTypes, sseResumeId } from '../../src/core/sse';

describe('codec', () => {
  it('decodes JSON text and MessagePack binary to the same envelope and refuses malformed frames', () => {
    const frame = { type: 'ping', payload: { timestamp: 't' } };
    const bin = encodeFrame('msgpack', frame) as Uint8Array;
    expect(decode(bin)).toEqual(frame);
    expect(decodeFrame(bin)).toEqual({ ok: true, value: frame, codec: 'msgpack' });
    expect(decodeFrame(encodeFrame('json', frame) as string)).toEqual({ ok: true, value: frame, codec: 'json' });
    expect(decodeFrame('{bad').ok).toBe(false);
    expect(decodeFrame(new Uint8Array([0xc1])).ok).toBe(false);
    expect(parseCodec('msgpack')).toBe('msgpack');
    expect(parseCodec('xml')).toBe('json');
  });

  it('measures text frames in UTF-8 bytes', () => {
    expect(exceedsBytes('a'.repeat(10), 10)).toBe(false);
    expect(exceedsBytes('a'.repeat(11), 10)).toBe(true);
    expect(exceedsBytes('é'.repeat(6), 10)).toBe(true); // 12 bytes in 6 characters
    expect(exceedsBytes(new Uint8Array(11), 10)).toBe(true);
  });
});

describe('sse', () => {
  it('formats id, event and multi-line data, and reads the resume point', () => {
    expect(formatSse({ id: 'e1-2', event: 'x', data: 'a\nb' })).toBe('id: e1-2\nevent: x\ndata: a\ndata: b\n\n');
    expect(formatSse({ data: { k: 1 }, retry: 1000 })).toBe('retry: 1000\ndata: {"k":1}\n\n');
    expect(sseResumeId(new Request('https://x/s?lastEventId=q', { headers: { 'Last-Event-ID': 'h' } }))).toBe('h');
    expect(sseResumeId(new Request('https://x/s?lastEventId=q'))).toBe('q');
    expect(parseTypes(' a, b ,,c')).toEqual(['a', 'b', 'c']);
  });
});

describe('presence, polling and forwarding', () => {
  it('coalesces connects and disconnects per user', () => {
    expect(presenceTransition('connect', 0)).toBe('join');
    expect(presenceTransition('connect', 1)).toBeNull();
    expect(presenceTransition('disconnect', 1)).toBeNull();
    expect(presenceTransition('disconnect', 0)).toBe('leave');
  });

  it('clamps poll parameters', () => {
    expect(normalizePoll({ limit: 1000, wait: 99 })).toMatchObject({ limit: 100, wait: 25 });
    expect(normalizePoll({})).toMatchObject({ limit: 50, wait: 0 });
  });

  it('never forwards a client-sent identity header or the token', () => {
    const req = new Request('https://x/ws/orchestrator?token=secret&codec=msgpack', {
      headers: {
        Upgrade: 'websocket',
        [IDENTITY_HEADER]: JSON.stringify({ userId: 'evil', tenantId: 'other', role: 'admin', username: 'x' }),
      },
    });
    const fwd = forwardRequest(req, { userId: '1', tenantId: 'default', role: 'player', username: 'u' }, 'orchestrator');
    expect(readForwarded(fwd)).toEqual({
      identity: { userId: '1', tenantId: 'default', role: 'player', username: 'u' },
      dialect: 'orchestrator',
    });
    expect(new URL(fwd.url).searchParams.get('token')).toBeNull();
    expect(new URL(fwd.url).searchParams.get('codec')).toBe('msgpack');
    expect(readForwarded(req)).toBeNull(); // no dialect header: not from the Worker
  });
});
