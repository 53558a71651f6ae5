import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';

/** Seed 000, Compression: bodies over 1 KB. */
export const COMPRESS_THRESHOLD_BYTES = 1024;

export type Encoding = 'gzip' | 'deflate';
const SUPPORTED: readonly Encoding[] = ['gzip', 'deflate']; // preference order at equal q

/**
 * Pure: the encoding to use for an `Accept-Encoding` header, by q-value (gzip first on a tie), honouring `*` and
 * `q=0`; undefined when the client accepts neither (or sent no header: then it asked for the body as is).
 */
export function selectEncoding(acceptEncoding: string | null | undefined): Encoding | undefined {
  if (!acceptEncoding) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qParam ? Number(qParam.slice(2)) : 1;
    q.set(name.trim(), Number.isFinite(value) ? value : 0);
  }
  let best: { enc: Encoding; q: number } | undefined;
  for (const enc of SUPPORTED) {
    const value = q.get(enc) ?? q.get('*') ?? 0;
    if (value > 0 && (!best || value > best.q)) best = { enc, q: value };
  }
  return best?.enc;
}

/**
 * What the client itself accepts. Cloudflare (and workerd under `wrangler dev`) rewrites `Accept-Encoding` to what
 * the edge will accept from the Worker (`br, gzip`), whatever the client sent; the client's own header is in
 * `request.cf.clientAcceptEncoding` ("" when it sent none). Outside that runtime (tests, other hosts) there is no
 * such field and the header is the client's.
 */
export function clientAcceptEncoding(request: Request): string | undefined {
  const fromEdge = (request.cf as { clientAcceptEncoding?: unknown } | undefined)?.clientAcceptEncoding;
  if (typeof fromEdge === 'string') return fromEdge;
  return request.headers.get('accept-encoding') ?? undefined;
}

/** JSON and text, but never an event stream: SSE must reach the client frame by frame. */
export function isCompressible(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'text/event-stream') return false;
  return type.startsWith('text/') || /^application\/([\w.+-]+\+)?(json|xml|javascript)$/.test(type);
}

/**
 * Hono's `c.res` setter copies the old response's headers over the new one: a stale Content-Length must not survive
 * (workerd sets the right one for a buffered body), and the Vary built here (Origin from CORS, plus Accept-Encoding)
 * must win over the old one.
 */
function settle(res: Response, headers: Headers): void {
  res.headers.delete('content-length');
  const vary = headers.get('vary');
  if (vary) res.headers.set('vary', vary);
}

/** Adds `Accept-Encoding` to `Vary` (unless `*` or already named). */
function addVary(headers: Headers): void {
  const vary = headers.get('vary');
  if (!vary) headers.set('vary', 'Accept-Encoding');
  else if (vary !== '*' && !/(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(vary)) headers.set('vary', `${vary}, Accept-Encoding`);
}

/** `addVary` on the answer as it is, re-wrapping it once if its headers are immutable (a fetched response). */
function varyOnEncoding(c: Context<AppEnv>): void {
  try {
    addVary(c.res.headers);
  } catch {
    c.res = new Response(c.res.body, c.res);
    addVary(c.res.headers);
  }
}

/**
 * gzip/deflate for JSON and text answers of at least `threshold` bytes, when the client's `Accept-Encoding` allows
 * (`clientAcceptEncoding`).
 *
 * workerd compresses a body itself when a response says `Content-Encoding: gzip` (but not `deflate`: that label
 * goes out over plain bytes), so a body compressed here must be sent with `encodeBody: 'manual'`, or gzip is
 * applied twice (hono/compress does exactly that on Workers). Compressing here for both, marked manual, gives one
 * code path that is correct for both encodings. Upgrades (101), HEAD, empty and partial bodies, already encoded
 * bodies and `Cache-Control: no-transform` pass untouched.
 */
export const compress =
  (threshold = COMPRESS_THRESHOLD_BYTES): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    await next();
    const res = c.res;
    if (
      c.req.method === 'HEAD' ||
      res.status === 101 ||
      res.status === 204 ||
      res.status === 206 ||
      res.status === 304 ||
      res.webSocket ||
      !res.body ||
      res.headers.has('content-encoding') ||
      !isCompressible(res.headers.get('content-type')) ||
      /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(res.headers.get('cache-control') ?? '')
    ) {
      return;
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) < threshold) return;

    const accepted = selectEncoding(clientAcceptEncoding(c.req.raw));
    if (!accepted) {
      // Nothing this client can take: the body passes unread (no copy per answer), only marked as varying.
      varyOnEncoding(c);
      return;
    }
    // Answers here are JSON built in memory (event streams were excluded above), so reading them whole is cheap
    // and gives the size that decides.
    const plain = new Uint8Array(await res.arrayBuffer());
    const headers = new Headers(res.headers);
    const encoding = plain.byteLength >= threshold ? accepted : undefined;
    if (plain.byteLength >= threshold) addVary(headers);
    if (!encoding) {
      c.res = new Response(plain, { status: res.status, statusText: res.statusText, headers });
      settle(c.res, headers);
      return;
    }
    const packed = await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream(encoding))).arrayBuffer();
    headers.set('content-encoding', encoding);
    const etag = headers.get('etag');
    if (etag && !etag.startsWith('W/')) headers.set('etag', `W/${etag}`);
    c.res = new Response(packed, { status: res.status, statusText: res.statusText, headers, encodeBody: 'manual' });
    settle(c.res, headers);
  };
