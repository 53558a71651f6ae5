import { type BusEvent, handlerRetryDelayMs } from '../domain/event-bus';
import type { EventBusStore } from './event-bus-store';

/**
 * The callbacks of in-Worker subscriptions (`EventBusService.subscribe`), by tenant and consumer group, and how the
 * bus actor runs them from its alarm (`runHandlerGroups`). A Durable Object may run in another isolate than the request that subscribed, so
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

/** Handler deliveries one alarm runs per group; more wake the alarm again at once. */
const HANDLER_BATCH = 100;

/**
 * Runs the registered callbacks on due and new events of every handler group (from the bus actor's alarm). A
 * delivery is leased before its callback runs, so an actor that dies mid-callback finds it expired and retries;
 * a throw retries with backoff, and past the group's `maxDeliveries` the event becomes a dead letter.
 */
export async function runHandlerGroups(
  store: EventBusStore,
  tenantId: string,
  now: number,
  transaction: <T>(fn: () => T) => T,
): Promise<void> {
  for (const g of store.groups()) {
    if (g.kind !== 'handler') continue;
    const handler = handlerFor(tenantId, g.name);
    // Not registered in this isolate: deliver nothing (no attempt is spent); the actor's alarm looks again later.
    if (!handler) continue;
    const batch = transaction(() =>
      store.deliver(g, HANDLER_BATCH, now, (row, event, deliveries) => {
        store.lease(g.name, row.position, 'handler', `lease_${crypto.randomUUID()}`, now + g.ackWaitMs, deliveries);
        return { position: row.position, event, deliveries };
      }),
    );
    for (const item of batch) {
      try {
        await handler(item.event);
        store.removePending(g.name, item.position);
      } catch (err) {
        console.error(`event bus: handler ${g.name} failed on ${item.event.eventId} (delivery ${item.deliveries})`, err);
        const row = {
          group: g.name,
          position: item.position,
          consumer: null,
          deliveries: item.deliveries,
          leaseId: null,
          dueAt: now,
          state: 'leased' as const,
        };
        if (item.deliveries >= g.maxDeliveries) store.kill(row, 'max_deliveries', Date.now());
        else store.release(g.name, item.position, Date.now() + handlerRetryDelayMs(item.deliveries));
      }
    }
  }
}
