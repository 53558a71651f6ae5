import type { BusEvent, Published, PublishInput } from '../domain/event-bus';
import type { Env } from '../env';
import { fromReply } from '../errors';
import type { BusAnswer, EventBus, GroupInfo } from './event-bus';
import { type EventHandler, registerHandler, unregisterHandler } from './event-handlers';
import { eventBusActor } from './keys';

/**
 * Seed 003's `EventBusService` for code inside the Worker: `publish`, `subscribe`, `unsubscribe`, over the
 * tenant's EventBus actor. Delivery to a subscription is at least once, in stream order per consumer group: the
 * callback may see an event again after a failure (it is retried with backoff, then dead-lettered), so it must be
 * idempotent on `eventId`.
 *
 * ```ts
 * const bus = new EventBusService(env);
 * await bus.publish({ eventType: 'order.placed', tenantId: 'acme', payload: { orderId: 'o-1' } });
 * const sub = await bus.subscribe({ tenantId: 'acme', eventTypes: ['order.*'], consumerGroup: 'mailer', callback });
 * await bus.unsubscribe(sub.subscriptionId);
 * ```
 */

/** An event as the seed's publisher writes it; `timestamp` is accepted and replaced by the server's. */
export interface ServiceEvent extends PublishInput {
  tenantId: string;
  timestamp?: Date | string;
}

export interface SubscribeOptions {
  /** Generated when absent. */
  subscriptionId?: string;
  tenantId: string;
  /** Exact types, `prefix.*` or `*`. */
  eventTypes: string[];
  consumerGroup: string;
  callback: EventHandler;
  /** Where a new group starts: `new` (default) or `beginning` (everything retained). */
  startPosition?: 'new' | 'beginning';
  /** Deliveries before an event becomes a dead letter (default 5). */
  maxDeliveries?: number;
}

export interface Subscription {
  subscriptionId: string;
  tenantId: string;
  consumerGroup: string;
  eventTypes: string[];
  group: GroupInfo;
}

export class EventBusService {
  /** Subscriptions made through this object, so `unsubscribe(id)` knows their tenant. */
  private readonly subscriptions = new Map<string, { tenantId: string; consumerGroup: string }>();

  constructor(private readonly env: Env) {}

  private bus(tenantId: string): DurableObjectStub<EventBus> {
    return eventBusActor(this.env, tenantId);
  }

  /** Publishes one event, or a batch of one tenant's events in order; answers the stored form and position of each. */
  async publish(event: ServiceEvent): Promise<Published>;
  async publish(events: ServiceEvent[]): Promise<Published[]>;
  async publish(input: ServiceEvent | ServiceEvent[]): Promise<Published | Published[]> {
    const events = Array.isArray(input) ? input : [input];
    const tenantId = events[0]?.tenantId ?? '';
    if (events.some((e) => e.tenantId !== tenantId)) throw new TypeError('publish: one tenant per batch');
    const inputs = events.map(({ tenantId: _t, timestamp: _ts, ...rest }) => rest);
    const published = fromReply((await this.bus(tenantId).publish(inputs)) as BusAnswer<'publish'>);
    return Array.isArray(input) ? published : (published[0] as Published);
  }

  /** Registers `callback` for the group in this isolate and creates (or updates) the durable group in the bus. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const subscriptionId = options.subscriptionId ?? crypto.randomUUID();
    registerHandler(options.tenantId, options.consumerGroup, options.callback);
    const { group } = fromReply(
      await this.bus(options.tenantId).subscribe({
        subscriptionId,
        consumerGroup: options.consumerGroup,
        eventTypes: options.eventTypes,
        startPosition: options.startPosition,
        maxDeliveries: options.maxDeliveries,
      }),
    );
    this.subscriptions.set(subscriptionId, { tenantId: options.tenantId, consumerGroup: options.consumerGroup });
    return {
      subscriptionId,
      tenantId: options.tenantId,
      consumerGroup: options.consumerGroup,
      eventTypes: group.eventTypes,
      group,
    };
  }

  /** Ends a subscription: its group and pending list are deleted. False when it was not known. */
  async unsubscribe(subscription: string | Pick<Subscription, 'subscriptionId' | 'tenantId'>): Promise<boolean> {
    const id = typeof subscription === 'string' ? subscription : subscription.subscriptionId;
    const known = this.subscriptions.get(id);
    const tenantId = typeof subscription === 'string' ? known?.tenantId : subscription.tenantId;
    if (!tenantId) return false;
    const group = await this.bus(tenantId).unsubscribe(id);
    if (group) unregisterHandler(tenantId, group);
    this.subscriptions.delete(id);
    return group !== null;
  }
}

export type { BusEvent, Published };
