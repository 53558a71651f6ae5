import { createRoute } from '@hono/zod-openapi';
import { changeRole, mintServiceToken } from '../../auth/admin';
import { RoleRequest, RoleResponse, ServiceTokenRequest, ServiceTokenResponse, UserIdParam } from '../../auth/schemas';
import { requireAuth, requireRole } from '../middleware/auth';
import { forgetRevocations } from '../middleware/rate-limit';
import { errorContent as error, jsonRequest as json } from '../openapi';
import { router } from '../validation';

/** Tenant administration: role grants and service tokens, for admins of the caller's own tenant. */

const roleRoute = createRoute({
  method: 'put',
  path: '/users/{id}/role',
  summary: "Set a user's role (admin; same tenant; not one's own)",
  security: [{ Bearer: [] }],
  request: { params: UserIdParam, body: json(RoleRequest) },
  responses: {
    200: { description: 'Role set; the user must log in again', content: { 'application/json': { schema: RoleResponse } } },
    400: error('Invalid body or id'),
    401: error('Not authenticated'),
    403: error('Not an admin, or changing one own role'),
    404: error('No such user in this tenant'),
  },
});

const serviceTokenRoute = createRoute({
  method: 'post',
  path: '/service-tokens',
  summary: 'Mint a service access token (admin)',
  security: [{ Bearer: [] }],
  request: { body: json(ServiceTokenRequest) },
  responses: {
    201: { description: 'Minted', content: { 'application/json': { schema: ServiceTokenResponse } } },
    400: error('Invalid body'),
    401: error('Not authenticated'),
    403: error('Not an admin'),
  },
});

export const admin = router();

admin.use('*', requireAuth, requireRole('admin'));

admin
  .openapi(roleRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { role } = c.req.valid('json');
    const admin = c.get('identity');
    const change = await changeRole(c.env, admin, Number(id), role);
    // The user's sessions were revoked: their next request must see it, not a cached answer.
    if (change.role !== change.previous_role) await forgetRevocations(c, admin.tenantId, change.user_id);
    return c.json(change, 200);
  })
  .openapi(serviceTokenRoute, async (c) => {
    const { name, expires_in } = c.req.valid('json');
    return c.json(await mintServiceToken(c.env, c.get('identity'), name, expires_in), 201);
  });
