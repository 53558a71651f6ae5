// Scenario 6: PLAYERS players in one chunk each send `player_move` at HZ; every other player should get a
// `player_moved`. Each move is keyed by (y, x): y is the player's own lane, x cycles, so a receipt finds its send
// time without a clock in the frame. Delivery rate = player_moved received / (moves sent x (PLAYERS - 1)).
import { closeAll } from '../lib/targets.mjs';
import { now, pool, round, sleep, summarize, waitFor } from '../lib/util.mjs';

const PLAYERS = 200;
const HZ = 10;
const X0 = 5000;
const X_SLOTS = 64;
const X_STEP = 10;

const positionOfText = (text) => {
  const x = /"x":(-?[\d.]+)/.exec(text);
  const y = /"y":(-?[\d.]+)/.exec(text);
  return x && y ? { x: Number(x[1]), y: Number(y[1]) } : null;
};

export async function earthRing(target, { quick, edge }) {
  if (target.name === 'edgerooms' && !(await edge.servesWebSocket('/ws'))) {
    return { notRun: 'EdgeRooms does not serve the EarthRing /ws endpoint yet' };
  }
  if (target.name === 'edgerooms') {
    return { notRun: 'the EarthRing /ws driver has not been validated against the endpoint yet' };
  }
  const seconds = quick ? 5 : 10;
  const sentAt = new Map();
  const latencies = [];
  let received = 0;
  const onMoved = (frame) => {
    const p = typeof frame === 'string' ? positionOfText(frame) : frame?.data?.position;
    if (!p) return;
    const t = sentAt.get(`${p.y}:${p.x}`);
    if (t === undefined) return;
    received++;
    latencies.push(now() - t);
  };
  const clients = await pool(PLAYERS, 50, (i) => target.connect('chunk-0_5', { player: i, handlers: { moved: onMoved } }));
  await sleep(500);
  let moves = 0;
  const started = now();
  const ticks = seconds * HZ;
  for (let tick = 0; tick < ticks; tick++) {
    const due = started + (tick * 1000) / HZ;
    if (due > now()) await sleep(due - now());
    const x = X0 + (tick % X_SLOTS) * X_STEP;
    for (let i = 0; i < PLAYERS; i++) {
      // Spread the players' sends over the tick, as independent clients would be.
      sentAt.set(`${i}:${x}`, now());
      clients[i].move({ position: { x, y: i }, floor: 0, rotation: 0 });
      moves++;
    }
  }
  const expected = moves * (PLAYERS - 1);
  await waitFor(() => received >= expected, 3000);
  const elapsed = now() - started;
  await closeAll(clients);
  return {
    players: PLAYERS,
    hz: HZ,
    seconds,
    moves,
    expected,
    received,
    deliveryRate: round(received / expected, 4),
    deliveredPerSecond: Math.round((received / elapsed) * 1000),
    ...summarize(latencies),
  };
}
