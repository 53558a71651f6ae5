import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ApiError, codeIn, ERROR_STATUS, type ErrorCode } from '../../src/errors';
import { handleError } from '../../src/http/app';
import { MAX_BODY_BYTES } from '../../src/http/middleware/json-body';
import { router } from '../../src/http/validation';

const BASE = 'https://edge.test';
/** Each request from its own IP: the auth routes allow 5 per minute per IP. */
const ip = () => `2001:db8:e0:${crypto.randomUUID().slice(0, 4)}::1`;

async function send(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await SELF.fetch(`${BASE}${path}`, { ...init, headers: { 'CF-Connecting-IP': ip(), ...init.headers } });
  const text = await res.text();
  return { res, status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

const postRegister = (body: string, contentType = 'application/json') =>
  send('/api/auth/register', { method: 'POST', headers: { 'Content-Type': contentType }, body });

describe('REST error model', () => {
  it('answers an unknown route with 404 NOT_FOUND in the one error shape', async () => {
    const { status, body, res } = await send('/api/does-not-exist');
    expect(status).toBe(404);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(body).toEqual({ error: 'NOT_FOUND', message: 'No route for GET /api/does-not-exist' });
    // Outside /api too.
    expect((await send('/nowhere', { method: 'DELETE' })).body).toEqual({
      error: 'NOT_FOUND',
      message: 'No route for DELETE /nowhere',
    });
  });

  it('refuses a non-JSON body on /api with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const { status, body } = await postRegister('username=a&password=b', 'application/x-www-form-urlencoded');
    expect(status).toBe(415);
    expect(body).toEqual({
      error: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'Request body must be JSON (Content-Type: application/json)',
      details: { content_type: 'application/x-www-form-urlencoded' },
    });
  });

  it('accepts the same route with a JSON body (the 415 is about the type, not the route)', async () => {
    const { status, body } = await postRegister(JSON.stringify({}));
    expect(status).toBe(400);
    expect(body.error).toBe('INVALID_REQUEST');
    expect((body.details as { field?: string }).field).toBeTruthy();
  });

  it('refuses an oversize body with 413 PAYLOAD_TOO_LARGE before parsing it', async () => {
    const huge = JSON.stringify({ username: 'big', password: 'x'.repeat(MAX_BODY_BYTES) });
    const { status, body } = await postRegister(huge);
    expect(status).toBe(413);
    expect(body).toEqual({
      error: 'PAYLOAD_TOO_LARGE',
      message: `Request body is larger than ${MAX_BODY_BYTES} bytes`,
      details: { limit: MAX_BODY_BYTES },
    });
  });

  it('answers malformed JSON with 400 INVALID_REQUEST, never a 500', async () => {
    const { status, body } = await postRegister('{"username": "half", "password":');
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'INVALID_REQUEST', message: 'Malformed JSON in request body' });
  });

  it('answers an empty body where one is required with 400 "Request body is required", not "Malformed JSON"', async () => {
    const { status, body } = await postRegister('');
    expect(status).toBe(400);
    expect(body).toMatchObject({
      error: 'INVALID_REQUEST',
      message: 'Request body is required (Content-Type: application/json)',
      details: { field: '(body)', issue: 'required' },
    });
  });

  it('turns an unexpected exception into 500 SERVER_ERROR with no stack or message leaked', async () => {
    const app = router();
    app.onError(handleError);
    app.get('/boom', () => {
      throw new TypeError('cannot read properties of undefined (reading "secret")');
    });
    app.get('/teapot', () => {
      throw new ApiError('CONFLICT', 'Already there', { details: { field: 'username' } });
    });
    const ctx = createExecutionContext();
    const boom = await app.fetch(new Request(`${BASE}/boom`), env, ctx);
    const conflict = await app.fetch(new Request(`${BASE}/teapot`), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(boom.status).toBe(500);
    const text = await boom.text();
    expect(JSON.parse(text)).toEqual({ error: 'SERVER_ERROR', message: 'Internal server error' });
    expect(text).not.toMatch(/secret|TypeError|at /);
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({ error: 'CONFLICT', message: 'Already there', details: { field: 'username' } });
  });
});

describe('GET /health', () => {
  it('reports healthy with d1 and actors, each with a latency', async () => {
    const { status, body } = await send('/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'healthy', service: 'edgerooms' });
    const services = body.services as Record<string, { status: string; latency: number; lastCheck: string }>;
    for (const name of ['d1', 'actors']) {
      expect(services[name]?.status, name).toBe('healthy');
      expect(typeof services[name]?.latency, name).toBe('number');
      expect(services[name]?.latency, name).toBeGreaterThanOrEqual(0);
      expect(Number.isNaN(Date.parse(services[name]?.lastCheck ?? '')), name).toBe(false);
    }
    expect(Number.isNaN(Date.parse(body.timestamp as string))).toBe(false);
  });
});

describe('seed vocabularies: one ApiError, each surface in its seed words', () => {
  it("renders seed 003's codes on its routes and the project's codes everywhere else, with the same status", async () => {
    const seed003 = await send('/api/events/poll');
    expect(seed003.status).toBe(401);
    expect(seed003.body.error).toBe('AUTH_FAILED');
    const seed000 = await send('/api/players/me');
    expect(seed000.status).toBe(401);
    expect(seed000.body.error).toBe('AUTHENTICATION_REQUIRED');

    const wrongType = await send('/api/events', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error).toBe('INVALID_REQUEST');
    // Under the seed's prefixes authentication comes first, so a stranger learns nothing about which paths exist.
    const noRoute = await send('/api/reconciliation/nowhere');
    expect(noRoute.status).toBe(401);
    expect(noRoute.body.error).toBe('AUTH_FAILED');
    const versioned = await send('/api/v1/events/poll');
    expect(versioned.body.error).toBe('AUTH_FAILED');
  });

  it('maps every project code to one of the seven seed 003 codes', () => {
    const seven = [
      'AUTH_FAILED',
      'AUTHZ_FAILED',
      'TENANT_VIOLATION',
      'RATE_LIMIT',
      'INVALID_REQUEST',
      'NOT_FOUND',
      'INTERNAL_ERROR',
    ];
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      expect(seven).toContain(codeIn('seed003', code));
      expect(codeIn('default', code)).toBe(code);
    }
    expect(codeIn('seed003', 'RATE_LIMIT_EXCEEDED')).toBe('RATE_LIMIT');
    expect(codeIn('seed003', 'SERVER_ERROR')).toBe('INTERNAL_ERROR');
    expect(codeIn('seed003', 'AUTHORIZATION_FAILED')).toBe('AUTHZ_FAILED');
  });
});
