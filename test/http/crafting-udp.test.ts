import { runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { CraftingSyncClient, SyncReceiver } from '../../src/client/crafting-udp';
import {
  decodePacket,
  decodeProgressKeyframe,
  encodePacket,
  FLAG_DELTA,
  FLAG_KEYFRAME,
  FLAG_UNCHANGED,
  HEADER_BYTES,
  KIND_PROGRESS,
  tokenFromHex,
} from '../../src/dialects/crafting-udp';
import { expectError } from '../support/api';
import { api, type Crafters, crafters, openCraftSocket, sessionStub, startSession } from './crafting-helpers';

const fetchWorker = (input: string, init?: RequestInit) => SELF.fetch(input, init);
const client = (t: Crafters, sessionId: string, token = t.alice.access_token, tenantId = t.tenant) =>
  new CraftingSyncClient({ baseUrl: 'https://edge.test', sessionId, tenantId, token, fetch: fetchWorker });

async function post(path: string, bytes: Uint8Array, headers: Record<string, string>) {
  const res = await SELF.fetch(`https://edge.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body: bytes,
  });
  const text = res.status === 200 ? null : await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, res };
}

let t: Crafters;
let sessionId: string;
beforeAll(async () => {
  t = await crafters();
  sessionId = (
    await startSession(t.alice.access_token, 'iron_sword').catch(() => startSession(t.alice.access_token, 'leather_armor'))
  ).id;
});

describe('POST /udp/sessions/{id}/connect', () => {
  it('negotiates a token, packet size, keyframe interval and version', async () => {
    const c = client(t, sessionId);
    const n = await c.connect({ maxPacketSize: 512, keyframeInterval: 10, keyframeIntervalMs: 2000, version: 1 });
    expect(n).toMatchObject({
      version: 1,
      maxPacketSize: 512,
      keyframeInterval: 10,
      keyframeIntervalMs: 2000,
      headerBytes: HEADER_BYTES,
      tickHz: 20,
    });
    expect(n.sessionToken).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses bad parameters, no token, another tenant and unknown sessions', async () => {
    const path = `/udp/sessions/${sessionId}/connect`;
    for (const body of [{ version: 2 }, { maxPacketSize: 63 }, { maxPacketSize: 65537 }, { keyframeInterval: 0 }, { bogus: 1 }]) {
      expectError(await api(path, t.alice.access_token, { method: 'POST', body }), 400, 'INVALID_REQUEST');
    }
    expectError(await api(path, undefined, { method: 'POST', body: {} }), 401, 'AUTHENTICATION_REQUIRED');
    const other = await crafters();
    expectError(await api(path, other.alice.access_token, { method: 'POST', body: {} }), 404, 'NOT_FOUND');
    expectError(await api('/udp/sessions/cs_none/connect', t.alice.access_token, { method: 'POST', body: {} }), 404, 'NOT_FOUND');
  });
});

describe('progress and materials packets over HTTP', () => {
  it('a first packet gets a keyframe; the next a delta from the base it names (or unchanged)', async () => {
    const c = client(t, sessionId);
    await c.connect();
    const first = await c.poll('progress');
    expect(first.status).toBe(200);
    expect(first.applied).toMatchObject({ applied: true, kind: 'keyframe' });
    expect(c.state.progress?.stageCount).toBeGreaterThan(0);
    const second = await c.poll('progress');
    expect(second.applied?.applied).toBe(true);
    expect(['delta', 'unchanged', 'keyframe']).toContain((second.applied as { kind: string }).kind);
    const mats = await c.poll('materials');
    expect(mats.applied).toMatchObject({ kind: 'keyframe' });
    const real = (await api(`/api/crafting/materials/${t.alice.user_id}`, t.alice.access_token)).body.materials;
    expect(c.state.materials).toEqual(real);
    // Nothing changed in the materials since: the answer is "unchanged", no body.
    const again = await c.poll('materials');
    const h = decodePacket(again.answer as Uint8Array).header;
    expect(h.flags & FLAG_UNCHANGED).toBeTruthy();
    expect(h.bodyLength).toBe(0);
  });

  it('a paused session answers unchanged to a receiver on the head, and a delta to one on an older base', async () => {
    const c2 = await crafters();
    const s = await startSession(c2.alice.access_token, 'plank');
    await api(`/api/crafting/sessions/${s.id}/pause`, c2.alice.access_token, { method: 'POST' });
    const c = client(c2, s.id);
    await c.connect({ keyframeInterval: 100, keyframeIntervalMs: 60_000 });
    await c.poll('progress');
    const unchanged = await c.poll('progress');
    expect(decodePacket(unchanged.answer as Uint8Array).header.flags).toBe(FLAG_UNCHANGED);
    const base = c.state.progressSeq;
    await api(`/api/crafting/sessions/${s.id}/resume`, c2.alice.access_token, { method: 'POST' });
    await api(`/api/crafting/sessions/${s.id}/pause`, c2.alice.access_token, { method: 'POST' });
    const delta = await c.poll('progress');
    const h = decodePacket(delta.answer as Uint8Array).header;
    expect(h.flags).toBe(FLAG_DELTA);
    expect(h.baseSeq).toBe(base);
    expect(c.state.progress?.status).toBe('paused');
    // A base the server no longer has (or never had) gets the full state.
    const lost = await c.send(
      'progress',
      encodePacket(
        { flags: 0, kind: KIND_PROGRESS, seq: 1000, baseSeq: 999_999, timestamp: Date.now(), token: c.receiver.token! },
        new Uint8Array(0),
      ),
    );
    expect(decodePacket(lost.answer as Uint8Array).header.flags).toBe(FLAG_KEYFRAME);
  });

  it('drops replayed and stale seq (202, X-Udp-Drop); newest wins', async () => {
    const c = client(t, sessionId);
    await c.connect();
    const p5 = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 5, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
      new Uint8Array(0),
    );
    expect((await c.send('progress', p5)).status).toBe(200);
    expect(await c.send('progress', p5)).toMatchObject({ status: 202, dropped: 'duplicate' });
    const p3 = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 3, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
      new Uint8Array(0),
    );
    expect(await c.send('progress', p3)).toMatchObject({ status: 202, dropped: 'stale' });
    const p6 = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 6, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
      new Uint8Array(0),
    );
    expect((await c.send('progress', p6)).status).toBe(200);
  });

  it('limits packets per peer user and session (3,600 a minute; lowered here): 429 rate_limited, counted in /metrics', async () => {
    const t = await crafters();
    const id = (await startSession(t.alice.access_token, 'plank')).id;
    await sessionStub(t.tenant, id).configure({ udpPacketsPerMinute: 3 });
    const c = client(t, id);
    await c.connect();
    for (let seq = 1; seq <= 3; seq++) {
      const p = encodePacket(
        { flags: 0, kind: KIND_PROGRESS, seq, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
        new Uint8Array(0),
      );
      expect((await c.send('progress', p)).status).toBe(200);
    }
    const fourth = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 4, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
      new Uint8Array(0),
    );
    const refused = await post(`/udp/sessions/${id}/progress`, fourth, { 'X-Tenant-ID': t.tenant });
    expectError(refused, 429, 'RATE_LIMIT_EXCEEDED');
    expect(refused.body.details.issue).toBe('rate_limited');
    // A new peer of the same user does not get a fresh budget.
    const again = client(t, id);
    await again.connect();
    const first = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 1, baseSeq: 0, timestamp: Date.now(), token: again.receiver.token! },
      new Uint8Array(0),
    );
    expectError(await post(`/udp/sessions/${id}/progress`, first, { 'X-Tenant-ID': t.tenant }), 429, 'RATE_LIMIT_EXCEEDED');
  });

  it('refuses truncated packets, wrong magic or version, oversize, bad tokens, another tenant, wrong kinds and types', async () => {
    const c = client(t, sessionId);
    await c.connect({ maxPacketSize: 64 });
    const path = `/udp/sessions/${sessionId}/progress`;
    const tenant = { 'x-tenant-id': t.tenant };
    const good = c.packet('progress');
    const issue = async (bytes: Uint8Array, status: number, code: string, headers = tenant, p = path) => {
      const r = await post(p, bytes, headers);
      expectError(r, status, code);
      return r.body.details?.issue;
    };
    expect(await issue(good.slice(0, 20), 400, 'INVALID_REQUEST')).toBe('truncated');
    const magic = good.slice();
    magic[0] = 0;
    expect(await issue(magic, 400, 'INVALID_REQUEST')).toBe('bad_magic');
    const version = good.slice();
    version[2] = 2;
    expect(await issue(version, 400, 'INVALID_REQUEST')).toBe('unsupported_version');
    const lying = good.slice();
    lying[7] = 10; // says 10 body bytes, has none
    expect(await issue(lying, 400, 'INVALID_REQUEST')).toBe('truncated');
    const big = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 50, baseSeq: 0, timestamp: Date.now(), token: c.receiver.token! },
      new Uint8Array(40),
    );
    expect(await issue(big, 413, 'PAYLOAD_TOO_LARGE')).toBe('oversize');
    expectError(await post(path, new Uint8Array(64 * 1024 + 1), tenant), 413, 'PAYLOAD_TOO_LARGE');
    const forged = encodePacket(
      { flags: 0, kind: KIND_PROGRESS, seq: 51, baseSeq: 0, timestamp: Date.now(), token: new Uint8Array(16).fill(7) },
      new Uint8Array(0),
    );
    expect(await issue(forged, 401, 'AUTHENTICATION_REQUIRED')).toBe('bad_token');
    const other = await crafters();
    expect(await issue(c.packet('progress'), 401, 'AUTHENTICATION_REQUIRED', { 'x-tenant-id': other.tenant })).toBe('bad_token');
    expectError(
      await post(path, c.packet('progress'), { 'x-tenant-id': t.tenant, authorization: `Bearer ${other.alice.access_token}` }),
      403,
      'TENANT_VIOLATION',
    );
    expectError(await post(path, c.packet('progress'), {}), 400, 'INVALID_REQUEST');
    expect(await issue(c.packet('progress'), 400, 'INVALID_REQUEST', tenant, `/udp/sessions/${sessionId}/materials`)).toBe(
      'wrong_kind',
    );
    const r = await SELF.fetch(`https://edge.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...tenant },
      body: 'hello',
    });
    expect(r.status).toBe(415);
    // None of it moved the peer: its next packet is still answered.
    expect((await c.poll('progress')).status).toBe(200);
  });

  it('rotates the session token; the previous one stays valid for its grace period', async () => {
    const c = client(t, sessionId);
    const n = await c.connect();
    await sessionStub(t.tenant, sessionId).configure({ udpTokenTtlMs: 10 * 60_000 });
    await c.poll('progress');
    expect(c.sessionToken).not.toBe(n.sessionToken);
    const old = c.packet('progress');
    old.set(tokenFromHex(n.sessionToken)!, 8); // the header's token field
    expect((await c.send('progress', old)).status).toBe(200);
    expect((await c.poll('progress')).status).toBe(200);
    await sessionStub(t.tenant, sessionId).configure({ udpTokenTtlMs: 60_000 });
  });

  it('a service peer pushes material deltas; a player peer may not', async () => {
    const c2 = await crafters();
    const s = await startSession(c2.alice.access_token, 'plank');
    const svc = client(c2, s.id, c2.service);
    await svc.connect();
    await svc.poll('materials');
    const before = svc.state.materials as Record<string, number>;
    const watcher = await openCraftSocket(`/ws/crafting/${s.id}?mode=udp`, c2.alice.access_token);
    await watcher.waitBinary(2);
    const r = await svc.pushMaterials({ herb: 3, wood: -1 });
    expect(r.status, JSON.stringify(r.error)).toBe(200);
    // The binary watcher gets the change as a materials packet.
    const receiver = new SyncReceiver();
    for (const p of watcher.binary.slice(0, 2)) receiver.apply(p);
    const pushed = await watcher.waitFor(() => false, 10).catch(() => null);
    expect(pushed).toBeNull();
    await watcher.waitBinary(3);
    for (const p of watcher.binary.slice(2)) receiver.apply(p);
    expect(receiver.state.materials?.herb).toBe((before.herb ?? 0) + 3);
    watcher.close();
    expect(svc.state.materials).toMatchObject({ herb: (before.herb ?? 0) + 3, wood: (before.wood ?? 0) - 1 });
    const rest = (await api(`/api/crafting/materials/${c2.alice.user_id}`, c2.alice.access_token)).body.materials;
    expect(rest.herb).toBe((before.herb ?? 0) + 3);
    const player = client(c2, s.id);
    await player.connect();
    const refused = await player.pushMaterials({ herb: 100 });
    expect(refused.status).toBe(403);
    const tooMuch = await svc.pushMaterials({ herb: -1000 });
    expect(tooMuch.status).toBe(409);
  });
});

describe('binary WebSocket sync (crafting-udp.v1)', () => {
  it('starts from keyframes, gets deltas at 20 Hz encoded once; a receiver that loses packets converges at the next keyframe', async () => {
    const c2 = await crafters();
    const s = await startSession(c2.alice.access_token, 'iron_ingot', 5); // 30 s: runs the whole test
    await sessionStub(c2.tenant, s.id).configure({ udpKeyframeEvery: 5, udpKeyframeMs: 60_000 });
    const ws = await openCraftSocket(`/ws/crafting/${s.id}`, c2.alice.access_token, {
      'Sec-WebSocket-Protocol': 'crafting-udp.v1',
    });
    expect(ws.protocol).toBe('crafting-udp.v1');
    expect(ws.frames[0]).toMatchObject({ type: 'udp_connected', data: { version: 1, headerBytes: HEADER_BYTES } });
    const second = await openCraftSocket(`/ws/crafting/${s.id}?mode=udp`, c2.bob.access_token);
    // The 20 Hz tick is the actor's alarm: run it as each 50 ms comes due.
    const stub = sessionStub(c2.tenant, s.id);
    while (ws.binary.length < 16) {
      await new Promise((r) => setTimeout(r, 55));
      await runDurableObjectAlarm(stub);
    }
    const packets = ws.binary;

    const reference = new SyncReceiver();
    const lossy = new SyncReceiver();
    let dropped = 0;
    let skipped = 0;
    let convergedAt = -1;
    packets.slice(0, 16).forEach((p, i) => {
      const a = reference.apply(p);
      expect(a.applied, `packet ${i}`).toBe(true);
      // Drop packets 3 and 4 (deltas after the first keyframes) on purpose.
      if (i === 3 || i === 4) {
        dropped += 1;
        return;
      }
      const b = lossy.apply(p);
      if (!b.applied) skipped += 1;
      if (dropped && b.applied && (b as { kind: string }).kind === 'keyframe' && convergedAt < 0) convergedAt = i;
    });
    expect(dropped).toBe(2);
    expect(skipped).toBeGreaterThan(0);
    expect(convergedAt).toBeGreaterThan(4);
    expect(lossy.state.progress).toEqual(reference.state.progress);
    expect(lossy.state.progressSeq).toBe(reference.state.progressSeq);

    // Encoded once: both watchers got byte-identical packets for the same seq.
    const other = second.binary;
    const bySeq = new Map(packets.map((p) => [decodePacket(p).header.seq * 10 + decodePacket(p).header.kind, p]));
    const shared = other.slice(2).filter((p) => bySeq.has(decodePacket(p).header.seq * 10 + decodePacket(p).header.kind));
    expect(shared.length).toBeGreaterThan(0);
    for (const p of shared) expect(p).toEqual(bySeq.get(decodePacket(p).header.seq * 10 + decodePacket(p).header.kind));
    expect(decodeProgressKeyframe(decodePacket(packets[0]!).body).status).toBe('running');
    ws.close();
    second.close();
  });

  it('a reconnecting watcher starts from keyframes again; bad binary frames get an error frame', async () => {
    const c2 = await crafters();
    const s = await startSession(c2.alice.access_token, 'plank');
    await api(`/api/crafting/sessions/${s.id}/pause`, c2.alice.access_token, { method: 'POST' });
    const ws = await openCraftSocket(`/ws/crafting/${s.id}?mode=udp`, c2.alice.access_token);
    const [progress, materials] = await ws.waitBinary(2);
    expect(decodePacket(progress!).header.flags).toBe(FLAG_KEYFRAME);
    expect(decodePacket(materials!).header.flags).toBe(FLAG_KEYFRAME);
    ws.send(new Uint8Array([1, 2, 3]));
    expect((await ws.waitFor((f) => f.type === 'error')).data.details.issue).toBe('truncated');
    ws.close();
    const again = await openCraftSocket(`/ws/crafting/${s.id}?mode=udp`, c2.alice.access_token);
    const [k] = await again.waitBinary(1);
    expect(decodePacket(k!).header.flags).toBe(FLAG_KEYFRAME);
    again.close();
  });
});
