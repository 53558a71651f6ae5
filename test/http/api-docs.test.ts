import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import packageJson from '../../package.json';
import { operationIdFor } from '../../src/http/api-docs';
import { createApp } from '../../src/http/app';

const BASE = 'https://edge.test';
const ip = () => `2001:db8:d0c:${crypto.randomUUID().slice(0, 4)}::1`;
const get = (path: string) => SELF.fetch(`${BASE}${path}`, { headers: { 'CF-Connecting-IP': ip() } });

// biome-ignore lint/suspicious/noExplicitAny: documents are walked generically
type Doc = any;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Every (method, OpenAPI path) the Hono app routes, middleware and wildcards aside. */
function appRoutes(): Array<{ method: string; path: string }> {
  const seen = new Set<string>();
  const out: Array<{ method: string; path: string }> = [];
  for (const r of createApp().routes) {
    const method = r.method.toLowerCase();
    if (!METHODS.includes(method) || r.path.includes('*')) continue;
    const path = r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
    const key = `${method} ${path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ method, path });
  }
  return out;
}

function operations(doc: Doc): Array<{ method: string; path: string; op: Doc }> {
  return Object.entries(doc.paths as Record<string, Doc>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] })),
  );
}

describe('/openapi.json', () => {
  it('describes every route the app serves, REST, realtime handshakes and pages alike', async () => {
    const doc: Doc = await (await get('/openapi.json')).json();
    const missing = appRoutes().filter(({ method, path }) => !doc.paths[path]?.[method]);
    expect(missing).toEqual([]);
  });

  it('has servers, info.version from package.json, a unique operationId and security on every operation', async () => {
    const doc: Doc = await (await get('/openapi.json')).json();
    expect(doc.info.version).toBe(packageJson.version);
    expect(doc.servers).toEqual([{ url: BASE, description: 'This deployment' }]);
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(40);
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { op } of ops) expect(Array.isArray(op.security)).toBe(true);
    // Public routes say so; protected ones name the bearer scheme.
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/api/auth/register'].post.security).toEqual([]);
    expect(doc.paths['/api/players/me'].get.security).toEqual([{ Bearer: [] }]);
    expect(doc.paths['/ws/rooms/{roomId}'].get.responses['101']).toBeDefined();
    expect(doc.paths['/sse'].get.responses['200'].content['text/event-stream']).toBeDefined();
  });

  it('makes operation ids from method and path, unique', () => {
    const taken = new Set<string>();
    expect(operationIdFor('post', '/api/racing/events/{event_id}/join', taken)).toBe('postRacingEventsByEventIdJoin');
    expect(operationIdFor('get', '/ws', taken)).toBe('getWs');
    expect(operationIdFor('get', '/ws', taken)).toBe('getWs2');
  });
});

describe('/asyncapi.json', () => {
  it('is AsyncAPI 3.1 with a channel for every WebSocket and SSE route of /openapi.json', async () => {
    const [openapi, asyncapi]: Doc[] = await Promise.all([
      (await get('/openapi.json')).json(),
      (await get('/asyncapi.json')).json(),
    ]);
    expect(asyncapi.asyncapi).toBe('3.1.0');
    expect(asyncapi.info.version).toBe(packageJson.version);
    const addresses = new Set(Object.values(asyncapi.channels as Record<string, Doc>).map((ch) => ch.address));
    const realtime = operations(openapi)
      .filter(({ op }) => op.responses?.['101'] || op.responses?.['200']?.content?.['text/event-stream'])
      .map(({ path }) => path);
    expect(realtime.length).toBeGreaterThanOrEqual(7);
    expect(realtime.filter((path) => !addresses.has(path))).toEqual([]);
    // Every operation's messages resolve within the document.
    for (const op of Object.values(asyncapi.operations as Record<string, Doc>)) {
      const channelId = op.channel.$ref.split('/').pop();
      for (const m of op.messages) expect(asyncapi.channels[channelId].messages[m.$ref.split('/').pop()]).toBeDefined();
    }
  });

  it("generates messages from the dialects' own schemas (room method params, orchestrator payloads)", async () => {
    const doc: Doc = await (await get('/asyncapi.json')).json();
    const chat = doc.components.messages['collab.request.chat.send'].payload;
    expect(chat.properties.method.const).toBe('chat.send');
    expect(chat.properties.params.properties.text.maxLength).toBe(2000);
    const keepalive = doc.components.messages['orchestrator.event.planning_keepalive'].payload;
    expect(keepalive.properties.payload.properties.state.enum).toEqual(['idle', 'planning', 'waiting_input', 'completed']);
    const move = doc.components.messages['earthring.player_move'].payload;
    expect(move.properties.type.const).toBe('player_move');
    expect(doc.servers.websocket.protocol).toBe('wss');
  });
});

describe('crafting and hub descriptions', () => {
  it('describes the crafting sockets, the health stream and Socket.IO with messages from their own schemas', async () => {
    const doc: Doc = await (await get('/asyncapi.json')).json();
    const addresses = Object.values(doc.channels as Record<string, Doc>).map((ch) => ch.address);
    expect(addresses).toEqual(
      expect.arrayContaining(['/ws/crafting/{session_id}', '/ws/queue/{player_id}', '/health/ws', '/socket.io/']),
    );
    const ping = doc.components.messages['crafting.ping'].payload;
    expect(ping.properties.type.const).toBe('ping');
    expect(doc.components.messages['crafting.cancel']).toBeDefined();
    expect(doc.components.messages['crafting-queue.cancel']).toBeUndefined();
    expect(doc.components.messages['crafting-queue.queue_update'].payload.required).toContain('playerId');
    // The hub's events: the very zod schemas it validates its arguments with.
    const join = doc.components.messages['socketio.join_room'].payload;
    expect(join.items[0].const).toBe('join_room');
    expect(join.items[1].properties.roomId.pattern).toBeDefined();
    const presence = doc.components.messages['socketio.presence_update'].payload;
    expect(presence.items[1].properties.status.enum).toEqual(['online', 'away', 'offline']);
    const send = Object.values(doc.operations as Record<string, Doc>)
      .filter((op) => op.channel.$ref === '#/channels/hubSocket' && op.action === 'send')
      .flatMap((op) => op.messages.map((m: Doc) => m.$ref.split('/').pop()));
    expect(send).toEqual(
      expect.arrayContaining(['connected', 'message.delivered', 'message_ack', 'room_joined', 'room_left', 'pong', 'error']),
    );
  });

  it('describes the sync packet routes as octet-stream and /metrics as Prometheus text behind a token', async () => {
    const doc: Doc = await (await get('/openapi.json')).json();
    for (const channel of ['progress', 'materials']) {
      const op = doc.paths[`/udp/sessions/{session_id}/${channel}`].post;
      expect(op.requestBody.content['application/octet-stream']).toBeDefined();
      expect(op.responses['200'].content['application/octet-stream']).toBeDefined();
      expect(op.responses['202'].headers['X-Udp-Drop']).toBeDefined();
    }
    const metrics = doc.paths['/metrics'].get;
    expect(metrics.responses['200'].content['text/plain; version=0.0.4; charset=utf-8']).toBeDefined();
    expect(metrics.security).toEqual([{ Bearer: [] }]);
    expect(metrics.responses['401']).toBeDefined();
    expect(doc.paths['/health/ws'].get.security).toEqual([]);
  });
});

describe('/docs', () => {
  it('serves the reference page with its script from the Worker, no CDN', async () => {
    const res = await get('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    const src = /<script src="([^"]+)"/.exec(html)?.[1];
    expect(src).toMatch(/^\/docs\/reference\.js\?v=/);
    expect(html).not.toMatch(/https?:\/\/(cdn|fonts)\./);
    expect(html).toContain('/openapi.json');
    const script = await get(src as string);
    expect(script.status).toBe(200);
    expect(script.headers.get('Content-Type')).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(100_000);
  });
});
