// Scenario 3: N concurrent WebSockets spread evenly over 100 rooms. Connect rate (sockets welcomed per second,
// 200 handshakes in flight), then the server's resident memory before, after one socket per room, and after all,
// divided: per room (its first socket), per further socket, and everything per socket.
// EdgeRooms' rooms are 100 tenants' orchestrator actors; their users are registered before the clock starts.
import { readFileSync } from 'node:fs';
import { closeAll } from '../lib/targets.mjs';
import { now, poolSettled, round, rssKiB, sleep } from '../lib/util.mjs';

const ROOMS = 100;
const IN_FLIGHT = 200;

export const roomName = (i) => `bench-${String(i).padStart(3, '0')}`;

/** The open-files limit every process here inherits (`ulimit -n`; root cannot raise it in this sandbox). */
function openFilesLimit() {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

/**
 * `wrangler dev` puts a proxy workerd in front of the Worker's: between them they hold about three descriptors per
 * socket (measured: a cap at half the limit still ended in EMFILE and a runtime restart), so past about a third of
 * the open-files limit the local runtime fails.
 * Past that point the figure says nothing about EdgeRooms, so the attempt is capped below it, and the cap is reported.
 */
function socketCap(target) {
  const limit = openFilesLimit();
  const perSocket = target.name === 'edgerooms' ? 3 : 1;
  return Math.floor((limit - 1000) / perSocket);
}

function memory(target) {
  const processes = target.pids().map((p) => ({ ...p, rssKiB: rssKiB(p.pid) }));
  return { processes, totalKiB: processes.reduce((a, p) => a + (p.rssKiB ?? 0), 0) };
}

const perConnection = (before, after, held) =>
  held === 0 ? null : Math.round(((after.totalKiB - before.totalKiB) * 1024) / held);

export async function connections(target, { quick, edge }) {
  const wanted = quick ? 1000 : 10_000;
  const total = Math.min(wanted, socketCap(target));
  if (target.name === 'edgerooms') {
    for (let r = 0; r < ROOMS; r++) await edge.userToken(roomName(r));
  }
  await sleep(2000);
  const before = memory(target);
  const started = now();
  // First one socket per room (what a room itself costs: an actor, a room object), then the rest (what a socket costs).
  const first = await poolSettled(ROOMS, IN_FLIGHT, (i) => target.connect(roomName(i)));
  await sleep(2000);
  const rooms = memory(target);
  const restStarted = now();
  const rest = await poolSettled(total - ROOMS, IN_FLIGHT, (i) => target.connect(roomName(i % ROOMS)));
  const ended = now();
  const results = [...first, ...rest];
  const elapsed = ended - started - 2000;
  const clients = results.filter((r) => r.ok).map((r) => r.value);
  const failures = results.filter((r) => !r.ok);
  await sleep(5000);
  const held = clients.filter((c) => !c.closed).length;
  const after = memory(target);
  let idle = null;
  if (!quick) {
    // Long enough for idle actors to hibernate (workerd evicts an idle actor's JS after about 10 s).
    await sleep(15_000);
    idle = memory(target);
  }
  const stillHeld = clients.filter((c) => !c.closed).length;
  await closeAll(clients);
  const restHeld = held - first.filter((r) => r.ok).length;
  return {
    wanted,
    attempted: total,
    cappedBy:
      total < wanted
        ? `open-files limit ${openFilesLimit()} (wrangler dev's two workerd processes hold ~3 descriptors per socket)`
        : null,
    rooms: ROOMS,
    connected: clients.length,
    failed: failures.length,
    firstFailure: failures[0] ? String(failures[0].error?.message ?? failures[0].error).slice(0, 200) : null,
    connectSeconds: round(elapsed / 1000),
    connectsPerSecond: Math.round((clients.length / elapsed) * 1000),
    extraConnectsPerSecond: Math.round(((total - ROOMS) / (ended - restStarted)) * 1000),
    held,
    heldAfterIdle: stillHeld,
    memory: {
      before,
      rooms,
      after,
      afterIdle: idle,
      /** Everything (rooms and sockets) divided by the sockets held. */
      bytesPerConnection: perConnection(before, after, held),
      bytesPerConnectionAfterIdle: idle ? perConnection(before, idle, stillHeld) : null,
      /** The first socket of each room, divided by the rooms: the price of a room. */
      bytesPerRoom: perConnection(before, rooms, ROOMS),
      /** The sockets after the first of each room: the price of one more idle socket. */
      bytesPerExtraConnection: perConnection(rooms, after, restHeld),
      bytesPerExtraConnectionAfterIdle: idle ? perConnection(rooms, idle, stillHeld - ROOMS) : null,
    },
  };
}
