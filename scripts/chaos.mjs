#!/usr/bin/env node
// `npm run test:chaos`: hard kills of the local runtime mid-burst, then checks that nothing acknowledged was lost
// or duplicated, in every realtime actor type. Starts `npm start`'s runtime (scripts/start.mjs through
// scripts/lib/worker.mjs: the production bundle on workerd, what a single-machine deployment runs) on a free port
// with its own state directory (actors in test/chaos/actors.mjs, clients and checks in test/chaos/kit.mjs); each round, several users drive every actor at once:
//   orchestrator  admin publishes with Idempotency-Key (HTTP)
//   room          chat and canvas shapes over /ws/rooms, chat as HTTP frames with Idempotency-Key
//   chunk         player moves and a zone over /ws (EarthRing), watched live by a third player
//   race          racing_update over /ws/racing and as HTTP frames with Idempotency-Key
//   hub           Socket.IO class B and C messages with acks into a room (socket.io-client), and
//   event bus     POST /api/events batches (idempotent on eventId)
//   crafting      material grants to a player's CraftingQueue (watched live on /ws/queue) and a crafting session
// The runtime is `kill -9`ed (its whole process group) once every actor has had a random number of operations
// acknowledged (never after a time), restarted on the same state, and every publish that got no answer and has a
// key is retried with it. Then, per actor: every acknowledged op is in its durable record exactly once, no sequence
// (or position, or version) is used twice, and clients resume by WebSocket resync, SSE and polling with nothing
// missing, where the actor offers them. Prints `N passed, N failed`; exits 1 on any failure.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chaosActors } from '../test/chaos/actors.mjs';
import { chaosKit } from '../test/chaos/kit.mjs';
import { freePort, root, sleep, startProductionServer, waitForServer } from './lib/worker.mjs';

const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 3);
/** A fallback only: an actor that cannot reach its target at all is a failure, not a reason to wait forever. */
const STALL_MS = 90_000;
const RUN_TIMEOUT_MS = 6 * 60_000;
const PASSWORD = 'ChaosPass123!';

if (!existsSync(join(root, '.dev.vars'))) copyFileSync(join(root, '.dev.vars.example'), join(root, '.dev.vars'));
const vars = Object.fromEntries(
  readFileSync(join(root, '.dev.vars'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('=') && !l.startsWith('#'))
    .map((l) => [
      l.slice(0, l.indexOf('=')).trim(),
      l
        .slice(l.indexOf('=') + 1)
        .trim()
        .replace(/^"|"$/g, ''),
    ]),
);

// ---- the runtime ---------------------------------------------------------------------------------------------

const state = mkdtempSync(join(tmpdir(), 'edgerooms-chaos-'));
let server = null;
const killRuntime = () => {
  if (!server) return;
  try {
    process.kill(-server.child.pid, 'SIGKILL'); // its own process group: Node and workerd at once
  } catch {
    // already gone
  }
};
const cleanup = () => {
  killRuntime();
  rmSync(state, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
const watchdog = setTimeout(() => {
  console.log(`FAIL the run took longer than ${RUN_TIMEOUT_MS / 1000} s`);
  console.log(`${kit.results.passed} passed, ${kit.results.failed + 1} failed`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const kit = chaosKit(base);
const { check, post } = kit;
const log = (what) => console.log(`[chaos] ${what}`);

async function startRuntime() {
  // scripts/start.mjs applies the migrations to `state` first (on a restart: nothing left to apply).
  server = startProductionServer(port, ['--persist-to', state]);
  try {
    await waitForServer(base, server);
  } catch (err) {
    console.error(server.output.join('').slice(-3000));
    throw err;
  }
}
async function kill9() {
  const child = server.child;
  const gone = new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  killRuntime();
  await gone;
  // workerd may outlive npm by a moment: wait until the port is free again.
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${base}/health`, { signal: AbortSignal.timeout(500) });
    } catch {
      return;
    }
    await sleep(100);
  }
}

// ---- users ------------------------------------------------------------------------------------------------------

const users = [];
/**
 * The admin and four players. Seed 000 allows 5 logins or registrations a minute per IP: the admin's login and four
 * registrations fit; the tokens (15 minutes) outlive the run, so nobody logs in again.
 */
async function setupUsers() {
  const a = await post('/api/auth/login', null, { username: vars.ADMIN_USERNAME, password: vars.ADMIN_PASSWORD });
  if (!a.body?.access_token) throw new Error(`admin login failed: ${JSON.stringify(a)}`);
  const admin = { token: a.body.access_token, id: String(a.body.user_id) };
  const tag = Date.now().toString(36);
  for (let i = 1; i <= 4; i++) {
    const username = `chaos_${tag}_${i}`;
    const r = await post('/api/auth/register', null, { username, email: `${username}@example.com`, password: PASSWORD });
    if (!r.body?.access_token) throw new Error(`registering ${username} failed: ${JSON.stringify(r)}`);
    users.push({ token: r.body.access_token, id: String(r.body.user_id), username });
  }
  return admin;
}

// ---- the run -----------------------------------------------------------------------------------------------------

try {
  await startRuntime();
  const admin = await setupUsers();
  const actors = chaosActors(kit, admin, users);

  const totals = Object.fromEntries(actors.map((x) => [x.name, 0]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const x of actors) await x.setup(round);
    const running = actors.flatMap((x) => x.clients.map((c) => c()));
    let stall;
    const stalled = new Promise((resolve) => {
      stall = setTimeout(() => resolve('stalled'), STALL_MS);
    });
    const armed = await Promise.race([Promise.all(actors.map((x) => x.lane.reached)), stalled]);
    clearTimeout(stall);
    await kill9();
    for (const x of actors) x.lane.stopped = true;
    for (const x of actors) x.down();
    await Promise.all(running);
    const counts = actors.map((x) => `${x.name} ${x.lane.acked}/${x.lane.target}`).join(', ');
    check(armed !== 'stalled', `round ${round}: every actor reached its number of acknowledged ops before the kill (${counts})`);
    for (const x of actors) totals[x.name] += x.lane.acked;
    log(`round ${round}: in flight at the kill: ${actors.map((x) => `${x.name} ${x.unanswered?.size ?? 0}`).join(', ')}`);
    log(`round ${round}: killed mid-burst (acked/target: ${counts}); restarting`);
    await startRuntime();
    for (const x of actors) await x.retry();
    for (const x of actors) {
      try {
        await x.verify(round);
      } catch (err) {
        check(false, `round ${round} ${x.name}: ${err.message}`);
      }
    }
  }
  log(
    `acknowledged over ${ROUNDS} rounds: ${Object.entries(totals)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
} catch (err) {
  kit.results.failed++;
  console.log(`FAIL ${err.stack ?? err.message}`);
  if (server) console.log(server.output.join('').slice(-3000));
}
killRuntime();
console.log(`${kit.results.passed} passed, ${kit.results.failed} failed`);
process.exit(kit.results.failed ? 1 : 0);
