/**
 * A streaming parser for `text/event-stream` as the HTML standard defines it ("Interpreting an event
 * stream"): chunks may split lines, fields and even a CRLF anywhere; `data:` lines accumulate with "\n";
 * `id:` persists across events until changed; comment lines are keepalives. Feeding it strings keeps it free of
 * any runtime API: `readEventStream` does the byte decoding over a fetch body.
 */
export interface SseEvent {
  kind: 'event';
  /** `event:` field, 'message' when absent. */
  type: string;
  data: string;
  /** The last event id in force when this event was dispatched ('' if none yet). */
  lastEventId: string;
}

export interface SseComment {
  kind: 'comment';
  text: string;
}

export interface SseRetry {
  kind: 'retry';
  ms: number;
}

export type SseItem = SseEvent | SseComment | SseRetry;

export class SseParser {
  #buffer = '';
  #data: string[] = [];
  #type = '';
  #lastEventId = '';
  #sawCR = false;
  #started = false;

  /** Feeds decoded text; returns the items completed by it, in order. */
  push(chunk: string): SseItem[] {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR ended the previous chunk: an LF opening this one belongs to the same line break.
    if (this.#sawCR && text.startsWith('\n')) text = text.slice(1);
    this.#sawCR = false;
    const out: SseItem[] = [];
    this.#buffer += text;
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 === this.#buffer.length) this.#sawCR = true;
        else if (this.#buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  /** The id to resume from (`Last-Event-ID`). */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  #line(line: string, out: SseItem[]): void {
    if (line === '') {
      this.#dispatch(out);
      return;
    }
    if (line.startsWith(':')) {
      out.push({ kind: 'comment', text: line.slice(1).replace(/^ /, '') });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) out.push({ kind: 'retry', ms: Number(value) });
        break;
      default:
        // Unknown fields are ignored, as the standard requires.
        break;
    }
  }

  #dispatch(out: SseItem[]): void {
    const type = this.#type;
    this.#type = '';
    if (this.#data.length === 0) return;
    const data = this.#data.join('\n');
    this.#data = [];
    out.push({ kind: 'event', type: type || 'message', data, lastEventId: this.#lastEventId });
  }
}

/** Reads a fetch body as an event stream until it ends or `signal` aborts, handing each item to `onItem`. */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onItem: (item: SseItem) => void,
  parser: SseParser = new SseParser(),
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const item of parser.push(decoder.decode(value, { stream: true }))) onItem(item);
    }
    for (const item of parser.push(decoder.decode())) onItem(item);
  } finally {
    reader.releaseLock();
  }
}
