// Scenario 1: round trip of a ping through the server, idle (one at a time) and at a fixed offered rate.
// Pings rotate over a pool of connections, each used for at most PER_CONNECTION pings and each of its own user:
// EdgeRooms' orchestrator stream allows 100 frames per minute per user (a policy limit shared by that user's
// sockets, so a reconnect does not refill it), so one user cannot carry 1,000 messages/s there. Every target gets
// the same pool, so the comparison stays like for like.
import { closeAll } from '../lib/targets.mjs';
import { now, pool, round, sleep, summarize, waitFor } from '../lib/util.mjs';

const PER_CONNECTION = 90;
const REPLY_TIMEOUT_MS = 5000;

/** Users are never reused across measurements: a user's frame budget is a minute long. */
let nextUser = 0;

async function openPool(target, room, count) {
  const handlers = { pong: null };
  const first = nextUser;
  nextUser += count;
  const clients = await pool(count, 50, async (i) => {
    const client = await target.connect(room, { user: first + i });
    client.handlers.pong = (ts) => handlers.pong(ts);
    client.handlers.autoPong = () => handlers.autoPong();
    client.handlers.error = () => handlers.error();
    return client;
  });
  return { clients, handlers };
}

/**
 * Sends `total` pings at `rate`/s (0: one after another, each after the previous answer). `auto` uses EdgeRooms'
 * runtime-answered text ping (answered in order, so matched first in, first out).
 */
async function measure(target, room, { total, rate, auto = false }) {
  const { clients, handlers } = await openPool(target, room, Math.ceil(total / PER_CONNECTION));
  const sentAt = new Float64Array(total);
  const rtts = [];
  let errors = 0;
  let received = 0;
  const fifo = [];
  let waiting = null;
  const got = (i) => {
    if (i === undefined || i === null || Number.isNaN(i) || i < 0 || i >= total || sentAt[i] === 0) return;
    rtts.push(now() - sentAt[i]);
    sentAt[i] = 0;
    received++;
    waiting?.();
  };
  handlers.pong = (ts) => got(Number(ts));
  handlers.autoPong = () => got(fifo.shift());
  handlers.error = () => {
    errors++;
    waiting?.();
  };
  const send = (i) => {
    const client = clients[Math.floor(i / PER_CONNECTION)];
    sentAt[i] = now();
    if (auto) {
      fifo.push(i);
      client.autoPing();
    } else client.ping(i);
  };

  const cpuBefore = target.cpuSeconds?.();
  const started = now();
  if (rate === 0) {
    for (let i = 0; i < total; i++) {
      const answered = new Promise((resolve) => {
        waiting = resolve;
      });
      send(i);
      await Promise.race([answered, sleep(REPLY_TIMEOUT_MS)]);
    }
    waiting = null;
  } else {
    // Open loop: sends are due on a fixed schedule whatever the answers do (no coordinated omission).
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - started) * rate) / 1000) + 1);
      while (sent < due) send(sent++);
      await sleep(1);
    }
    await waitFor(() => received + errors >= total, REPLY_TIMEOUT_MS);
  }
  const elapsed = now() - started;
  // The server's CPU over the measurement (pings in, pongs out), per round trip answered.
  const cpu = cpuBefore === undefined ? null : target.cpuSeconds() - cpuBefore;
  await closeAll(clients);
  return {
    ...summarize(rtts),
    offered: rate === 0 ? null : rate,
    achieved: rate === 0 ? null : Math.round((total / elapsed) * 1000),
    sent: total,
    lost: total - received - errors,
    errors,
    connections: clients.length,
    cpuMicrosPerRoundTrip: cpu === null || received === 0 ? null : round((cpu * 1e6) / received, 1),
  };
}

export async function roundTrip(target, { quick, room }) {
  const idle = quick ? 100 : 300;
  const loaded = (quick ? 3 : 6) * 1000;
  const out = {
    idle: await measure(target, room, { total: idle, rate: 0 }),
    at1000: await measure(target, room, { total: loaded, rate: 1000 }),
  };
  if (target.name === 'edgerooms') {
    out.autoIdle = await measure(target, room, { total: idle, rate: 0, auto: true });
    out.autoAt1000 = await measure(target, room, { total: loaded, rate: 1000, auto: true });
  }
  return out;
}
