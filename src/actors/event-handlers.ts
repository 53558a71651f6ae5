import type { BusEvent } from '../domain/event-bus';

/**
 * Callbacks of in-Worker subscriptions (`EventBusService.subscribe`), by tenant and consumer group. The bus actor
 * runs them from its alarm. A Durable Object may run in another isolate than the request that subscribed, so
 * register long-lived handlers at module scope (in a module `src/index.ts` imports): every isolate then has them.
 * A delivery whose handler this isolate does not know stays pending and is retried with backoff; nothing is lost.
 */
export type EventHandler = (event: BusEvent) => void | Promise<void>;

const handlers = new Map<string, EventHandler>();
const keyOf = (tenantId: string, group: string) => `${tenantId}\u0000${group}`;

export function registerHandler(tenantId: string, group: string, handler: EventHandler): void {
  handlers.set(keyOf(tenantId, group), handler);
}

export function unregisterHandler(tenantId: string, group: string): void {
  handlers.delete(keyOf(tenantId, group));
}

export const handlerFor = (tenantId: string, group: string): EventHandler | undefined => handlers.get(keyOf(tenantId, group));
