import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { craftingActor, craftingQueueActor, HEALTH_LIMITER_KEY, HEALTH_PROBE_TENANT, rateLimiterActor } from '../../actors/keys';
import { verifyAccessToken } from '../../auth/tokens';
import { type MetricFamily, renderPrometheus, type Sample, sumSamples } from '../../core/metrics';
import { countSessionsByStatus } from '../../db/crafting';
import { readActorMetrics } from '../../db/metrics';
import { decodePacket, encodePacket, KIND_PROGRESS } from '../../dialects/crafting-udp';
import type { Env } from '../../env';
import { ApiError } from '../../errors';
import type { AppEnv } from '../context';
import { rateLimitBy } from '../middleware/rate-limit';
import { errorContent as error, jsonContent, jsonRequest } from '../openapi';
import { requireUpgrade } from '../realtime';
import { router } from '../validation';

/**
 * Seed 002's health and monitoring beyond `GET /health`: `POST /health/batch`, the `GET /health/ws` stream of
 * `WebSocketHealthMessage`s, and `GET /metrics` (Prometheus text 0.0.4 from every crafting actor's report).
 */

type Status = 'healthy' | 'unhealthy' | 'unknown';
interface ServiceHealth {
  status: Status;
  latency?: number;
  lastCheck: string;
  error?: string;
}

/** The services this Worker can check, by the names clients ask for. */
const PROBES: Record<string, (env: Env) => Promise<unknown>> = {
  d1: (env) => env.DB.prepare('SELECT 1').first(),
  actors: (env) => rateLimiterActor(env, HEALTH_LIMITER_KEY).ping(),
  crafting: (env) => craftingActor(env, HEALTH_PROBE_TENANT, 'probe').ping(),
  queue: (env) => craftingQueueActor(env, HEALTH_PROBE_TENANT, 'probe').ping(),
  metrics: (env) => env.DB.prepare('SELECT COUNT(*) AS n FROM actor_metrics').first(),
  // The runtime's WebSocket: a message round trip over a local pair.
  websocket: async () => {
    const pair = new WebSocketPair();
    const [a, b] = [pair[0], pair[1]];
    a.accept();
    b.accept();
    const echoed = new Promise<void>((resolve) => b.addEventListener('message', () => resolve(), { once: true }));
    a.send('ping');
    await echoed;
    a.close(1000);
  },
  // The sync packet codec the UDP endpoints run, end to end on a sample packet.
  udp: async () => {
    const bytes = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 1, baseSeq: 0, timestamp: Date.now(), token: new Uint8Array(16) },
      new Uint8Array(0),
    );
    if (decodePacket(bytes).header.seq !== 1) throw new Error('packet codec round trip failed');
  },
};
export const KNOWN_SERVICES = Object.keys(PROBES);

async function check(env: Env, name: string): Promise<ServiceHealth> {
  const probe = PROBES[name];
  const lastCheck = new Date().toISOString();
  if (!probe) return { status: 'unknown', lastCheck };
  const started = Date.now();
  try {
    await probe(env);
    return { status: 'healthy', latency: Date.now() - started, lastCheck };
  } catch (err) {
    return { status: 'unhealthy', latency: Date.now() - started, lastCheck, error: (err as Error).message.slice(0, 200) };
  }
}

async function checkAll(env: Env, names: string[]) {
  const results = await Promise.all(names.map(async (n) => [n, await check(env, n)] as const));
  const services = Object.fromEntries(results);
  const known = results.filter(([, h]) => h.status !== 'unknown').map(([, h]) => h.status);
  const status = known.every((s) => s === 'healthy')
    ? 'healthy'
    : known.every((s) => s === 'unhealthy')
      ? 'unhealthy'
      : 'degraded';
  return { status, services, timestamp: new Date().toISOString() };
}

const ServiceName = z.string().min(1).max(64);
const BatchRequest = z
  .object({ services: z.array(ServiceName).min(1).max(20) })
  .strict()
  .openapi('HealthBatchRequest', { example: { services: ['d1', 'crafting', 'websocket', 'billing'] } });
const ServiceHealthSchema = z.object({
  status: z.enum(['healthy', 'unhealthy', 'unknown']),
  latency: z.number().optional(),
  lastCheck: z.string(),
  error: z.string().optional(),
});
const BatchAnswer = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    services: z.record(z.string(), ServiceHealthSchema),
    timestamp: z.string(),
  })
  .openapi('HealthBatch');

const batchRoute = createRoute({
  method: 'post',
  path: '/health/batch',
  summary: `Health of several named services in one answer (known: ${KNOWN_SERVICES.join(', ')}; others are "unknown")`,
  request: { body: jsonRequest(BatchRequest) },
  responses: {
    200: jsonContent(BatchAnswer, 'Each service checked; the overall status counts the known ones'),
    400: error('Not a list of 1..20 service names'),
    429: error('More than 60 health checks a minute from this IP'),
  },
});

export const craftingHealth = router();
const healthLimit = rateLimitBy('HEALTH', 'ip');
craftingHealth.use('/health/batch', healthLimit);
craftingHealth.use('/health/ws', healthLimit);

craftingHealth.openapi(batchRoute, async (c) => {
  const { services } = c.req.valid('json');
  return c.json((await checkAll(c.env, [...new Set(services)])) as z.infer<typeof BatchAnswer>, 200);
});

/** `WebSocketHealthMessage`: `{type:'health'|'health_changed'|'pong'|'error', timestamp, data}`. */
const healthMessage = (type: string, data: unknown) => JSON.stringify({ type, timestamp: new Date().toISOString(), data });

const DEFAULT_WS_SERVICES = ['d1', 'actors', 'crafting', 'queue'];

craftingHealth.get('/health/ws', async (c) => {
  const refused = requireUpgrade(c);
  if (refused) return refused;
  const intervalParam = c.req.query('interval');
  const interval = intervalParam === undefined ? 10 : Number(intervalParam);
  if (!Number.isInteger(interval) || interval < 1 || interval > 300) {
    throw new ApiError('INVALID_REQUEST', 'interval is whole seconds, 1..300', { details: { field: 'interval' } });
  }
  const names =
    c.req
      .query('services')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .slice(0, 20) ?? DEFAULT_WS_SERVICES;
  if (names.length === 0 || names.some((n) => n.length > 64)) {
    throw new ApiError('INVALID_REQUEST', 'services is a comma-separated list of names', { details: { field: 'services' } });
  }
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  server.accept();
  const env = c.env;
  let last = '';
  let open = true;
  // Checks every `interval` seconds; a change of any status is announced as `health_changed`.
  const tick = async (forced = false) => {
    const report = await checkAll(env, names);
    if (!open) return;
    const signature = JSON.stringify(Object.entries(report.services).map(([n, h]) => [n, h.status]));
    const changed = last !== '' && signature !== last;
    last = signature;
    try {
      server.send(healthMessage(changed && !forced ? 'health_changed' : 'health', { ...report, intervalSeconds: interval }));
    } catch {
      open = false;
    }
  };
  const timer = setInterval(() => void tick(), interval * 1000);
  server.addEventListener('message', (e) => {
    const text = typeof e.data === 'string' ? e.data : '';
    let type: unknown = text;
    try {
      type = (JSON.parse(text) as { type?: unknown }).type;
    } catch {
      // plain text: `ping`
    }
    if (type === 'ping') server.send(healthMessage('pong', {}));
    else if (type === 'check') void tick(true);
    else server.send(healthMessage('error', { code: 'INVALID_REQUEST', message: 'Send {"type":"ping"} or {"type":"check"}' }));
  });
  server.addEventListener('close', () => {
    open = false;
    clearInterval(timer);
    try {
      server.close(1000, 'Closed');
    } catch {
      // already closed
    }
  });
  void tick(true);
  return new Response(null, { status: 101, webSocket: client });
});

// ---- /metrics ----------------------------------------------------------------------------------------------

const FAMILIES: MetricFamily[] = [
  {
    name: 'edgerooms_ws_connections',
    type: 'gauge',
    help: 'Open WebSockets by endpoint (crafting, crafting-udp, crafting-queue), as their actors last reported',
  },
  { name: 'edgerooms_ws_messages_total', type: 'counter', help: 'WebSocket frames by endpoint and direction' },
  { name: 'edgerooms_ws_bytes_total', type: 'counter', help: 'WebSocket bytes by endpoint and direction' },
  {
    name: 'edgerooms_crafting_delivery_latency_ms',
    type: 'histogram',
    help: "From an input's arrival in a session actor to its frames handed to the sockets, ms",
  },
  { name: 'edgerooms_crafting_sessions', type: 'gauge', help: 'Crafting sessions by status (D1, written behind)' },
  { name: 'edgerooms_crafting_queue_entries', type: 'gauge', help: 'Entries in all player queues by status' },
  {
    name: 'edgerooms_crafting_active_sessions',
    type: 'gauge',
    help: 'Sessions running or paused, as their actors last reported',
  },
  {
    name: 'edgerooms_crafting_state_bytes',
    type: 'gauge',
    help: "Session actors' own state in memory by part (session, sync streams, per-connection bookkeeping), JSON bytes",
  },
  { name: 'edgerooms_crafting_storage_bytes', type: 'gauge', help: "Session actors' SQLite size, bytes" },
  {
    name: 'edgerooms_crafting_udp_packets_total',
    type: 'counter',
    help: 'Sync packets received by channel and result (accepted, stale, duplicate, rejected)',
  },
  { name: 'edgerooms_crafting_udp_bytes_total', type: 'counter', help: 'Sync packet bytes over HTTP by channel and direction' },
  { name: 'edgerooms_crafting_udp_keyframes_total', type: 'counter', help: 'Full-state packets sent, by channel' },
  { name: 'edgerooms_crafting_udp_deltas_total', type: 'counter', help: 'Delta packets sent, by channel' },
  { name: 'edgerooms_crafting_udp_unchanged_total', type: 'counter', help: 'Unchanged answers sent, by channel' },
  { name: 'edgerooms_crafting_udp_peers', type: 'gauge', help: 'Sync peers with a valid session token' },
  {
    name: 'edgerooms_rate_limited_total',
    type: 'counter',
    help: 'Refusals by limit (ws_messages, udp_packets, session_watchers, player_sockets, queue_sockets)',
  },
  { name: 'edgerooms_eventbus_events_total', type: 'counter', help: "Events appended to the tenants' event buses" },
  {
    name: 'edgerooms_eventbus_events_per_second',
    type: 'gauge',
    help: 'Appends per second (each bus over its last 10 s), as the buses last reported',
  },
  { name: 'edgerooms_metrics_reporters', type: 'gauge', help: 'Actors whose reports these figures sum' },
];

/** Who may scrape: `METRICS_TOKEN` (a static bearer secret) when set, else tokens of the roles in `METRICS_ROLES`. */
async function authorizeScrape(c: Context<AppEnv>): Promise<void> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
  const token = m?.[1];
  if (!token) {
    throw new ApiError('AUTHENTICATION_REQUIRED', 'Send Authorization: Bearer <metrics token or service/admin access token>');
  }
  const secret = c.env.METRICS_TOKEN;
  if (secret && token.length === secret.length && timingSafeEqual(token, secret)) return;
  const identity = await verifyAccessToken(c.env, token);
  const roles = (c.env.METRICS_ROLES ?? 'service,admin').split(',').map((r) => r.trim());
  if (!roles.includes(identity.role)) {
    throw new ApiError('AUTHORIZATION_FAILED', `Metrics are for ${roles.join(' or ')} tokens`, { details: { required: roles } });
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

craftingHealth.openAPIRegistry.registerPath({
  method: 'get',
  path: '/metrics',
  tags: ['Health'],
  summary: 'Prometheus metrics of the crafting actors and event buses (text exposition format 0.0.4)',
  description: `Sums of every reporting actor's last report (D1 actor_metrics) plus crafting session counts from D1. Families: ${FAMILIES.map((f) => f.name).join(', ')}. Scrape with \`Authorization: Bearer <METRICS_TOKEN>\` (a static secret, when set) or an access token of a role in METRICS_ROLES (default service, admin).`,
  security: [{ Bearer: [] }],
  responses: {
    200: {
      description: 'The metrics, never cached',
      content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: z.string() } },
    },
    401: error('No token, or not a valid one'),
    403: error('A valid token whose role may not scrape'),
  },
});

craftingHealth.get('/metrics', async (c) => {
  await authorizeScrape(c);
  const reports = await readActorMetrics(c.env.DB);
  const sessions = await countSessionsByStatus(c.env.DB);
  const extra: Sample[] = [
    ...['queued', 'running', 'paused', 'completed', 'cancelled', 'failed'].map((status) => ({
      name: 'edgerooms_crafting_sessions',
      labels: { status },
      value: sessions[status] ?? 0,
    })),
    { name: 'edgerooms_metrics_reporters', labels: {}, value: reports.length },
  ];
  const body = renderPrometheus(FAMILIES, [...sumSamples(reports), ...extra]);
  return c.body(body, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
});
