// Scenario 6: PLAYERS players in one chunk each send `player_move` at HZ; every other player should get a
// `player_moved`. No server echoes anything the client chose except the position, so each move's position is
// unique: y = the player's lane + the tick (y carries the sequence), x walks inside one chunk. A receipt finds its
// send time by (y, x) without a clock in the frame. Delivery rate = player_moved received / (moves x (PLAYERS - 1)).
//
// EdgeRooms: each player is registered (its own auth address) and placed in chunk 0_12345 with
// `PUT /api/players/{id}/position`, then opens `/ws` (earthring-v1), which lands in that chunk's actor. Every move
// stays in the chunk (x within [12,345,100, 12,345,730]) so none causes a hand-off; 10 Hz is 600 frames a minute,
// under the 1,000 a minute per connection. The baselines relay in a room named after the chunk.
//
// EdgeRooms' sockets opt into the batched form (`?batch=1`): the chunk sends each recipient one `players_moved`
// frame per movement tick (100 ms by default) listing the tick's moves in order, where the baselines send one
// `player_moved` frame per move and recipient. Each listed move counts as one delivery, matched the same way.
import { closeAll } from '../lib/targets.mjs';
import { now, pool, round, sleep, summarize, waitFor } from '../lib/util.mjs';

const PLAYERS = 200;
const HZ = 10;
const FLOOR = 0;
const CHUNK = `${FLOOR}_12345`;
const X0 = 12_345_100;
const X_SLOTS = 64;
const X_STEP = 10;
/** y = lane x LANE + tick: unique per move while the tick stays under LANE (|y| <= 200,000, inside the ring's ±1,000,000). */
const LANE = 1000;
const REGISTER_IN_FLIGHT = 8;

const positionOfText = (text) => {
  const x = /"x":(-?[\d.]+)/.exec(text);
  const y = /"y":(-?[\d.]+)/.exec(text);
  return x && y ? { x: Number(x[1]), y: Number(y[1]) } : null;
};
/** Every move's position in a `players_moved` frame (the frame names no other position). */
const POSITIONS = /"position":\{"x":(-?[\d.]+),"y":(-?[\d.]+)\}/g;
const positionsOfBatch = (text) => Array.from(text.matchAll(POSITIONS), (m) => ({ x: Number(m[1]), y: Number(m[2]) }));
/** EdgeRooms' game sockets take one frame per tick (see above). */
const BATCHED = { batch: '1' };

/** Opens one player's socket in the chunk: EdgeRooms needs a registered, placed player first. */
async function joiner(target, edge, handlers) {
  if (target.name !== 'edgerooms') return (i) => target.connect(`chunk-${CHUNK}`, { player: i, handlers });
  const tenant = `bench-er-${edge.runId}`;
  const players = await pool(PLAYERS, REGISTER_IN_FLIGHT, (i) => edge.registerPlayer(tenant, { x: X0, y: i * LANE }, FLOOR));
  return (i) => target.connectGame(players[i], { handlers, query: BATCHED });
}

export async function earthRing(target, { quick, edge }) {
  if (target.name === 'edgerooms' && !(await edge.servesWebSocket('/ws'))) {
    return { notRun: 'EdgeRooms does not serve the EarthRing /ws endpoint' };
  }
  const seconds = quick ? 5 : 10;
  const ticks = seconds * HZ;
  if (ticks > LANE) throw new Error('the tick must stay under LANE for positions to be unique');
  const sentAt = new Map();
  const latencies = [];
  let received = 0;
  let unmatched = 0;
  let errors = 0;
  let firstError = null;
  let frames = 0;
  const onPosition = (p, at) => {
    const t = p ? sentAt.get(`${p.y}:${p.x}`) : undefined;
    if (t === undefined) {
      unmatched++;
      return;
    }
    received++;
    latencies.push(at - t);
  };
  const onMoved = (frame) => {
    frames++;
    if (typeof frame === 'string' && frame.startsWith('{"type":"players_moved"')) {
      const at = now();
      for (const p of positionsOfBatch(frame)) onPosition(p, at);
      return;
    }
    onPosition(typeof frame === 'string' ? positionOfText(frame) : frame?.data?.position, now());
  };
  const onError = (text) => {
    errors++;
    firstError ??= String(text).slice(0, 200);
  };
  const setupStarted = now();
  const join = await joiner(target, edge, { moved: onMoved, error: onError });
  const clients = await pool(PLAYERS, 50, join);
  const setupSeconds = round((now() - setupStarted) / 1000, 1);
  await sleep(500);
  let moves = 0;
  const started = now();
  for (let tick = 0; tick < ticks; tick++) {
    const due = started + (tick * 1000) / HZ;
    if (due > now()) await sleep(due - now());
    const x = X0 + (tick % X_SLOTS) * X_STEP;
    for (let i = 0; i < PLAYERS; i++) {
      const y = i * LANE + tick;
      sentAt.set(`${y}:${x}`, now());
      clients[i].move({ position: { x, y }, floor: FLOOR, rotation: 0 });
      moves++;
    }
  }
  const expected = moves * (PLAYERS - 1);
  await waitFor(() => received >= expected, 3000);
  const elapsed = now() - started;
  const closed = clients.filter((c) => c.closed).length;
  await closeAll(clients);
  return {
    players: PLAYERS,
    hz: HZ,
    seconds,
    setupSeconds,
    moves,
    expected,
    received,
    deliveryRate: round(received / expected, 4),
    deliveredPerSecond: Math.round((received / elapsed) * 1000),
    /** Frames that carried them: one per move and recipient, or one per tick and recipient when batched. */
    frames,
    ...(unmatched ? { unmatched } : {}),
    ...(errors ? { errors, firstError } : {}),
    ...(closed ? { closedDuringRun: closed } : {}),
    ...summarize(latencies),
  };
}
