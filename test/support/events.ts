import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import { LIMITS, type LimitName } from '../../src/core/limits';
import { call, registerUser, type Session, tenantAdmin, uniqueName, uniqueTenant } from './api';

/** A fresh tenant with an admin, a service token and two players, so limits and streams start empty. */
export interface EventTenant {
  tenant: string;
  admin: Session;
  service: string;
  alice: Session;
  bob: Session;
}

export async function eventTenant(): Promise<EventTenant> {
  const tenant = uniqueTenant();
  const admin = await tenantAdmin(tenant);
  const minted = await call('/api/admin/service-tokens', {
    token: admin.access_token,
    body: { name: uniqueName('svc').toLowerCase().slice(0, 60) },
  });
  expect(minted.status, JSON.stringify(minted.body)).toBe(201);
  const [alice, bob] = await Promise.all([registerUser({ tenant }), registerUser({ tenant })]);
  return { tenant, admin, service: minted.body.token as string, alice: alice as Session, bob: bob as Session };
}

export const publish = (token: string, body: unknown, headers: Record<string, string> = {}) =>
  call('/api/events', { token, body, headers });

export const poll = (token: string, query = '', headers: Record<string, string> = {}) =>
  call(`/api/events/poll${query}`, { method: 'GET', token, headers });

/**
 * Leaves limiter `key` as a full window of requests made `holdMs` from now would, so the next request is refused
 * however slowly a loaded machine gets to it. The object is evicted first so its next instance reads this state.
 */
export async function exhaust(key: string, name: LimitName, holdMs = 30_000): Promise<void> {
  const { id, limit } = LIMITS[name];
  const stub = env.RATE_LIMITER.getByName(key);
  await evictDurableObject(stub);
  // The limiter keeps its budgets under `window|<id>` in its key-value storage (`Budgets` in src/core/budgets.ts).
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.kv.put(`window|${id}`, { log: [[Date.now() + holdMs, limit]], reserve: 0 });
  });
}
