import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { clientAcceptEncoding, compress, isCompressible, selectEncoding } from '../../src/http/middleware/compress';
import { router } from '../../src/http/validation';

const BASE = 'https://edge.test';
const ip = () => `2001:db8:c0:${crypto.randomUUID().slice(0, 4)}::1`;

/**
 * `encodeResponseBody: 'manual'` hands the test the bytes as they left the Worker. Without it, workerd's fetch
 * gunzips a gzip body on the way in (and keeps the Content-Encoding header), so only the manual read can show
 * that the body was compressed, and compressed once.
 */
async function raw(path: string, acceptEncoding?: string): Promise<{ res: Response; bytes: Uint8Array }> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': ip() };
  if (acceptEncoding !== undefined) headers['Accept-Encoding'] = acceptEncoding;
  const res = await SELF.fetch(`${BASE}${path}`, { headers, encodeResponseBody: 'manual' } as RequestInit);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function inflate(bytes: Uint8Array, format: 'gzip' | 'deflate'): Promise<string> {
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format))).text();
}

async function plainText(path: string): Promise<string> {
  return new TextDecoder().decode((await raw(path, 'identity')).bytes);
}

// A 404 for a long path is an /api JSON answer over 1 KB (its message names the path).
const LONG_API_PATH = `/api/${'x'.repeat(1500)}`;

describe('compression of large answers', () => {
  it('gzips /openapi.json once for Accept-Encoding: gzip, with Vary and no stale Content-Length', async () => {
    const plain = await (await SELF.fetch(`${BASE}/openapi.json`, { headers: { 'CF-Connecting-IP': ip() } })).text();
    expect(new TextEncoder().encode(plain).byteLength).toBeGreaterThan(1024);
    const { res, bytes } = await raw('/openapi.json', 'gzip');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Encoding')).toBe('gzip');
    expect(res.headers.get('Vary')).toMatch(/Accept-Encoding/i);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(bytes.byteLength).toBeLessThan(plain.length);
    const length = res.headers.get('Content-Length');
    if (length !== null) expect(Number(length)).toBe(bytes.byteLength);
    expect(await inflate(bytes, 'gzip')).toBe(plain);
  });

  it('deflates for Accept-Encoding: deflate (zlib stream)', async () => {
    const plain = await plainText('/openapi.json');
    const { res, bytes } = await raw('/openapi.json', 'deflate');
    expect(res.headers.get('Content-Encoding')).toBe('deflate');
    expect(bytes[0]).toBe(0x78);
    expect(await inflate(bytes, 'deflate')).toBe(plain);
  });

  it('gzips a large /api JSON error answer and keeps its rate-limit headers', async () => {
    const { res, bytes } = await raw(LONG_API_PATH, 'gzip, deflate, br');
    expect(res.status).toBe(404);
    expect(res.headers.get('Content-Encoding')).toBe('gzip');
    expect(res.headers.get('Content-Type')).toMatch(/application\/json/);
    expect(res.headers.get('X-RateLimit-Limit')).toBe('1000');
    const body = JSON.parse(await inflate(bytes, 'gzip'));
    expect(body.error).toBe('NOT_FOUND');
  });

  it('sends the body as is when the client sends no Accept-Encoding, still with Vary', async () => {
    const { res, bytes } = await raw('/openapi.json');
    expect(res.headers.get('Content-Encoding')).toBeNull();
    expect(res.headers.get('Vary')).toMatch(/Accept-Encoding/i);
    expect(JSON.parse(new TextDecoder().decode(bytes)).openapi).toBe('3.1.0');
  });

  it('sends the body as is for identity only, or gzip and deflate refused with q=0', async () => {
    for (const accept of ['identity', 'gzip;q=0, deflate;q=0', 'br']) {
      const { res, bytes } = await raw('/openapi.json', accept);
      expect(res.headers.get('Content-Encoding'), accept).toBeNull();
      expect(JSON.parse(new TextDecoder().decode(bytes)).openapi).toBe('3.1.0');
    }
  });
});

describe('answers that stay plain', () => {
  it('does not compress a body under 1 KB (/health) even when gzip is accepted', async () => {
    const { res, bytes } = await raw('/health', 'gzip, deflate');
    expect(res.status).toBe(200);
    expect(bytes.byteLength).toBeLessThan(1024);
    expect(res.headers.get('Content-Encoding')).toBeNull();
    expect(JSON.parse(new TextDecoder().decode(bytes)).status).toBe('healthy');
  });

  it('never compresses an event stream, a WebSocket upgrade or a HEAD answer', async () => {
    const app = router();
    app.use('*', compress());
    const big = `data: ${'y'.repeat(4000)}\n\n`;
    app.get('/events', () => new Response(big, { headers: { 'Content-Type': 'text/event-stream' } }));
    app.get('/ws', () => {
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      server.accept();
      return new Response(null, { status: 101, webSocket: client });
    });
    app.get('/big', (c) => c.json({ filler: 'z'.repeat(4000) }));
    const fetchApp = async (path: string, method = 'GET') => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${BASE}${path}`, { method, headers: { 'Accept-Encoding': 'gzip' } }), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    const events = await fetchApp('/events');
    expect(events.headers.get('Content-Encoding')).toBeNull();
    expect(await events.text()).toBe(big);
    const ws = await fetchApp('/ws');
    expect(ws.status).toBe(101);
    expect(ws.webSocket).not.toBeNull();
    expect(ws.headers.get('Content-Encoding')).toBeNull();
    ws.webSocket?.accept();
    ws.webSocket?.close(1000);
    const head = await fetchApp('/big', 'HEAD');
    expect(head.headers.get('Content-Encoding')).toBeNull();
    // The same app does compress the JSON: the cases above are exclusions, not a broken middleware.
    expect((await fetchApp('/big')).headers.get('Content-Encoding')).toBe('gzip');
  });
});

describe('selectEncoding / isCompressible', () => {
  it('picks by q-value, gzip first on a tie, honouring * and q=0', () => {
    expect(selectEncoding(undefined)).toBeUndefined();
    expect(selectEncoding('')).toBeUndefined();
    expect(selectEncoding('gzip, deflate, br')).toBe('gzip');
    expect(selectEncoding('deflate, gzip')).toBe('gzip');
    expect(selectEncoding('deflate')).toBe('deflate');
    expect(selectEncoding('gzip;q=0.5, deflate;q=0.8')).toBe('deflate');
    expect(selectEncoding('gzip;q=0, deflate')).toBe('deflate');
    expect(selectEncoding('*')).toBe('gzip');
    expect(selectEncoding('*;q=0.1, gzip;q=0')).toBe('deflate');
    expect(selectEncoding('identity, br')).toBeUndefined();
    expect(selectEncoding('GZIP')).toBe('gzip');
  });

  it('compresses JSON and text but not event streams or binary', () => {
    expect(isCompressible('application/json; charset=utf-8')).toBe(true);
    expect(isCompressible('application/problem+json')).toBe(true);
    expect(isCompressible('text/html')).toBe(true);
    expect(isCompressible('text/event-stream')).toBe(false);
    expect(isCompressible('application/octet-stream')).toBe(false);
    expect(isCompressible('image/png')).toBe(false);
    expect(isCompressible(null)).toBe(false);
  });
});

/**
 * On Cloudflare and under `wrangler dev`, the Worker sees `Accept-Encoding: br, gzip` whatever the client sent; the
 * client's own header is `request.cf.clientAcceptEncoding`. These requests carry both, as the runtime hands them in.
 */
describe('compression follows what the client really accepts', () => {
  const viaEdge = async (clientAcceptEncoding: string) => {
    const res = await SELF.fetch(`${BASE}/openapi.json`, {
      headers: { 'CF-Connecting-IP': ip(), 'Accept-Encoding': 'br, gzip' },
      cf: { clientAcceptEncoding },
      encodeResponseBody: 'manual',
    } as RequestInit);
    return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
  };

  it('sends plain JSON when the client sent no Accept-Encoding (curl … | head prints JSON)', async () => {
    const { res, bytes } = await viaEdge('');
    expect(res.headers.get('Content-Encoding')).toBeNull();
    expect(JSON.parse(new TextDecoder().decode(bytes)).openapi).toBe('3.1.0');
  });

  it('sends plain JSON when the client accepts only identity, despite the rewritten header', async () => {
    const { res, bytes } = await viaEdge('identity');
    expect(res.headers.get('Content-Encoding')).toBeNull();
    expect(new TextDecoder().decode(bytes.slice(0, 1))).toBe('{');
  });

  it('deflates when the client asked only for deflate (not the gzip of the rewritten header)', async () => {
    const { res, bytes } = await viaEdge('deflate');
    expect(res.headers.get('Content-Encoding')).toBe('deflate');
    expect(JSON.parse(await inflate(bytes, 'deflate')).openapi).toBe('3.1.0');
  });

  it('reads the header when the runtime gives no cf.clientAcceptEncoding', () => {
    const req = new Request(`${BASE}/x`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(clientAcceptEncoding(req)).toBe('gzip');
    expect(clientAcceptEncoding(new Request(`${BASE}/x`))).toBeUndefined();
  });
});
