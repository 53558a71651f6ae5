// Scenario 3: N concurrent WebSockets spread evenly over 100 rooms. Connect rate (sockets welcomed per second,
// 200 handshakes in flight), then the server's resident memory before, after one socket per room, and after all,
// divided: per room (its first socket), per further socket, and everything per socket.
// EdgeRooms' rooms are 100 tenants' orchestrator actors; their users are registered before the clock starts.
// On `npm start` the Worker's isolate heap (V8, after a forced GC, over the inspector) is read at the same points,
// so the project's own share per socket is reported apart from the runtime's RSS: for this scenario only, the
// runtime is restarted with its inspector open (the same state), and restarted without it afterwards.
import { readFileSync } from 'node:fs';
import { isolateHeap } from '../lib/heap.mjs';
import { closeAll } from '../lib/targets.mjs';
import { now, poolSettled, round, rssKiB, sleep } from '../lib/util.mjs';

const ROOMS = 100;
const IN_FLIGHT = 200;
const KEEPALIVE_MS = 30_000;

export const roomName = (i) => `bench-${String(i).padStart(3, '0')}`;

/** The open-files limit every process here inherits (`ulimit -n`; root cannot raise it in this sandbox). */
function openFilesLimit() {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

/**
 * Descriptors the server holds per socket. `wrangler dev` puts a proxy workerd in front of the Worker's: between
 * them about three (measured: a cap at half the limit still ended in EMFILE and a runtime restart). `npm start`'s one
 * workerd holds two (measured: at a limit of 20,000 its `dup()` failed with EMFILE at 9,871 sockets and workerd
 * crashed). The Node baselines hold one.
 */
const DESCRIPTORS_PER_SOCKET = { dev: 3, start: 2 };

/** Past the open-files limit the figure says nothing about EdgeRooms: the attempt is capped below it, and the cap reported. */
function socketCap(target, edge) {
  const limit = openFilesLimit();
  const perSocket = target.name === 'edgerooms' ? DESCRIPTORS_PER_SOCKET[edge.runtime] : 1;
  return Math.floor((limit - 1000) / perSocket);
}

/** The isolate's heap, or the reason it could not be read (the figures stay null). */
async function heap(edge) {
  try {
    return await isolateHeap(edge.inspectorPort);
  } catch (err) {
    return { error: String(err?.message ?? err).slice(0, 200) };
  }
}

const heapPer = (before, after, held) =>
  held > 0 && before?.usedBytes !== undefined && after?.usedBytes !== undefined
    ? Math.round((after.usedBytes - before.usedBytes) / held)
    : null;

function memory(target) {
  const processes = target.pids().map((p) => ({ ...p, rssKiB: rssKiB(p.pid) }));
  return { processes, totalKiB: processes.reduce((a, p) => a + (p.rssKiB ?? 0), 0) };
}

const perConnection = (before, after, held) =>
  held === 0 ? null : Math.round(((after.totalKiB - before.totalKiB) * 1024) / held);

export async function connections(target, { quick, edge }) {
  const isEdge = target.name === 'edgerooms';
  if (isEdge) await edge.restart({ inspector: true });
  try {
    return await measure(target, { quick, edge, isEdge });
  } finally {
    if (isEdge) await edge.restart({ inspector: false });
  }
}

async function measure(target, { quick, edge, isEdge }) {
  const wanted = quick ? 1000 : 10_000;
  const total = Math.min(wanted, socketCap(target, edge));
  const heaps = isEdge && edge.inspecting;
  if (isEdge) {
    for (let r = 0; r < ROOMS; r++) await edge.userToken(roomName(r));
  }
  await sleep(2000);
  const heapBefore = heaps ? await heap(edge) : null;
  const before = memory(target);
  const started = now();
  // Held sockets heartbeat as real clients do (EdgeRooms closes a socket silent for 120 s; the runtime answers the
  // text `ping` without waking an actor): on a slow machine the connect phase alone can outlast that.
  const clients = [];
  const heartbeat = setInterval(() => {
    for (const c of clients) target.keepalive(c);
  }, KEEPALIVE_MS);
  try {
    return await connectAndHold(target, { quick, total, wanted, isEdge, edge, heaps, heapBefore, before, started, clients });
  } finally {
    clearInterval(heartbeat);
  }
}

async function connectAndHold(target, { quick, total, wanted, isEdge, edge, heaps, heapBefore, before, started, clients }) {
  // First one socket per room (what a room itself costs: an actor, a room object), then the rest (what a socket costs).
  const keep = (c) => {
    clients.push(c);
    return c;
  };
  const first = await poolSettled(ROOMS, IN_FLIGHT, (i) => target.connect(roomName(i)).then(keep));
  await sleep(2000);
  const heapRooms = heaps ? await heap(edge) : null;
  const rooms = memory(target);
  const restStarted = now();
  const rest = await poolSettled(total - ROOMS, IN_FLIGHT, (i) => target.connect(roomName(i % ROOMS)).then(keep));
  const ended = now();
  const results = [...first, ...rest];
  const elapsed = ended - started - 2000;
  const failures = results.filter((r) => !r.ok);
  await sleep(5000);
  const held = clients.filter((c) => !c.closed).length;
  const heapAfter = heaps ? await heap(edge) : null;
  const after = memory(target);
  let idle = null;
  let heapIdle = null;
  if (!quick) {
    // Long enough for idle actors to hibernate (workerd evicts an idle actor's JS after about 10 s).
    await sleep(15_000);
    heapIdle = heaps ? await heap(edge) : null;
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
        ? `open-files limit ${openFilesLimit()}${isEdge ? ` (${edge.runtime === 'dev' ? "wrangler dev's two workerd processes hold ~3" : 'workerd holds 2'} descriptors per socket)` : ''}`
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
    /** The Worker isolate's V8 heap after a forced GC (EdgeRooms on npm start): the project's own share. */
    isolateHeap: heaps
      ? {
          before: heapBefore,
          rooms: heapRooms,
          after: heapAfter,
          afterIdle: heapIdle,
          bytesPerRoom: heapPer(heapBefore, heapRooms, ROOMS),
          bytesPerExtraConnection: heapPer(heapRooms, heapAfter, restHeld),
          bytesPerExtraConnectionAfterIdle: heapIdle ? heapPer(heapRooms, heapIdle, stillHeld - ROOMS) : null,
        }
      : null,
  };
}
