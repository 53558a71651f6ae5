#!/usr/bin/env node
// `npm run bench:eventbus:http [-- --port P] [-- --base URL] [-- --seconds S]`: seed 003's event bus measured from
// outside the Worker, over HTTP, against `npm start` (the production bundle on workerd; started here on --port with
// a fresh state directory, or an already running Worker at --base). Prints a Markdown table; asserts nothing.
//
// - Publishing: one service token sends a batch of 1,000 to `POST /api/events` once a second for S seconds (default
//   20). The tenant limit is 1,000 events a second, so what is accepted is the rate one bus actor holds at the
//   seed's limit; the time a 1,000-event request takes is what the actor and the route could do without it.
// - Polling: `GET /api/events/poll?limit=100` over the stream that left (≥ 10,000 events), one request at a time,
//   paging with nextEventId; several users, as each may poll 60 times a minute.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startProductionServer, stopServer, waitForServer } from '../scripts/lib/worker.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    base: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    users: { type: 'string', default: '8' },
  },
});

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const ms = (x) => `${Math.round(x * 10) / 10} ms`;
const payload = { orderId: 'order-789', amount: 1000, currency: 'NGN', note: 'x'.repeat(100) };

async function json(base, path, { token, body, method, ip } = {}) {
  const res = await fetch(`${base}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      // Register and login allow 5 a minute per IP: each bench user comes from its own address.
      ...(ip ? { 'CF-Connecting-IP': ip } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function measure(base) {
  const admin = await json(base, '/api/auth/login', {
    body: { username: process.env.ADMIN_USERNAME ?? 'admin', password: process.env.ADMIN_PASSWORD ?? 'EdgeRooms-Admin-1' },
    ip: '10.77.0.1',
  });
  if (admin.status !== 200) throw new Error(`admin login: ${admin.status} ${JSON.stringify(admin.body)}`);
  const minted = await json(base, '/api/admin/service-tokens', {
    token: admin.body.access_token,
    body: { name: `bench-${Date.now().toString(36)}` },
  });
  if (minted.status !== 201) throw new Error(`service token: ${minted.status} ${JSON.stringify(minted.body)}`);
  const service = minted.body.token;

  // Publishing at the seed's limit, batches of 1,000, one publisher.
  const batch = JSON.stringify({ events: Array.from({ length: 1000 }, () => ({ eventType: 'order.placed', payload })) });
  const seconds = Number(args.seconds);
  const accepted = [];
  let refused = 0;
  const started = performance.now();
  // Paced as a publisher that knows the limit would: a batch of 1,000 once a second (a 429 waits 50 ms and retries).
  let lastAccepted = -Infinity;
  while (performance.now() - started < seconds * 1000) {
    const wait = lastAccepted + 1005 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const t0 = performance.now();
    const r = await json(base, '/api/events', { token: service, body: batch });
    const took = performance.now() - t0;
    if (r.status === 201) {
      accepted.push(took);
      lastAccepted = t0;
    } else if (r.status === 429) {
      refused++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } else throw new Error(`publish: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const wall = (performance.now() - started) / 1000;
  const rows = [
    `| \`POST /api/events\`, batches of 1,000, ${Math.round(wall)} s | ${Math.round((accepted.length * 1000) / wall)} events/s accepted (${accepted.length} batches, ${refused} answered 429) |`,
    `| the same, time of one 1,000-event request | p50 ${ms(quantile(accepted, 0.5))}, p99 ${ms(quantile(accepted, 0.99))}: ${Math.round(1000 / (quantile(accepted, 0.5) / 1000))} events/s if the tenant limit did not apply |`,
  ];

  // Polling: users of the default tenant, 55 requests each (the limit is 60 a minute), one request at a time.
  const users = [];
  for (let i = 0; i < Number(args.users); i++) {
    const name = `bench${Date.now().toString(36)}${i}`;
    const r = await json(base, '/api/auth/register', {
      body: { username: name, password: 'Bench-Pass-123!' },
      ip: `10.77.1.${i + 1}`,
    });
    if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
    users.push(r.body.access_token);
  }
  const times = [];
  let events = 0;
  for (const token of users) {
    let cursor;
    for (let i = 0; i < 55; i++) {
      const t0 = performance.now();
      const r = await json(base, `/api/events/poll?limit=100${cursor ? `&lastEventId=${encodeURIComponent(cursor)}` : ''}`, {
        token,
      });
      times.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`poll: ${r.status} ${JSON.stringify(r.body)}`);
      events += r.body.events.length;
      cursor = r.body.hasMore ? r.body.nextEventId : undefined;
    }
  }
  rows.push(
    `| \`GET /api/events/poll?limit=100\`, ${times.length} requests one at a time (${users.length} users paging a ≥ ${accepted.length}k-event stream) | p50 ${ms(quantile(times, 0.5))}, p99 ${ms(quantile(times, 0.99))} (${Math.round(events / times.length)} events a page) |`,
  );
  return rows;
}

let server;
let state;
let base = args.base;
try {
  if (!base) {
    state = mkdtempSync(join(tmpdir(), 'eventbus-bench-'));
    server = startProductionServer(Number(args.port), ['--persist-to', state]);
    base = `http://127.0.0.1:${args.port}`;
    await waitForServer(base, server).catch((err) => {
      console.error(server.output.join(''));
      throw err;
    });
  }
  const rows = await measure(base);
  console.log(['| measurement (out of process, HTTP) | figure |', '| --- | --- |', ...rows].join('\n'));
} finally {
  await stopServer(server);
  if (state) rmSync(state, { recursive: true, force: true });
}
