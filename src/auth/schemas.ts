import { z } from '@hono/zod-openapi';
import { ID_PATTERN } from '../domain/input';
import { ROLES } from './identity';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from './password-policy';
import { TENANT_ID_PATTERN } from './tenants';

/** Request and response schemas of the identity routes; they validate requests and feed /openapi.json. */

export const TenantId = z
  .string()
  .regex(TENANT_ID_PATTERN, 'must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit')
  .openapi({ example: 'acme' });

/** No colon: `service:<name>` stays reserved for service accounts. */
export const Username = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/, 'must be 3-32 letters, digits, "_", "." or "-", starting with a letter or digit')
  .openapi({ example: 'player1' });

export const NewPassword = z
  .string()
  .superRefine((value, ctx) => {
    const problem = passwordProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .openapi({
    example: 'SecurePass123!',
    description: `${PASSWORD_MIN_LENGTH}-${PASSWORD_MAX_LENGTH} characters with at least 3 of: lowercase, uppercase, digit, symbol`,
  });

export const RegisterRequest = z
  .object({
    username: Username,
    email: z.email().max(254).optional().openapi({ example: 'player@example.com' }),
    password: NewPassword,
    tenant_id: TenantId.optional(),
  })
  .strict()
  .openapi('RegisterRequest');

/** Login does not re-apply the password rules: they may have changed since the user registered. */
export const LoginRequest = z
  .object({
    username: z.string().min(1).max(64).openapi({ example: 'player1' }),
    password: z.string().min(1).max(1024).openapi({ example: 'SecurePass123!' }),
    tenant_id: TenantId.optional(),
  })
  .strict()
  .openapi('LoginRequest');

export const RefreshRequest = z
  .object({ refresh_token: z.string().min(1).max(512).optional() })
  .strict()
  .openapi('RefreshRequest');

export const TenantHeaders = z.object({
  'x-tenant-id': z.string().optional().openapi({ description: 'Tenant to act in (default `default`)' }),
});

export const SessionResponse = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    expires_at: z.string().openapi({ example: '2024-01-01T00:15:00Z' }),
    user_id: z.number().int(),
    username: z.string(),
    role: z.enum(ROLES),
  })
  .openapi('SessionResponse');

export const MessageResponse = z.object({ message: z.string() }).openapi('MessageResponse');

export const RoleRequest = z
  .object({ role: z.enum(ROLES) })
  .strict()
  .openapi('RoleRequest');

export const UserIdParam = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, 'must be a positive integer user id')
    .openapi({ param: { name: 'id', in: 'path' }, example: '123' }),
});

export const RoleResponse = z
  .object({
    user_id: z.number().int(),
    username: z.string(),
    tenant_id: z.string(),
    role: z.enum(ROLES),
    previous_role: z.enum(ROLES),
  })
  .openapi('RoleResponse');

export const ServiceTokenRequest = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 lowercase letters, digits, "_" or "-"')
      .openapi({ example: 'indexer' }),
    expires_in: z.number().int().min(60).max(31_536_000).optional().openapi({ description: 'Seconds, default 86400' }),
  })
  .strict()
  .openapi('ServiceTokenRequest');

export const ServiceTokenResponse = z
  .object({
    token: z.string(),
    token_type: z.literal('Bearer'),
    expires_at: z.string(),
    name: z.string(),
    user_id: z.number().int(),
  })
  .openapi('ServiceTokenResponse');
