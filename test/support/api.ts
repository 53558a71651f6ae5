import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';

/** REST calls through the Worker (`SELF.fetch`) and the sessions they need. */

/**
 * Auth endpoints are limited per IP, so every request comes from its own CF-Connecting-IP. The start is
 * random because limiter state may outlive one test file.
 */
let ipCounter = Math.floor(Math.random() * 0xfff000);
export function nextIp(): string {
  ipCounter = (ipCounter + 1) % 0xffffff;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

let nameCounter = 0;
/** A username no other test uses. */
export const uniqueName = (prefix = 'user') =>
  `${prefix}_${Date.now().toString(36)}${(nameCounter++).toString(36)}${Math.floor(Math.random() * 1e4)}`;

export const PASSWORD = 'SecurePass123!';

/** Response bodies are asserted field by field; typing each one would only restate the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Body = any;

export interface Call {
  method?: string;
  body?: unknown;
  /** Sent as-is instead of JSON.stringify(body). */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
}

export async function call(path: string, opts: Call = {}): Promise<{ status: number; body: Body; res: Response }> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': nextIp(), ...opts.headers };
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] ??= 'application/json';
  }
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const res = await SELF.fetch(`https://edge.test${path}`, { method: opts.method ?? 'POST', headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the assertion message
  }
  return { status: res.status, body: parsed, res };
}

export interface Session {
  access_token: string;
  refresh_token: string;
  expires_at: string;
  user_id: number;
  username: string;
  role: string;
}

export async function registerUser(opts: { tenant?: string; username?: string } = {}): Promise<Session> {
  const username = opts.username ?? uniqueName();
  const r = await call('/api/auth/register', {
    body: { username, email: `${username}@example.com`, password: PASSWORD, ...(opts.tenant ? { tenant_id: opts.tenant } : {}) },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as Session;
}

export function expectError(r: { status: number; body: Body }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error).toBe(code);
  expect(typeof r.body.message).toBe('string');
}

export const uniqueTenant = () => `t-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;

/** An admin of a fresh tenant: registered as a player, granted the role in D1, then logged in again. */
export async function tenantAdmin(tenant: string): Promise<Session> {
  const s = await registerUser({ tenant });
  await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?1").bind(s.user_id).run();
  const r = await call('/api/auth/login', { body: { username: s.username, password: PASSWORD, tenant_id: tenant } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as Session;
}

/** A closed axis-aligned rectangle as a GeoJSON Polygon. */
export const rect = (x0: number, y0: number, x1: number, y1: number) => ({
  type: 'Polygon',
  coordinates: [
    [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
      [x0, y0],
    ],
  ],
});
