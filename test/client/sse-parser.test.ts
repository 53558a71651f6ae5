import { describe, expect, it } from 'vitest';
import { readEventStream, type SseItem, SseParser } from '../../src/client';

function parseAll(chunks: string[]): SseItem[] {
  const parser = new SseParser();
  return chunks.flatMap((c) => parser.push(c));
}

describe('SseParser', () => {
  it('reads events with ids, types and data', () => {
    expect(parseAll(['id: e1-1\nevent: draw\ndata: {"a":1}\n\n', 'data: plain\n\n'])).toEqual([
      { kind: 'event', type: 'draw', data: '{"a":1}', lastEventId: 'e1-1' },
      // The id stays in force until changed; the type does not.
      { kind: 'event', type: 'message', data: 'plain', lastEventId: 'e1-1' },
    ]);
  });

  it('reassembles events split anywhere across chunks, CRLF included', () => {
    const text = 'id: 7\r\nevent: chat\r\ndata: {"text":"hello"}\r\n\r\n:keepalive\r\n\r\ndata: x\r\n\r\n';
    const whole = parseAll([text]);
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(parseAll(chunks), `chunk size ${size}`).toEqual(whole);
    }
    expect(whole).toEqual([
      { kind: 'event', type: 'chat', data: '{"text":"hello"}', lastEventId: '7' },
      { kind: 'comment', text: 'keepalive' },
      { kind: 'event', type: 'message', data: 'x', lastEventId: '7' },
    ]);
  });

  it('joins multi-line data with newlines and honours CR-only line ends', () => {
    expect(parseAll(['data: line one\ndata:line two\ndata\n\n'])).toEqual([
      { kind: 'event', type: 'message', data: 'line one\nline two\n', lastEventId: '' },
    ]);
    expect(parseAll(['data: a\rdata: b\r\r'])).toEqual([{ kind: 'event', type: 'message', data: 'a\nb', lastEventId: '' }]);
  });

  it('reports comments, ignores unknown fields, blank events and bad retry values', () => {
    expect(parseAll([': ping\n', 'foo: bar\n\n', 'event: x\n\n', 'retry: 3000\nretry: soon\n', 'data: d\n\n'])).toEqual([
      { kind: 'comment', text: 'ping' },
      { kind: 'retry', ms: 3000 },
      // `event: x` had no data: nothing dispatched, and the type does not leak into the next event.
      { kind: 'event', type: 'message', data: 'd', lastEventId: '' },
    ]);
  });

  it('lets an empty id reset the resume point and ignores ids with NUL', () => {
    expect(
      parseAll(['id: a\ndata: 1\n\nid\ndata: 2\n\nid: b\0c\ndata: 3\n\n']).map((i) =>
        i.kind === 'event' ? i.lastEventId : null,
      ),
    ).toEqual(['a', '', '']);
  });

  it('strips a leading BOM and keeps an unterminated event pending', () => {
    const parser = new SseParser();
    expect(parser.push('\uFEFFdata: first\n\ndata: partial')).toEqual([
      { kind: 'event', type: 'message', data: 'first', lastEventId: '' },
    ]);
    expect(parser.push('\n\n')).toEqual([{ kind: 'event', type: 'message', data: 'partial', lastEventId: '' }]);
  });

  it('decodes a byte stream whose chunks split a multi-byte character', async () => {
    const bytes = new TextEncoder().encode('id: é1\ndata: {"t":"żółw 🐢"}\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.slice(i, i + 3));
        controller.close();
      },
    });
    const items: SseItem[] = [];
    await readEventStream(stream, (item) => items.push(item));
    expect(items).toEqual([{ kind: 'event', type: 'message', data: '{"t":"żółw 🐢"}', lastEventId: 'é1' }]);
  });
});
