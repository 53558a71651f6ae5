// Scenario 5: an authenticated GET (JWT verify, the revocation read in D1, the limiter actors, the route's own
// read) under closed-loop load from autocannon, against EdgeRooms and against a Hono-on-Node server doing the same
// verify and the same two reads with node:sqlite on a snapshot of EdgeRooms' own D1 file (bench/servers/
// rest-node.mjs). Same clients, same tokens, same addresses; the runs alternate (full: E N E N, quick: E N).
// Requests rotate over USERS players and over client addresses, as many real players would: one player alone is
// held to 500/min by EdgeRooms' per-user limit, so USERS × 500/min caps what EdgeRooms may answer with 200.
// Each measured run follows WARM_SECONDS of the same load, unmeasured, on either server.
import { join } from 'node:path';
import autocannon from 'autocannon';
import { groupCpuSeconds, spawnGroup, stopGroup } from '../lib/processes.mjs';
import { freePort, round, withTimeout } from '../lib/util.mjs';
import { roomName } from './connections.mjs';

const USERS = 64;
/** The lightest authenticated GET that reads D1, in order of preference; the orchestrator poll exists since seed 004. */
const CANDIDATES = ['/api/players/me', '/api/users/me', '/api/auth/me', '/api/orchestrator/events'];

/** Unmeasured load before each measured run, for every server alike: JIT, first reads, EdgeRooms' per-user limiter objects. */
const WARM_SECONDS = 2;

async function load(url, tokens, addresses, quick, cpuSeconds) {
  await hammer(url, tokens, addresses, quick, WARM_SECONDS);
  const cpuBefore = cpuSeconds();
  const result = await hammer(url, tokens, addresses, quick, quick ? 5 : 10);
  const cpu = cpuSeconds() - cpuBefore;
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, Number(v.count)]));
  return {
    connections: result.connections,
    seconds: result.duration,
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    cpuSeconds: round(cpu, 3),
    cpuMillisPerRequest: result.requests.total ? round((cpu * 1000) / result.requests.total, 3) : null,
  };
}

function hammer(url, tokens, addresses, quick, duration) {
  let n = 0;
  return autocannon({
    url,
    connections: quick ? 16 : 32,
    duration,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const token = tokens[n++ % tokens.length];
          req.headers = { ...req.headers, authorization: `Bearer ${token}`, 'cf-connecting-ip': addresses.next() };
          return req;
        },
      },
    ],
  });
}

/** bench/servers/rest-node.mjs on a snapshot of EdgeRooms' D1 file, pinned like every server. */
async function startNodeBaseline(edge) {
  const port = await freePort();
  const script = join(edge.root, 'bench', 'servers', 'rest-node.mjs');
  const copy = join(edge.root, 'bench', '.tmp', 'rest-node.sqlite');
  const child = spawnGroup(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', script, '--port', String(port), '--source', edge.d1File(), '--copy', copy],
    { cwd: edge.root, env: { ...edge.env, ...edge.jwtSettings() }, log: edge.log, ipc: true },
  );
  await withTimeout(
    new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`rest-node.mjs exited with ${code}`)));
    }),
    15_000,
    'rest-node.mjs start',
  );
  return { child, base: `http://127.0.0.1:${port}` };
}

const mean = (runs, key) => round(runs.reduce((a, r) => a + (r[key] ?? 0), 0) / runs.length, 3);
const summary = (runs) => ({
  requestsPerSecond: Math.round(mean(runs, 'requestsPerSecond')),
  p99: mean(runs, 'p99'),
  cpuMillisPerRequest: mean(runs, 'cpuMillisPerRequest'),
});

export async function rest(target, { quick, edge }) {
  if (target.name !== 'edgerooms') return { skipped: 'the baselines serve no REST API (the Hono-on-Node one is in this row)' };
  const paths = await edge.openApiPaths();
  const path = CANDIDATES.find((p) => paths.includes(p));
  if (!path) return { notRun: 'no authenticated GET route is served' };
  const tokens = [];
  for (let i = 0; i < USERS; i++) tokens.push(await edge.userToken(roomName(i)));

  const rounds = quick ? 1 : 2;
  const edgeRuns = [];
  const nodeRuns = [];
  let node = null;
  let nodeError = null;
  try {
    for (let i = 0; i < rounds; i++) {
      edgeRuns.push(await load(`${edge.base}${path}`, tokens, edge.addresses, quick, () => target.cpuSeconds()));
      if (nodeError) continue;
      try {
        node ??= await startNodeBaseline(edge);
        const pid = node.child.pid;
        nodeRuns.push(await load(`${node.base}/api/players/me`, tokens, edge.addresses, quick, () => groupCpuSeconds(pid)));
      } catch (err) {
        nodeError = String(err?.message ?? err).slice(0, 300);
      }
    }
  } finally {
    if (node) await stopGroup(node.child);
  }
  const e = summary(edgeRuns);
  const n = nodeRuns.length ? summary(nodeRuns) : null;
  return {
    path,
    users: USERS,
    ...edgeRuns[0],
    runs: edgeRuns,
    mean: e,
    honoNode: n ? { path: '/api/players/me', runs: nodeRuns, mean: n } : { error: nodeError ?? 'not run' },
    ratioToHonoNode: n?.requestsPerSecond ? round(e.requestsPerSecond / n.requestsPerSecond, 3) : null,
  };
}
