// Scenario 5: an authenticated GET (JWT verify, the revocation read in D1, the limiter actors, the route's own
// read) under closed-loop load from autocannon. Requests rotate over USERS players and over client addresses,
// as many real players would: one player alone is held to 500/min by the per-user limit.
import autocannon from 'autocannon';
import { roomName } from './connections.mjs';

const USERS = 32;
/** The lightest authenticated GET that reads D1, in order of preference; the orchestrator poll exists since seed 004. */
const CANDIDATES = ['/api/players/me', '/api/users/me', '/api/auth/me', '/api/orchestrator/events'];

export async function rest(target, { quick, edge }) {
  if (target.name !== 'edgerooms') return { skipped: 'the baselines serve no REST API' };
  const paths = await edge.openApiPaths();
  const path = CANDIDATES.find((p) => paths.includes(p));
  if (!path) return { notRun: 'no authenticated GET route is served' };
  const tokens = [];
  for (let i = 0; i < USERS; i++) tokens.push(await edge.userToken(roomName(i)));
  let n = 0;
  const result = await autocannon({
    url: `${edge.base}${path}`,
    connections: quick ? 16 : 32,
    duration: quick ? 5 : 10,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const token = tokens[n++ % tokens.length];
          req.headers = { ...req.headers, authorization: `Bearer ${token}`, 'cf-connecting-ip': edge.addresses.next() };
          return req;
        },
      },
    ],
  });
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, Number(v.count)]));
  return {
    path,
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
  };
}
