// The one message every fan-out and resync scenario sends, identical for every target: a seed-004
// `iteration_output` event whose payload serializes to exactly PAYLOAD_BYTES bytes and carries the publisher's
// clock (performance.now(), same process as the receivers) so end-to-end latency needs no clock sync.

export const PAYLOAD_BYTES = 100;
export const EVENT_TYPE = 'iteration_output';

/** `{taskId, iteration, output: "T<ms>|<padding>"}`, padded to PAYLOAD_BYTES when serialized. */
export function makePayload(iteration, sentAt) {
  const base = { taskId: 'bench', iteration, output: `T${sentAt.toFixed(3)}|` };
  const missing = PAYLOAD_BYTES - JSON.stringify(base).length;
  if (missing > 0) base.output += 'x'.repeat(missing);
  return base;
}

export const makeEvent = (iteration, sentAt) => ({ type: EVENT_TYPE, payload: makePayload(iteration, sentAt) });

const MARK = '"output":"T';

/** The publisher's timestamp inside a frame's text, without parsing the whole frame (the client is the bottleneck). */
export function sentAtOfText(text) {
  const i = text.indexOf(MARK);
  if (i < 0) return null;
  const start = i + MARK.length;
  const end = text.indexOf('|', start);
  return end < 0 ? null : Number(text.slice(start, end));
}

/** The same from an already-parsed payload (Socket.IO hands frames over parsed). */
export function sentAtOfPayload(payload) {
  const output = payload?.output;
  if (typeof output !== 'string' || output[0] !== 'T') return null;
  return Number(output.slice(1, output.indexOf('|')));
}

/** Every publisher timestamp in a frame's text: a batched frame (`?batch=1`) is an array of event frames. */
export function eachSentAtOfText(text, fn) {
  let i = text.indexOf(MARK);
  while (i >= 0) {
    const start = i + MARK.length;
    const end = text.indexOf('|', start);
    if (end < 0) return;
    fn(Number(text.slice(start, end)));
    i = text.indexOf(MARK, end);
  }
}
