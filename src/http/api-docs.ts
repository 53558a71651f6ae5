import { type OpenAPIHono, z } from '@hono/zod-openapi';
import packageJson from '../../package.json';
import { DIALECT_MESSAGES } from '../dialects/catalog';
import type { AppEnv } from './context';
import { errorContent } from './openapi';
import { PAGE_ROUTES, STREAM_ROUTES, type StreamParam } from './streams';

/**
 * The two API descriptions: /openapi.json (REST, plus the handshakes of the realtime routes and the pages) and
 * /asyncapi.json (every WebSocket and SSE channel with its messages, generated from the dialects' zod schemas).
 * Both are finished here, generically, so routes added later get an operationId, `security` and the servers too.
 */

export const API_VERSION: string = packageJson.version;

const paramsSchema = (params: StreamParam[], where: 'path' | 'query') => {
  const shape: Record<string, z.ZodType> = {};
  for (const p of params.filter((p) => p.in === where)) {
    const field = z.string().openapi({ param: { name: p.name, in: where }, description: p.description });
    shape[p.name] = p.required ? field : field.optional();
  }
  return Object.keys(shape).length ? z.object(shape) : undefined;
};

/** Describes the WebSocket/SSE handshakes and the pages in the app's OpenAPI registry. */
export function describeStreamsAndPages(app: OpenAPIHono<AppEnv>): void {
  for (const route of STREAM_ROUTES) {
    const params = paramsSchema(route.params, 'path');
    const query = paramsSchema(route.params, 'query');
    const channel = `/asyncapi.json: channel ${route.id}`;
    app.openAPIRegistry.registerPath({
      method: 'get',
      path: route.path,
      tags: ['Realtime'],
      summary: route.summary,
      description: `${route.description} Messages: ${channel}.`,
      security: route.public ? [] : [{ Bearer: [] }],
      request: { ...(params ? { params } : {}), ...(query ? { query } : {}) },
      responses:
        route.transport === 'websocket'
          ? {
              101: { description: `Switching Protocols: a WebSocket carrying the messages of ${channel}` },
              400: errorContent('Bad room id, resume parameter or subprotocol'),
              ...(route.public ? {} : { 401: errorContent('No valid token') }),
              426: errorContent('Not a WebSocket upgrade'),
            }
          : {
              200: {
                description: `An event stream carrying the server messages of ${channel}`,
                content: { 'text/event-stream': { schema: z.string() } },
              },
              400: errorContent('Bad room id or resume parameter'),
              401: errorContent('No valid token'),
            },
    });
  }
  for (const page of PAGE_ROUTES) {
    const params = paramsSchema(page.params ?? [], 'path');
    app.openAPIRegistry.registerPath({
      method: 'get',
      path: page.path,
      tags: ['Pages'],
      summary: page.summary,
      security: [],
      ...(params ? { request: { params } } : {}),
      responses: {
        200: { description: page.summary, content: { [page.contentType]: { schema: z.string() } } },
        ...(params ? { 400: { description: 'Invalid parameter', content: { 'text/html': { schema: z.string() } } } } : {}),
      },
    });
  }
}

const TOO_MANY = {
  description: "Too many requests (the global limit of 1,000 a minute per IP, or the route's own)",
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

type Operation = { operationId?: string; security?: unknown[] };
type PathItem = Record<string, Operation>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** `POST /api/zones/{id}/join` → `postZonesByIdJoin`; unique within the document. */
export function operationIdFor(method: string, path: string, taken: Set<string>): string {
  const words = path
    .split('/')
    .filter((s) => s && s !== 'api')
    .map((s) => (s.startsWith('{') ? `by_${s.slice(1, -1)}` : s))
    .flatMap((s) => s.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  const base = [method.toLowerCase(), ...words.map((w) => w.charAt(0).toUpperCase() + w.slice(1))].join('') || method;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}${n}`;
  taken.add(id);
  return id;
}

/**
 * Finishes the generated document: the version from package.json, this deployment as the server, an
 * operationId on every operation, `security: []` on every operation that declares none (public), and the 429 of
 * the global rate limit.
 */
export function finishOpenApi<T extends { info: { version: string }; paths?: unknown }>(doc: T, origin: string): T {
  const out = { ...doc, info: { ...doc.info, version: API_VERSION }, servers: [{ url: origin, description: 'This deployment' }] };
  const paths = (out.paths ?? {}) as Record<string, PathItem>;
  const taken = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const method of METHODS) if (item[method]?.operationId) taken.add(item[method].operationId);
  }
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.operationId ??= operationIdFor(method, path, taken);
      op.security ??= [];
      // The global per-IP limit answers every route, whatever it declares.
      (op as { responses?: Record<string, unknown> }).responses ??= {};
      const responses = (op as { responses: Record<string, unknown> }).responses;
      responses['429'] ??= TOO_MANY;
    }
  }
  return out;
}

/** zod → the JSON Schema (draft 7) AsyncAPI's default schema format accepts. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'any', io: 'input' }) as Record<
    string,
    unknown
  >;
  return rest;
}

const messageId = (dialect: string, name: string) => `${dialect}.${name}`.replace(/[^A-Za-z0-9._-]/g, '_');

/** The AsyncAPI 3 document for every route in STREAM_ROUTES, from the dialects' message catalogue. */
export function asyncApiDocument(origin: string): Record<string, unknown> {
  const url = new URL(origin);
  const secure = url.protocol === 'https:';
  const messages: Record<string, unknown> = {};
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};

  for (const [dialect, catalogue] of Object.entries(DIALECT_MESSAGES)) {
    for (const m of [...catalogue.receive, ...catalogue.send]) {
      messages[messageId(dialect, m.name)] = {
        name: m.name,
        title: `${catalogue.title}: ${m.name}`,
        summary: m.summary,
        contentType: 'application/json',
        payload: jsonSchema(m.schema),
      };
    }
  }

  for (const route of STREAM_ROUTES) {
    const catalogue = DIALECT_MESSAGES[route.dialect];
    if (!catalogue) throw new Error(`No message catalogue for dialect ${route.dialect} (${route.path})`);
    const receive = route.transport === 'websocket' ? catalogue.receive : [];
    const send = route.transport === 'websocket' ? catalogue.send : catalogue.send.filter((m) => !m.socketOnly);
    const used = [...receive, ...send];
    const query = route.params.filter((p) => p.in === 'query');
    const pathParams = route.params.filter((p) => p.in === 'path');
    channels[route.id] = {
      address: route.path,
      title: route.summary,
      description: `${route.description} ${catalogue.description}`,
      servers: [{ $ref: route.transport === 'websocket' ? '#/servers/websocket' : '#/servers/http' }],
      ...(pathParams.length
        ? { parameters: Object.fromEntries(pathParams.map((p) => [p.name, { description: p.description }])) }
        : {}),
      messages: Object.fromEntries(
        used.map((m) => [
          m.name.replace(/[^A-Za-z0-9._-]/g, '_'),
          { $ref: `#/components/messages/${messageId(route.dialect, m.name)}` },
        ]),
      ),
      bindings:
        route.transport === 'websocket'
          ? {
              ws: {
                method: 'GET',
                query: {
                  type: 'object',
                  properties: Object.fromEntries(query.map((p) => [p.name, { type: 'string', description: p.description }])),
                  ...(query.some((p) => p.required) ? { required: query.filter((p) => p.required).map((p) => p.name) } : {}),
                },
              },
            }
          : { http: { method: 'GET' } },
    };
    const ref = (m: { name: string }) => ({ $ref: `#/channels/${route.id}/messages/${m.name.replace(/[^A-Za-z0-9._-]/g, '_')}` });
    if (receive.length) {
      operations[`${route.id}.receive`] = {
        action: 'receive',
        title: `Client frames on ${route.path}`,
        channel: { $ref: `#/channels/${route.id}` },
        messages: receive.map(ref),
      };
    }
    operations[`${route.id}.send`] = {
      action: 'send',
      title: `Server frames on ${route.path}`,
      channel: { $ref: `#/channels/${route.id}` },
      messages: send.map(ref),
    };
  }

  const security = [{ $ref: '#/components/securitySchemes/bearer' }, { $ref: '#/components/securitySchemes/queryToken' }];
  return {
    asyncapi: '3.1.0',
    info: {
      title: 'EdgeRooms realtime',
      version: API_VERSION,
      description:
        'Every WebSocket and SSE channel of EdgeRooms with its messages, generated from the zod schemas the dialects validate with. REST (and these handshakes) are in /openapi.json.',
    },
    defaultContentType: 'application/json',
    servers: {
      websocket: { host: url.host, protocol: secure ? 'wss' : 'ws', description: 'WebSocket channels', security },
      http: { host: url.host, protocol: secure ? 'https' : 'http', description: 'Server-Sent Events channels', security },
    },
    channels,
    operations,
    components: {
      messages,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Authorization: Bearer <access_token>' },
        queryToken: { type: 'httpApiKey', name: 'token', in: 'query', description: '?token=<access_token>' },
      },
    },
  };
}
