// Scenario 2: one room of N subscribers, one publisher, 100-byte events at increasing rates. Each step publishes
// for a fixed time on a fixed schedule (20 batches a second, the same batches for every target), then waits for
// the deliveries to drain. A step "stops" the series when more than 1% of deliveries are missing or the p99
// end-to-end latency (publisher's clock in the payload to receipt) passes 1 s.
// Every server is published to over a socket (EdgeRooms: `publish` frames of service accounts, each acknowledged
// after the log append). A target that offers batched delivery (EdgeRooms' `?batch=1`) runs each room size twice:
// subscribers receiving one frame per event (`100`, `1000`), then subscribers that opted in to one frame per
// published batch (`100:batched`, `1000:batched`).
import { makeEvent } from '../lib/payload.mjs';
import { closeAll } from '../lib/targets.mjs';
import { now, pool, round, sleep, summarize, waitFor } from '../lib/util.mjs';

const TICKS_PER_SECOND = 20;
const MAX_IN_FLIGHT = 32;
/** Latency is recorded on this many subscribers (deliveries are counted on all): keeps the client's own cost flat. */
const SAMPLED = 100;
const STOP_LOSS = 0.01;
const STOP_P99_MS = 1000;
const KEEPALIVE_MS = 30_000;

export const RATES = {
  full: { 100: [100, 200, 500, 1000, 2000, 5000, 10000], 1000: [10, 20, 50, 100, 200, 500, 1000, 2000] },
  quick: { 100: [100, 500, 2000, 5000], 1000: [10, 50, 200, 1000] },
};

async function step(clients, publisher, rate, seconds, counters) {
  counters.received = 0;
  counters.latencies = [];
  const perTick = Math.max(1, Math.round(rate / TICKS_PER_SECOND));
  const ticksPerSecond = rate / perTick;
  const totalTicks = Math.max(1, Math.round(ticksPerSecond * seconds));
  let attempted = 0;
  let refused = 0;
  let inFlight = 0;
  let skipped = 0;
  let iteration = 0;
  const statuses = {};
  const started = now();
  for (let tick = 0; tick < totalTicks; tick++) {
    const due = started + (tick * 1000) / ticksPerSecond;
    if (due > now()) await sleep(due - now());
    attempted += perTick;
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped += perTick; // the publish path is saturated: counted as not delivered
      continue;
    }
    const sentAt = now();
    const events = Array.from({ length: perTick }, () => makeEvent(iteration++, sentAt));
    inFlight++;
    publisher
      .publish(events)
      .then((r) => {
        if (!r.ok) {
          refused += perTick;
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        }
      })
      .catch(() => {
        refused += perTick;
        statuses.network = (statuses.network ?? 0) + 1;
      })
      .finally(() => {
        inFlight--;
      });
  }
  const publishEnd = now();
  const expected = attempted * clients.length;
  await waitFor(
    () =>
      counters.received >= expected || (inFlight === 0 && counters.received >= (attempted - refused - skipped) * clients.length),
    3000,
  );
  await waitFor(() => inFlight === 0, 5000);
  const lastReceipt = counters.lastReceipt ?? publishEnd;
  const lat = summarize(counters.latencies);
  const loss = expected === 0 ? 0 : 1 - counters.received / expected;
  return {
    rate,
    seconds: round((publishEnd - started) / 1000),
    published: attempted - refused - skipped,
    refused,
    skipped,
    statuses,
    expected,
    delivered: counters.received,
    deliveredPerSecond: Math.round((counters.received / (Math.max(lastReceipt, publishEnd) - started)) * 1000),
    loss: round(Math.max(0, loss), 4),
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    stopped: loss > STOP_LOSS || (lat.p99 ?? 0) > STOP_P99_MS,
  };
}

async function room(target, size, rates, seconds, { batch = false } = {}) {
  const counters = { received: 0, latencies: [], lastReceipt: null };
  const handlersFor = (i) => ({
    event: (sentAt) => {
      if (sentAt === null) return;
      counters.received++;
      const t = now();
      counters.lastReceipt = t;
      if (i < SAMPLED) counters.latencies.push(t - sentAt);
    },
  });
  const connectStarted = now();
  const clients = await pool(size, 100, (i) =>
    target.connect('default', { handlers: handlersFor(i), ...(batch ? { batch: true } : {}) }),
  );
  const connectMs = now() - connectStarted;
  const heartbeat = setInterval(() => {
    for (const c of clients) target.keepalive(c);
  }, KEEPALIVE_MS);
  const publisher = target.socketPublisher ? await target.socketPublisher('default') : await target.publisher('default');
  // Settle: the first event reaches every subscriber only once the server has worked off the connection storm.
  const settleStarted = now();
  counters.received = 0;
  await publisher.publish([makeEvent(0, now())]);
  await waitFor(() => counters.received >= size, 30_000);
  const settleMs = now() - settleStarted;
  const settled = counters.received;
  await sleep(300);
  const steps = [];
  try {
    for (const rate of rates) {
      const cpuBefore = target.cpuSeconds?.();
      const result = await step(clients, publisher, rate, seconds, counters);
      if (cpuBefore !== undefined) {
        // The server's CPU over the step (publishing, delivering, draining), per message delivered.
        const cpu = target.cpuSeconds() - cpuBefore;
        result.cpuSeconds = round(cpu, 3);
        result.cpuMicrosPerDelivered = result.delivered ? round((cpu * 1e6) / result.delivered, 2) : null;
      }
      steps.push(result);
      if (result.stopped) break;
      await sleep(300);
    }
  } finally {
    clearInterval(heartbeat);
    publisher.close();
    await closeAll(clients);
  }
  const good = steps.filter((s) => !s.stopped);
  const best = good.reduce((a, s) => (s.deliveredPerSecond > (a?.deliveredPerSecond ?? -1) ? s : a), null);
  return {
    clients: size,
    connectSeconds: round(connectMs / 1000),
    settleSeconds: round(settleMs / 1000),
    settled,
    steps,
    maxDeliveredPerSecond: best?.deliveredPerSecond ?? 0,
    maxPublishRate: best?.rate ?? 0,
  };
}

export async function fanOut(target, { quick }) {
  const rates = quick ? RATES.quick : RATES.full;
  const seconds = quick ? 1.5 : 3;
  const out = {};
  for (const size of [100, 1000]) {
    out[size] = await room(target, size, rates[size], seconds);
    await sleep(1000);
    if (target.batches) {
      out[`${size}:batched`] = await room(target, size, rates[size], seconds, { batch: true });
      await sleep(1000);
    }
  }
  return out;
}
