import { abortAllDurableObjects, env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { hubActor } from '../../src/actors/keys';
import { issueAccessToken } from '../../src/auth/tokens';
import { shardCount, shardOfId } from '../../src/domain/hub';
import { freshTenant } from '../support/sockets';

const BASE = 'https://edge.test/socket.io/?EIO=4';
let nextUser = 900_000 + Math.floor(Math.random() * 50_000);

async function tokenFor(tenantId: string): Promise<{ token: string; userId: string }> {
  const userId = String(nextUser++);
  const { token } = await issueAccessToken(env, { userId, tenantId, role: 'player', username: `u${userId}` });
  return { token, userId };
}

/** A raw Engine.IO WebSocket: the frames as they arrive, in order. */
class EngineSocket {
  private readonly frames: Array<string | ArrayBuffer> = [];
  private readonly waiting: Array<(f: string | ArrayBuffer) => void> = [];
  closed: Promise<number>;
  sid = '';

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const w = this.waiting.shift();
      if (w) w(e.data as string | ArrayBuffer);
      else this.frames.push(e.data as string | ArrayBuffer);
    });
    this.closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  }

  next(ms = 3_000): Promise<string> {
    const f = this.frames.shift();
    if (f !== undefined) return Promise.resolve(String(f));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no frame')), ms);
      this.waiting.push((x) => {
        clearTimeout(t);
        resolve(String(x));
      });
    });
  }

  /** Skips frames until one starts with `prefix`. */
  async until(prefix: string): Promise<string> {
    for (let i = 0; i < 20; i++) {
      const f = await this.next();
      if (f.startsWith(prefix)) return f;
    }
    throw new Error(`no frame starting with ${prefix}`);
  }

  send(data: string): void {
    this.ws.send(data);
  }

  get shard(): number {
    return shardOfId(this.sid, shardCount(env.HUB_SHARDS)) ?? -1;
  }
}

async function openWs(query = ''): Promise<EngineSocket> {
  const res = await SELF.fetch(`${BASE}&transport=websocket${query}`, { headers: { Upgrade: 'websocket' } });
  expect(res.status).toBe(101);
  const ws = res.webSocket as WebSocket;
  ws.accept();
  const s = new EngineSocket(ws);
  const open = await s.next();
  expect(open[0]).toBe('0');
  s.sid = JSON.parse(open.slice(1)).sid;
  return s;
}

/** A raw Engine.IO long-polling session. */
async function openPolling() {
  const open = await (await SELF.fetch(`${BASE}&transport=polling`)).text();
  const sid = JSON.parse(open.slice(1)).sid as string;
  const url = `${BASE}&transport=polling&sid=${sid}`;
  const get = async (): Promise<string[]> => {
    const res = await SELF.fetch(url);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.text()).split('\x1e');
  };
  return {
    url,
    shard: shardOfId(sid, shardCount(env.HUB_SHARDS)) ?? -1,
    post: async (packet: string) => {
      const res = await SELF.fetch(url, { method: 'POST', body: packet });
      expect(await res.text()).toBe('ok');
    },
    get,
    getUntil: async (prefix: string): Promise<string> => {
      for (let i = 0; i < 10; i++) {
        const found = (await get()).find((p) => p.startsWith(prefix));
        if (found) return found;
      }
      throw new Error(`no packet starting with ${prefix}`);
    },
  };
}

/** Connects the main namespace; answers the CONNECT reply and the `connected` event. */
async function connect(s: EngineSocket, auth: Record<string, unknown>): Promise<{ sid: string; pid: string }> {
  s.send(`40${JSON.stringify(auth)}`);
  const reply = await s.next();
  expect(reply.slice(0, 2), reply).toBe('40');
  await s.until('42["connected"');
  return JSON.parse(reply.slice(2));
}

describe('Hub shard: Engine.IO transports', () => {
  it('polling: handshake, CONNECT without a token gets CONNECT_ERROR AUTH_FAILED, a valid token connects', async () => {
    const open = await SELF.fetch(`${BASE}&transport=polling`);
    expect(open.status).toBe(200);
    const body = await open.text();
    const handshake = JSON.parse(body.slice(1));
    expect(handshake).toMatchObject({
      upgrades: ['websocket'],
      pingInterval: 25_000,
      pingTimeout: 20_000,
      maxPayload: 1_000_000,
    });
    const url = `${BASE}&transport=polling&sid=${handshake.sid}`;
    expect(await (await SELF.fetch(url, { method: 'POST', body: '40{}' })).text()).toBe('ok');
    const refused = await (await SELF.fetch(url)).text();
    expect(refused.startsWith('44')).toBe(true);
    expect(JSON.parse(refused.slice(2))).toMatchObject({ message: expect.any(String), data: { code: 'AUTH_FAILED' } });
    const { token, userId } = await tokenFor(freshTenant());
    await SELF.fetch(url, { method: 'POST', body: `40${JSON.stringify({ token })}` });
    const accepted = (await (await SELF.fetch(url)).text()).split('\x1e');
    expect(accepted[0]).toMatch(/^40\{"sid":"[^"]+","pid":"\d+\.[A-Za-z0-9]+"\}$/);
    const connected = accepted[1] ?? (await (await SELF.fetch(url)).text());
    expect(connected.startsWith('42["connected"')).toBe(true);
    expect(JSON.parse(connected.slice(2))[1]).toMatchObject({
      userId,
      interactionClasses: ['CLASS_A', 'CLASS_B', 'CLASS_C', 'CLASS_D'],
    });
    // The client closes: the session is gone (and its heartbeat timer with it).
    expect(await (await SELF.fetch(url, { method: 'POST', body: '1' })).text()).toBe('ok');
    expect((await SELF.fetch(url)).status).toBe(400);
  });

  it('answers unknown sids, bad methods and versions as the protocol says, and a malformed POST closes the session', async () => {
    const r1 = await SELF.fetch(`${BASE}&transport=polling&sid=0.unknownsession`);
    expect([r1.status, await r1.json()]).toEqual([400, { code: 1, message: 'Session ID unknown' }]);
    const r2 = await SELF.fetch('https://edge.test/socket.io/?EIO=3&transport=polling');
    expect([r2.status, await r2.json()]).toEqual([400, { code: 5, message: 'Unsupported protocol version' }]);
    const r3 = await SELF.fetch(`${BASE}&transport=websocket`);
    expect([r3.status, ((await r3.json()) as { code: number }).code]).toEqual([400, 3]);
    const open = await (await SELF.fetch(`${BASE}&transport=polling`)).text();
    const sid = JSON.parse(open.slice(1)).sid;
    const url = `${BASE}&transport=polling&sid=${sid}`;
    const bad = await SELF.fetch(url, { method: 'POST', body: 'abc' });
    expect(bad.status).toBe(400);
    expect((await SELF.fetch(url)).status).toBe(400);
  });

  it('bad Socket.IO packets close the session and the shard keeps serving', async () => {
    // '2': a client ping is the wrong heartbeat direction in v4 (the reference server ends the session).
    for (const bad of ['2', '4abc', '42{}', '42abc["x"]', '41{"x":1}', '44{"message":"x"}']) {
      const s = await openWs();
      s.send(bad);
      expect(await s.closed).toBe(1000);
    }
    const s = await openWs();
    const { token } = await tokenFor(freshTenant());
    await connect(s, { token });
    s.send('42["ping"]');
    expect(await s.until('42["pong"')).toBe('42["pong"]');
  });

  it("upgrade: a poll during the probe ends with a noop, one racing the probe's 5 gets 400, then WebSocket carries on", async () => {
    const p = await openPolling();
    const res = await SELF.fetch(p.url.replace('transport=polling', 'transport=websocket'), {
      headers: { Upgrade: 'websocket' },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket as WebSocket;
    ws.accept();
    const probe = new EngineSocket(ws);
    probe.send('2probe');
    expect(await probe.next()).toBe('3probe');
    expect(await p.get()).toEqual(['6']);
    // The official suite's "ignores HTTP requests with same sid after upgrade": the GET may reach the shard before
    // the 5 does; either way it is a request after the upgrade.
    const racing = SELF.fetch(p.url);
    probe.send('5');
    const late = await racing;
    expect([late.status, await late.json()]).toEqual([400, { code: 3, message: 'Bad request' }]);
    await connect(probe, { token: (await tokenFor(freshTenant())).token });
    probe.send('42["ping"]');
    expect(await probe.until('42["pong"')).toBe('42["pong"]');
    ws.close(1000);
    await probe.closed;
  });

  it('heartbeat: the server pings, pongs keep the session, a missed pong closes it', async () => {
    const s = await openWs();
    await connect(s, { token: (await tokenFor(freshTenant())).token });
    const shard = hubActor(env, s.shard);
    // Fast beats (the alarm fires by itself); a generous pong deadline first, then one nobody can meet.
    await shard.configureEngine({ pingInterval: 20, pingTimeout: 60_000 });
    try {
      for (let i = 0; i < 3; i++) {
        expect(await s.until('2')).toBe('2');
        s.send('3');
      }
      s.send('42["ping"]');
      expect(await s.until('42["pong"')).toBe('42["pong"]'); // still connected
      await shard.configureEngine({ pingInterval: 20, pingTimeout: 1 });
      expect(await s.closed).toBe(1000);
    } finally {
      await shard.configureEngine({});
    }
  });
});

describe('Hub shard: slow consumers', () => {
  it('ends a WebSocket session that sends nothing back past maxUnreadBytes with 4008; one that answers the early ping stays', async () => {
    const tenant = freshTenant();
    const [a, b, c] = [await tokenFor(tenant), await tokenFor(tenant), await tokenFor(tenant)];
    const join = async (s: EngineSocket, token: string) => {
      await connect(s, { token });
      s.send('420["join_room",{"roomId":"slow"}]');
      await s.until('430');
    };
    const reader = await openWs();
    const silent = await openWs();
    const sender = await openWs();
    await join(reader, a.token);
    await join(silent, c.token);
    await join(sender, b.token);
    // A reader answers pings (as socket.io-client does) and counts what reaches it; the silent one answers nothing.
    let read = 0;
    reader.ws.addEventListener('message', (e) => {
      if (e.data === '2') reader.ws.send('3');
      else if (String(e.data).startsWith('42["message"')) read++;
    });
    const shards = Array.from({ length: shardCount(env.HUB_SHARDS) }, (_, i) => hubActor(env, i));
    await Promise.all(shards.map((shard) => shard.configureEngine({ maxUnreadBytes: 3_000 })));
    try {
      const payload = 'p'.repeat(300);
      for (let i = 0; i < 12; i++) {
        sender.send(`42${10 + i}["message",{"type":"chat","roomId":"slow","payload":"${payload}"}]`);
        await sender.until(`43${10 + i}`);
      }
      expect(await silent.closed).toBe(4008);
      for (let i = 0; i < 100 && read < 12; i++) await new Promise((r) => setTimeout(r, 20));
      expect(read).toBe(12);
      reader.send('42["ping"]');
      await new Promise((r) => setTimeout(r, 100));
      expect(reader.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      await Promise.all(shards.map((shard) => shard.configureEngine({})));
      reader.ws.close();
      sender.ws.close();
      await Promise.all([reader.closed, sender.closed]);
    }
  });
});

describe('Hub shard: connection-state recovery', () => {
  it('a WebSocket session dropped by a restart of every actor recovers on a new socket, the missed message replayed', async () => {
    const tenant = freshTenant();
    const [a, b] = [await tokenFor(tenant), await tokenFor(tenant)];
    const sa = await openWs();
    const first = await connect(sa, { token: a.token });
    sa.send('420["join_room",{"roomId":"r1"}]');
    expect(await sa.until('430')).toBe('430[{"roomId":"r1"}]');
    await abortAllDurableObjects();
    const sb = await openWs();
    await connect(sb, { token: b.token });
    sb.send('421["join_room",{"roomId":"r1"}]');
    await sb.until('431');
    sb.send('422["message",{"type":"chat","roomId":"r1","payload":"during the outage"}]');
    await sb.until('432');
    const again = await openWs();
    again.send(`40${JSON.stringify({ token: a.token, pid: first.pid, offset: '0' })}`);
    expect(JSON.parse((await again.next()).slice(2))).toEqual(first);
    const got = await again.until('42["message"');
    expect(JSON.parse(got.slice(2))[1]).toMatchObject({ payload: 'during the outage', senderId: b.userId });
  });

  it('a polling session lost in a restart of every actor recovers: same socket id, rooms kept, missed message once', async () => {
    const tenant = freshTenant();
    const [a, b] = [await tokenFor(tenant), await tokenFor(tenant)];
    const pa = await openPolling();
    await pa.post(`40${JSON.stringify({ token: a.token })}`);
    const [reply] = await pa.get();
    const first = JSON.parse((reply as string).slice(2));
    await pa.post('420["join_room",{"roomId":"r1"}]');
    expect((await pa.getUntil('430')).startsWith('430')).toBe(true);
    // Every actor restarts (a deploy, a runtime restart): the in-memory polling session is gone.
    await abortAllDurableObjects();
    const sb = await openWs();
    await connect(sb, { token: b.token });
    sb.send('421["join_room",{"roomId":"r1"}]');
    await sb.until('431');
    sb.send('422["message",{"type":"chat","roomId":"r1","payload":"while away"}]');
    const messageId = JSON.parse((await sb.until('432')).slice(3))[0].messageId;
    expect((await SELF.fetch(pa.url)).status).toBe(400); // the session went with the eviction

    const again = await openPolling();
    await again.post(`40${JSON.stringify({ token: a.token, pid: first.pid, offset: '0' })}`);
    const packets = await again.get();
    expect(JSON.parse((packets[0] as string).slice(2))).toEqual({ sid: first.sid, pid: first.pid });
    const replayed = packets.length > 1 ? (packets[1] as string) : await again.getUntil('42["message"');
    const [, message, offset] = JSON.parse(replayed.slice(2));
    expect(message).toMatchObject({ messageId, roomId: 'r1', payload: 'while away' });
    expect(offset).toMatch(/^\d+$/);
    sb.send('423["message",{"type":"chat","roomId":"r1","payload":"back"}]');
    const live = await again.getUntil('42["message"');
    expect(JSON.parse(live.slice(2))[1]).toMatchObject({ payload: 'back' });
  });

  it('another user or tenant cannot take a recovery session over', async () => {
    const tenant = freshTenant();
    const a = await tokenFor(tenant);
    const intruder = await tokenFor(freshTenant());
    const sa = await openWs();
    const first = await connect(sa, { token: a.token });
    sa.ws.close(1000);
    await sa.closed;
    const s = await openWs();
    s.send(`40${JSON.stringify({ token: intruder.token, pid: first.pid, offset: '0' })}`);
    const reply = JSON.parse((await s.next()).slice(2));
    expect(reply.sid).not.toBe(first.sid);
    expect(reply.pid).not.toBe(first.pid);
  });
});

describe('GET /api/hub/rooms/{roomId}/presence', () => {
  const read = async (token: string | null, path: string) => {
    const res = await SELF.fetch(`https://edge.test/api/hub/rooms/${path}`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  interface Page {
    roomId: string;
    presence: Array<{ userId: string; status: string; metadata: Record<string, unknown>; connections: number }>;
    nextCursor: string | null;
  }

  it('pages the users present in a room across every shard, by user id, with their status; other tenants see none', async () => {
    const tenant = freshTenant();
    const users = await Promise.all(Array.from({ length: 5 }, () => tokenFor(tenant)));
    const sockets: EngineSocket[] = [];
    for (const [i, u] of users.entries()) {
      const s = await openWs();
      await connect(s, { token: u.token });
      s.send(`421["join_room",{"roomId":"lobby"}]`);
      await s.until('431');
      if (i === 1) {
        s.send('422["presence_update",{"status":"away","metadata":{"statusMessage":"lunch"}}]');
        await s.until('432');
      }
      sockets.push(s);
    }
    // The first user's second tab: one entry, two connections.
    const tab = await openWs();
    await connect(tab, { token: users[0]?.token as string });
    tab.send('421["join_room",{"roomId":"lobby"}]');
    await tab.until('431');
    expect(new Set([...sockets, tab].map((s) => s.shard)).size).toBeGreaterThan(1);

    const seen: Page['presence'] = [];
    let cursor = '';
    for (let pages = 0; pages < 5; pages++) {
      const r = await read(users[2]?.token as string, `lobby/presence?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const page = r.body as unknown as Page;
      expect(page.roomId).toBe('lobby');
      expect(page.presence.length).toBeLessThanOrEqual(2);
      seen.push(...page.presence);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen.map((p) => p.userId)).toEqual(users.map((u) => u.userId).sort());
    const byId = new Map(seen.map((p) => [p.userId, p]));
    expect(byId.get(users[1]?.userId as string)).toMatchObject({ status: 'away', metadata: { statusMessage: 'lunch' } });
    expect(byId.get(users[0]?.userId as string)).toMatchObject({ status: 'online', connections: 2 });
    const whole = (await read(users[2]?.token as string, 'lobby/presence')).body as unknown as Page;
    expect(whole.presence.map((p) => p.userId)).toEqual(seen.map((p) => p.userId));
    expect(whole.nextCursor).toBeNull();

    // Another tenant's "lobby" is another room; an empty room is an empty page.
    const stranger = await tokenFor(freshTenant());
    expect((await read(stranger.token, 'lobby/presence')).body).toEqual({ roomId: 'lobby', presence: [], nextCursor: null });
    expect((await read(users[0]?.token as string, 'empty-room/presence')).body).toEqual({
      roomId: 'empty-room',
      presence: [],
      nextCursor: null,
    });
    for (const s of [...sockets, tab]) s.ws.close();
  });

  it('refuses a bad room id, cursor or limit (INVALID_REQUEST) and a missing token (AUTH_FAILED)', async () => {
    const { token } = await tokenFor(freshTenant());
    for (const path of ['bad%20room/presence', 'lobby/presence?limit=0', 'lobby/presence?limit=201', 'lobby/presence?limit=x']) {
      const r = await read(token, path);
      expect(r.status, path).toBe(400);
      expect(r.body.error, path).toBe('INVALID_REQUEST');
    }
    const badCursor = await read(token, 'lobby/presence?cursor=%3Cscript%3E');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error).toBe('INVALID_REQUEST');
    const anonymous = await read(null, 'lobby/presence');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('AUTH_FAILED');
    const forged = await read('not-a-token', 'lobby/presence');
    expect(forged.status).toBe(401);
  });

  it('is documented in /openapi.json', async () => {
    const doc = (await (await SELF.fetch('https://edge.test/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(doc.paths['/api/hub/rooms/{roomId}/presence']).toHaveProperty('get');
  });
});
