import { createRoute, z } from '@hono/zod-openapi';
import { login, register } from '../../auth/accounts';
import {
  LoginRequest,
  MessageResponse,
  RefreshRequest,
  RegisterRequest,
  SessionResponse,
  TenantHeaders,
} from '../../auth/schemas';
import { logout, refreshSession } from '../../auth/sessions';
import { resolveTenant } from '../../auth/tenants';
import { issueTicket, TICKET_TTL_SECONDS } from '../../auth/tickets';
import { ApiError } from '../../errors';
import { requireAuth } from '../middleware/auth';
import { forgetRevocations } from '../middleware/rate-limit';
import { errorContent as error, jsonRequest as json } from '../openapi';
import { router } from '../validation';

/** Seed 000's authentication endpoints. Thin: parsing here, everything else in src/auth. */

const session = (description: string) => ({ description, content: { 'application/json': { schema: SessionResponse } } });

const registerRoute = createRoute({
  method: 'post',
  path: '/register',
  summary: 'Register a player (creates its tenant if new) and start a session',
  request: { headers: TenantHeaders, body: json(RegisterRequest) },
  responses: {
    201: session('Registered and logged in'),
    400: error('Invalid body or weak password'),
    403: error('tenant_id and X-Tenant-ID disagree'),
    409: error('Username taken in this tenant'),
  },
});

const loginRoute = createRoute({
  method: 'post',
  path: '/login',
  summary: 'Log in with username and password',
  request: { headers: TenantHeaders, body: json(LoginRequest) },
  responses: {
    200: session('Logged in'),
    400: error('Invalid body'),
    401: error('Invalid username or password'),
  },
});

const refreshRoute = createRoute({
  method: 'post',
  path: '/refresh',
  summary: 'Rotate a refresh token (Authorization: Bearer <refresh_token> or body)',
  request: { headers: TenantHeaders, body: json(RefreshRequest, false) },
  responses: {
    200: session('New token pair; the presented refresh token is spent'),
    401: error('Invalid, expired or reused refresh token (reuse revokes the whole session)'),
  },
});

const logoutRoute = createRoute({
  method: 'post',
  path: '/logout',
  summary: 'Revoke the session of the presented access token',
  security: [{ Bearer: [] }],
  middleware: [requireAuth] as const,
  responses: {
    200: { description: 'Logged out', content: { 'application/json': { schema: MessageResponse } } },
    401: error('Missing or invalid access token'),
  },
});

const ticketRoute = createRoute({
  method: 'post',
  path: '/ticket',
  summary: 'Exchange the access token for a single-use connection ticket',
  description:
    `A ticket stands for the caller's access token for ${TICKET_TTL_SECONDS} s and one connection: put it in a ` +
    'WebSocket, SSE or Socket.IO URL as `?ticket=` instead of the token, so no token lands in logs or history.',
  security: [{ Bearer: [] }],
  middleware: [requireAuth] as const,
  responses: {
    201: {
      description: 'A ticket',
      content: { 'application/json': { schema: z.object({ ticket: z.string(), expires_at: z.string() }).openapi('Ticket') } },
    },
    401: error('Missing or invalid access token'),
  },
});

/** The refresh token from `Authorization: Bearer`, else from the body. */
function presentedRefreshToken(authorization: string | undefined, body: { refresh_token?: string }): string {
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  const token = bearer ?? body.refresh_token;
  if (!token) {
    throw new ApiError(
      'AUTHENTICATION_REQUIRED',
      'Refresh token required: send Authorization: Bearer <refresh_token> or {"refresh_token": "..."}',
      { details: { field: 'refresh_token', reason: 'missing' } },
    );
  }
  return token;
}

export const auth = router();

auth.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });

auth
  .openapi(registerRoute, async (c) => {
    const body = c.req.valid('json');
    const tenantId = resolveTenant(body.tenant_id, c.req.valid('header')['x-tenant-id']);
    const result = await register(c.env, {
      tenantId,
      username: body.username,
      email: body.email,
      password: body.password,
    });
    return c.json(result, 201);
  })
  .openapi(loginRoute, async (c) => {
    const body = c.req.valid('json');
    const tenantId = resolveTenant(body.tenant_id, c.req.valid('header')['x-tenant-id']);
    return c.json(await login(c.env, { tenantId, username: body.username, password: body.password }), 200);
  })
  .openapi(refreshRoute, async (c) => {
    const token = presentedRefreshToken(c.req.header('authorization'), c.req.valid('json'));
    const tenant = c.req.valid('header')['x-tenant-id'];
    return c.json(
      await refreshSession(c.env, token, tenant, Date.now(), (family) => forgetRevocations(c, family.tenantId, family.userId)),
      200,
    );
  })
  .openapi(ticketRoute, async (c) => c.json(await issueTicket(c.env, c.get('identity')), 201))
  .openapi(logoutRoute, async (c) => {
    const identity = c.get('identity');
    await logout(c.env, identity);
    await forgetRevocations(c, identity.tenantId, identity.userId);
    return c.json({ message: 'Logged out successfully' }, 200);
  });
