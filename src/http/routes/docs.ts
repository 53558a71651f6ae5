import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import { REFERENCE_JS, REFERENCE_VERSION } from '../../web/generated/reference';
import { asyncApiDocument, describeStreamsAndPages, finishOpenApi } from '../api-docs';
import type { AppEnv } from '../context';

/**
 * /openapi.json, /asyncapi.json and /docs (Scalar's API reference). The reference page's script is served from
 * the Worker (bundled by scripts/build-web.mjs from @scalar/api-reference), so the page works offline: no CDN,
 * no web fonts, no agent calling out.
 */
export function docs(app: OpenAPIHono<AppEnv>) {
  describeStreamsAndPages(app);
  const origin = (url: string) => new URL(url).origin;
  return new Hono<AppEnv>()
    .get('/openapi.json', (c) =>
      c.json(
        finishOpenApi(
          app.getOpenAPI31Document({
            openapi: '3.1.0',
            info: {
              title: 'EdgeRooms',
              version: '',
              description:
                'REST API of EdgeRooms. Every /api path is also served under /api/v1. WebSocket and SSE messages: /asyncapi.json.',
            },
          }),
          origin(c.req.url),
        ),
      ),
    )
    .get('/asyncapi.json', (c) => c.json(asyncApiDocument(origin(c.req.url))))
    .get('/docs/reference.js', (c) => {
      const etag = `"${REFERENCE_VERSION}"`;
      const headers = {
        'Content-Type': 'text/javascript; charset=utf-8',
        ETag: etag,
        'Cache-Control': c.req.query('v') === REFERENCE_VERSION ? 'public, max-age=31536000, immutable' : 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      };
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
      return c.body(REFERENCE_JS, 200, headers);
    })
    .get(
      '/docs',
      Scalar({
        url: '/openapi.json',
        cdn: `/docs/reference.js?v=${REFERENCE_VERSION}`,
        pageTitle: 'EdgeRooms API reference',
        withDefaultFonts: false,
        hideClientButton: true,
        // The AI agent drawer (on by default for localhost) talks to Scalar's servers: not here.
        agent: { disabled: true },
      }),
    );
}
