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
    for (const bad of ['4abc', '42{}', '42abc["x"]', '41{"x":1}', '44{"message":"x"}']) {
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
