// Scenario 4: a subscriber loses its connection, 100 events are published while it is away, it reconnects
// with its place in the log: time from the reconnect call until the 100th missed event is in hand.
// EdgeRooms: `?lastEventId=` on the WebSocket URL (replayed in the `resync_response`); ws baseline:
// `?lastSequence=` against its in-memory ring; Socket.IO: its connection state recovery.
import { makeEvent } from '../lib/payload.mjs';
import { now, sleep, summarize, waitFor } from '../lib/util.mjs';

const MISSED = 100;
const CATCH_UP_TIMEOUT_MS = 10_000;

export async function resync(target, { quick }) {
  const repeats = quick ? 5 : 20;
  const publisher = await target.publisher('default');
  const times = [];
  const failures = [];
  try {
    for (let r = 0; r < repeats; r++) {
      // The subscriber has seen one event before it drops (Socket.IO recovers from the offset of the last packet).
      let anchored = false;
      const first = await target.connect('default', {
        track: true,
        handlers: {
          event: () => {
            anchored = true;
          },
        },
      });
      await publisher.publish([makeEvent(0, now())]);
      await waitFor(() => anchored, 5000, 2);
      const ref = target.ref(first);
      first.drop();
      await sleep(200);
      const sentAt = now();
      const events = Array.from({ length: MISSED }, (_, i) => makeEvent(i, sentAt));
      const published = await publisher.publish(events);
      if (!published.ok) {
        failures.push(`publish refused: ${published.status} ${published.body ?? ''}`);
        continue;
      }
      await sleep(300); // every target has logged the batch before the subscriber comes back
      let got = 0;
      let doneAt = null;
      const handlers = {
        event: (t) => {
          if (t === null || t < sentAt - 1) return; // the payload's clock is rounded to 1 µs
          got++;
          if (got === MISSED) doneAt = now();
        },
      };
      const started = now();
      const again = await target.connect('default', { resume: ref, handlers });
      await waitFor(() => doneAt !== null, CATCH_UP_TIMEOUT_MS, 2);
      if (doneAt === null) failures.push(`caught up ${got}/${MISSED} events`);
      else times.push(doneAt - started);
      again.close();
      await sleep(100);
    }
  } finally {
    publisher.close();
  }
  return { missed: MISSED, repeats, ...summarize(times), failures: failures.length, firstFailure: failures[0] ?? null };
}
