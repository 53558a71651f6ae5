import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { CraftingSyncClient } from '../../src/client/crafting-udp';
import { encodePacket, KIND_PROGRESS } from '../../src/dialects/crafting-udp';
import { call, expectError, nextIp } from '../support/api';
import type { Frame } from '../support/sockets';
import { api, type Crafters, crafters, openCraftSocket, sessionStub, startSession, upgrade } from './crafting-helpers';

let t: Crafters;
beforeAll(async () => {
  t = await crafters();
});

describe('POST /health/batch', () => {
  it('answers each named service; unknown names are "unknown", not errors', async () => {
    const r = await call('/health/batch', {
      body: { services: ['d1', 'crafting', 'queue', 'websocket', 'udp', 'metrics', 'actors', 'billing', 'd1'] },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe('healthy');
    expect(r.body.services.billing).toMatchObject({ status: 'unknown' });
    for (const name of ['d1', 'crafting', 'queue', 'websocket', 'udp', 'metrics', 'actors']) {
      expect(r.body.services[name], name).toMatchObject({ status: 'healthy' });
      expect(typeof r.body.services[name].latency).toBe('number');
    }
  });

  it('refuses anything but a list of 1..20 names', async () => {
    for (const body of [
      {},
      { services: [] },
      { services: 'd1' },
      { services: [''] },
      { services: Array(21).fill('d1') },
      { services: ['d1'], x: 1 },
    ]) {
      expectError(await call('/health/batch', { body }), 400, 'INVALID_REQUEST');
    }
    expectError(
      await call('/health/batch', { raw: '{nope', headers: { 'content-type': 'application/json' } }),
      400,
      'INVALID_REQUEST',
    );
  });

  it('limits health checks to 60 a minute per IP', async () => {
    const ip = nextIp();
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++) {
      const r = await SELF.fetch('https://edge.test/health/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'CF-Connecting-IP': ip },
        body: JSON.stringify({ services: ['unlisted'] }),
      });
      statuses.push(r.status);
      await r.arrayBuffer();
    }
    // A burst of 60, then one a second: the first 60 pass, the rest of this quick burst mostly does not.
    expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });
});

describe('GET /health/ws', () => {
  it('streams WebSocketHealthMessages: one at once, pong to ping, another on check', async () => {
    expect((await call('/health/ws', { method: 'GET' })).status).toBe(426);
    expectError(
      await call('/health/ws?interval=0', { method: 'GET', headers: { Upgrade: 'websocket' } }),
      400,
      'INVALID_REQUEST',
    );
    const res = await upgrade('/health/ws?interval=60&services=d1,crafting,nope', null);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const frames: Frame[] = [];
    ws.addEventListener('message', (e) => {
      frames.push(JSON.parse(e.data as string));
    });
    const wait = async (n: number) => {
      for (let i = 0; i < 300 && frames.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(frames.length).toBeGreaterThanOrEqual(n);
    };
    await wait(1);
    expect(frames[0]).toMatchObject({ type: 'health', data: { status: 'healthy', intervalSeconds: 60 } });
    expect(frames[0]!.data.services.nope.status).toBe('unknown');
    ws.send(JSON.stringify({ type: 'ping' }));
    await wait(2);
    expect(frames[1]!.type).toBe('pong');
    ws.send(JSON.stringify({ type: 'check' }));
    await wait(3);
    expect(frames[2]!.type).toBe('health');
    ws.send('what');
    await wait(4);
    expect(frames[3]).toMatchObject({ type: 'error', data: { code: 'INVALID_REQUEST' } });
    ws.close(1000);
  });
});

/** A minimal Prometheus text 0.0.4 parser: families with HELP and TYPE, samples with labels. */
function parseExposition(text: string) {
  const families = new Map<string, { type: string; help: string }>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      families.set(m[1]!, { type: '', help: m[2]! });
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      expect(families.has(m[1]!), `TYPE after HELP for ${m[1]}`).toBe(true);
      families.get(m[1]!)!.type = m[2]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    const body = m![3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let consumed = 0;
    for (let lm = re.exec(body); lm; lm = re.exec(body)) {
      labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      consumed = re.lastIndex;
    }
    expect(consumed, `labels: ${body}`).toBe(body.length);
    const value = m![4] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m![4]);
    expect(Number.isNaN(value)).toBe(false);
    const family = m![1]!.replace(/_(bucket|sum|count)$/, '');
    expect(families.has(m![1]!) || families.get(family)?.type === 'histogram', `family of ${m![1]}`).toBe(true);
    samples.push({ name: m![1]!, labels, value });
  }
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  return { families, samples, value };
}

describe('GET /metrics', () => {
  const scrape = async (token: string) => {
    const res = await SELF.fetch('https://edge.test/metrics', {
      headers: { authorization: `Bearer ${token}`, 'CF-Connecting-IP': nextIp() },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseExposition(await res.text());
  };

  it('is for the metrics token, service and admin tokens only', async () => {
    expectError(await call('/metrics', { method: 'GET' }), 401, 'AUTHENTICATION_REQUIRED');
    expectError(await call('/metrics', { method: 'GET', token: t.alice.access_token }), 403, 'AUTHORIZATION_FAILED');
    expectError(await call('/metrics', { method: 'GET', token: 'wrong-token' }), 401, 'AUTHENTICATION_REQUIRED');
    await scrape(env.METRICS_TOKEN as string);
    await scrape(t.admin.access_token);
  });

  it('reports what the actors counted: packets by result, keyframes, bytes, connections, latency, sessions', async () => {
    const before = await scrape(t.service);
    const c2 = await crafters();
    const s = await startSession(c2.alice.access_token, 'plank');
    const stub = sessionStub(c2.tenant, s.id);
    await stub.configure({ metricsReportMs: 0 });
    const sync = new CraftingSyncClient({
      baseUrl: 'https://edge.test',
      sessionId: s.id,
      tenantId: c2.tenant,
      token: c2.alice.access_token,
      fetch: (i, init) => SELF.fetch(i, init),
    });
    await sync.connect();
    await sync.poll('progress'); // accepted: a keyframe
    await sync.poll('progress'); // accepted
    const dup = sync.packet('progress');
    expect((await sync.send('progress', dup)).status).toBe(200);
    expect((await sync.send('progress', dup)).dropped).toBe('duplicate');
    const stale = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 1, baseSeq: 0, timestamp: Date.now(), token: sync.receiver.token! },
      new Uint8Array(0),
    );
    expect((await sync.send('progress', stale)).dropped).toBe('stale');
    const ws = await openCraftSocket(`/ws/crafting/${s.id}`, c2.bob.access_token);
    ws.send({ type: 'ping' });
    await ws.waitFor((f) => f.type === 'pong');
    await runDurableObjectAlarm(stub);

    const after = await scrape(t.service);
    const d = (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
    expect(d('edgerooms_crafting_udp_packets_total', { channel: 'progress', result: 'accepted' })).toBe(3);
    expect(d('edgerooms_crafting_udp_packets_total', { channel: 'progress', result: 'duplicate' })).toBe(1);
    expect(d('edgerooms_crafting_udp_packets_total', { channel: 'progress', result: 'stale' })).toBe(1);
    expect(d('edgerooms_crafting_udp_keyframes_total', { channel: 'progress' })).toBeGreaterThanOrEqual(1);
    expect(d('edgerooms_crafting_udp_bytes_total', { channel: 'progress', direction: 'in' })).toBe(5 * 40);
    expect(d('edgerooms_ws_connections', { endpoint: 'crafting' })).toBe(1);
    expect(d('edgerooms_ws_messages_total', { endpoint: 'crafting', direction: 'in' })).toBe(1);
    expect(d('edgerooms_ws_messages_total', { endpoint: 'crafting', direction: 'out' })).toBeGreaterThanOrEqual(2);
    expect(d('edgerooms_crafting_delivery_latency_ms_count', { path: 'udp_answer' })).toBe(3);
    expect(after.value('edgerooms_crafting_udp_peers')).toBeGreaterThanOrEqual(1);
    // Histogram: cumulative buckets, +Inf equals the count.
    const buckets = after.samples.filter(
      (x) => x.name === 'edgerooms_crafting_delivery_latency_ms_bucket' && x.labels.path === 'udp_answer',
    );
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(after.value('edgerooms_crafting_delivery_latency_ms_count', { path: 'udp_answer' }));
    expect(after.families.get('edgerooms_crafting_udp_packets_total')?.type).toBe('counter');
    expect(after.families.get('edgerooms_crafting_delivery_latency_ms')?.type).toBe('histogram');
    expect(after.value('edgerooms_metrics_reporters')).toBeGreaterThan(0);
    ws.close();
    await api(`/api/crafting/sessions/${s.id}`, c2.alice.access_token, { method: 'DELETE' });
  });
});
