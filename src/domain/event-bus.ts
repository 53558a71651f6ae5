import { ApiError } from '../errors';

/**
 * Seed 003's event bus, the pure part: the event shape, what a publisher may send, who may read an event, which
 * events a consumer group takes, delivery backoff and retention. The bus actor (`src/actors/event-bus.ts`) keeps
 * the stream, groups and pending lists in its SQLite and asks this module every question of policy.
 */

/** An event as seed 003 shows it (poll answers, handler callbacks, pull messages). */
export interface BusEvent {
  eventId: string;
  eventType: string;
  tenantId: string;
  /** ISO 8601, server time of the first publish. */
  timestamp: string;
  payload: unknown;
  metadata: Record<string, unknown>;
  schemaVersion: string;
}

/** What a publisher hands the bus (REST body item, in-Worker `publish`, the Socket.IO hub's class B messages). */
export interface PublishInput {
  /** Idempotency key: publishing the same id again returns the stored event and stores nothing. */
  eventId?: string;
  eventType: string;
  payload: unknown;
  metadata?: Record<string, unknown>;
  schemaVersion?: string;
  /** User ids allowed to read the event through `/api/events/poll`; absent = the whole tenant. */
  audience?: string[];
}

/** A stored event: the seed's shape plus its stream position and, for addressed events, its readers. */
export interface StoredEvent {
  event: BusEvent;
  /** Position in the tenant's stream: monotonic, never reused, survives restarts. */
  position: number;
  audience: string[] | null;
}

/** One publish answer per input, in input order. */
export interface Published {
  event: BusEvent;
  position: number;
  /** True when the eventId was already in the stream: nothing was stored this time. */
  duplicate: boolean;
}

export const LIMITS = {
  /** Events per publish call (REST or RPC): the seed's per-second budget fits in one batch. */
  batchMax: 1000,
  eventIdMax: 128,
  eventTypeMax: 128,
  schemaVersionMax: 32,
  /** Serialized payload + metadata of one event. */
  eventBytesMax: 64 * 1024,
  audienceMax: 1000,
  /** Event types one group filters on. */
  groupTypesMax: 64,
  pollDefault: 100,
  pollMax: 500,
  pullBatchMax: 256,
} as const;

/** Retention: count and age bounds (never dropping an event a group still holds pending). */
export const RETENTION = { maxEvents: 100_000, maxAgeMs: 7 * 24 * 60 * 60_000 } as const;

export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9_.:-]+$/;
/** An eventType filter: an exact type, `prefix.*` (any type under the prefix) or `*` (everything). */
export const EVENT_TYPE_FILTER_PATTERN = /^(\*|[A-Za-z0-9_.:-]+(\.\*)?)$/;
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

const invalid = (message: string, field: string, issue: string, extra: Record<string, unknown> = {}) =>
  new ApiError('INVALID_REQUEST', message, { details: { field, issue, ...extra } });

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The input as it will be stored; throws INVALID_REQUEST naming the item and field. Pure, so RPC callers get it too. */
export function validatePublishInputs(inputs: readonly PublishInput[]): PublishInput[] {
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > LIMITS.batchMax) {
    throw invalid(`Publish between 1 and ${LIMITS.batchMax} events at once`, 'events', 'batch_size', { max: LIMITS.batchMax });
  }
  const seen = new Set<string>();
  return inputs.map((input, i) => {
    const at = (field: string) => `events.${i}.${field}`;
    if (!isPlainObject(input)) throw invalid(`Event ${i} must be an object`, `events.${i}`, 'not_an_object');
    const { eventId, eventType, metadata, schemaVersion, audience } = input;
    if (eventId !== undefined && (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > LIMITS.eventIdMax)) {
      throw invalid(`eventId must be 1-${LIMITS.eventIdMax} characters`, at('eventId'), 'invalid_event_id');
    }
    if (typeof eventType !== 'string' || eventType.length > LIMITS.eventTypeMax || !EVENT_TYPE_PATTERN.test(eventType)) {
      throw invalid(
        `eventType must match ${EVENT_TYPE_PATTERN} (at most ${LIMITS.eventTypeMax})`,
        at('eventType'),
        'invalid_event_type',
      );
    }
    if (metadata !== undefined && !isPlainObject(metadata))
      throw invalid('metadata must be an object', at('metadata'), 'not_an_object');
    if (
      schemaVersion !== undefined &&
      (typeof schemaVersion !== 'string' || schemaVersion.length === 0 || schemaVersion.length > LIMITS.schemaVersionMax)
    ) {
      throw invalid(
        `schemaVersion must be 1-${LIMITS.schemaVersionMax} characters`,
        at('schemaVersion'),
        'invalid_schema_version',
      );
    }
    if (
      audience !== undefined &&
      (!Array.isArray(audience) ||
        audience.length > LIMITS.audienceMax ||
        audience.some((u) => typeof u !== 'string' || u.length === 0 || u.length > 128))
    ) {
      throw invalid(`audience must be at most ${LIMITS.audienceMax} user ids`, at('audience'), 'invalid_audience');
    }
    if (input.payload === undefined) throw invalid('payload is required', at('payload'), 'required');
    let bytes: number;
    try {
      bytes = new TextEncoder().encode(JSON.stringify([input.payload, metadata ?? {}])).byteLength;
    } catch {
      throw invalid('payload must be JSON', at('payload'), 'not_json');
    }
    if (bytes > LIMITS.eventBytesMax) {
      throw invalid(`payload and metadata exceed ${LIMITS.eventBytesMax} bytes`, at('payload'), 'too_large', {
        max: LIMITS.eventBytesMax,
      });
    }
    if (eventId !== undefined) {
      if (seen.has(eventId))
        throw invalid(`eventId "${eventId}" appears twice in the batch`, at('eventId'), 'duplicate_in_batch');
      seen.add(eventId);
    }
    return {
      ...(eventId !== undefined ? { eventId } : {}),
      eventType,
      payload: input.payload,
      metadata: metadata ?? {},
      schemaVersion: schemaVersion ?? '1.0',
      ...(audience !== undefined ? { audience: [...new Set(audience)] } : {}),
    };
  });
}

/** Whether `userId` may read a stored event: the whole tenant, or the users it is addressed to. */
export const visibleTo = (audience: readonly string[] | null, userId: string): boolean =>
  audience === null || audience.includes(userId);

/** Whether an event type passes a group's filters (empty = every type). */
export function matchesTypes(filters: readonly string[], eventType: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => f === '*' || f === eventType || (f.endsWith('.*') && eventType.startsWith(f.slice(0, -1))));
}

/** A durable consumer group, as Redis Streams and JetStream define one. */
export interface GroupConfig {
  name: string;
  /** Filters (see `matchesTypes`); empty = every event type. */
  eventTypes: string[];
  /** `new`: events published after the group was created; `beginning`: everything still retained. */
  startPosition: 'new' | 'beginning';
  /** A delivery not acked within this is redelivered (or dead-lettered after `maxDeliveries`). */
  ackWaitMs: number;
  maxDeliveries: number;
  /** `pull`: HTTP consumers; `handler`: a callback registered in code, run by the bus actor. */
  kind: 'pull' | 'handler';
}

export const GROUP_DEFAULTS = { ackWaitMs: 30_000, maxDeliveries: 5, startPosition: 'new' } as const;
export const GROUP_BOUNDS = {
  ackWaitMsMin: 1_000,
  ackWaitMsMax: 12 * 60 * 60_000,
  maxDeliveriesMax: 100,
  leaseMsMin: 1_000,
} as const;

/** A group's settings as a caller gives them (a PUT body, a subscription). */
export interface GroupInput {
  name: string;
  eventTypes?: string[];
  startPosition?: string;
  ackWaitMs?: number;
  maxDeliveries?: number;
  kind: 'pull' | 'handler';
}

/** Validates a group's name and settings; throws INVALID_REQUEST naming the field. */
export function validateGroup(input: GroupInput): GroupConfig {
  if (!GROUP_NAME_PATTERN.test(input.name)) throw invalid(`group must match ${GROUP_NAME_PATTERN}`, 'group', 'invalid_group');
  const eventTypes = input.eventTypes ?? [];
  if (!Array.isArray(eventTypes) || eventTypes.length > LIMITS.groupTypesMax) {
    throw invalid(`eventTypes: at most ${LIMITS.groupTypesMax} filters`, 'eventTypes', 'too_many');
  }
  for (const [i, t] of eventTypes.entries()) {
    if (typeof t !== 'string' || t.length > LIMITS.eventTypeMax || !EVENT_TYPE_FILTER_PATTERN.test(t)) {
      throw invalid(`eventTypes.${i} must be a type, "prefix.*" or "*"`, `eventTypes.${i}`, 'invalid_event_type');
    }
  }
  const startPosition = input.startPosition ?? GROUP_DEFAULTS.startPosition;
  if (startPosition !== 'new' && startPosition !== 'beginning') {
    throw invalid('startPosition must be "new" or "beginning"', 'startPosition', 'invalid_start_position');
  }
  const ackWaitMs = input.ackWaitMs ?? GROUP_DEFAULTS.ackWaitMs;
  if (!Number.isInteger(ackWaitMs) || ackWaitMs < GROUP_BOUNDS.ackWaitMsMin || ackWaitMs > GROUP_BOUNDS.ackWaitMsMax) {
    throw invalid(`ackWaitMs must be ${GROUP_BOUNDS.ackWaitMsMin}-${GROUP_BOUNDS.ackWaitMsMax}`, 'ackWaitMs', 'out_of_range');
  }
  const maxDeliveries = input.maxDeliveries ?? GROUP_DEFAULTS.maxDeliveries;
  if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1 || maxDeliveries > GROUP_BOUNDS.maxDeliveriesMax) {
    throw invalid(`maxDeliveries must be 1-${GROUP_BOUNDS.maxDeliveriesMax}`, 'maxDeliveries', 'out_of_range');
  }
  return { name: input.name, eventTypes: [...new Set(eventTypes)], startPosition, ackWaitMs, maxDeliveries, kind: input.kind };
}

/**
 * The settings a create or an update leaves a group with (`existing` null = create): an update keeps the group's
 * kind and start position (repeating it is fine; another is INVALID_REQUEST) and replaces the rest.
 */
export function groupUpdate(existing: Pick<GroupConfig, 'kind' | 'startPosition'> | null, input: GroupInput): GroupConfig {
  if (!existing) return validateGroup(input);
  if (existing.kind !== input.kind) {
    throw invalid(`Group "${input.name}" exists as a ${existing.kind} group`, 'group', 'group_kind_mismatch', {
      kind: existing.kind,
    });
  }
  if (input.startPosition !== undefined && input.startPosition !== existing.startPosition) {
    throw invalid(`startPosition is fixed when a group is created ("${existing.startPosition}")`, 'startPosition', 'immutable', {
      startPosition: existing.startPosition,
    });
  }
  return validateGroup({ ...input, startPosition: existing.startPosition });
}

/** Backoff before a failed handler delivery is retried: 1 s, 2 s, 4 s, ... capped at 5 min. */
export function handlerRetryDelayMs(deliveries: number): number {
  return Math.min(1000 * 2 ** Math.max(0, deliveries - 1), 5 * 60_000);
}

/**
 * The lowest stream position retention keeps: every position below it may be deleted. The count and age bounds
 * decide, except that an event a group still holds pending (delivered, not yet acked or dead-lettered) is never
 * dropped, whatever the bounds say. Dead letters keep their own copy of the event.
 */
export function retentionFloor(input: {
  /** Highest position in the stream (0 when empty). */
  head: number;
  /** Position of the newest event older than the age bound (0 when none is). */
  newestExpired: number;
  /** Lowest position any group holds pending; null when nothing is pending. */
  lowestPending: number | null;
  maxEvents: number;
}): number {
  const byCount = input.head - input.maxEvents + 1;
  const byAge = input.newestExpired + 1;
  const floor = Math.max(byCount, byAge, 1);
  return input.lowestPending === null ? floor : Math.min(floor, input.lowestPending);
}

/** Poll cursor: an event's id, or a stream position `pos:<n>` (what `nextEventId` carries past events the caller cannot read). */
export const positionCursor = (position: number): string => `pos:${position}`;
export function parsePositionCursor(cursor: string): number | null {
  const m = /^pos:(\d{1,15})$/.exec(cursor);
  return m ? Number(m[1]) : null;
}

/** `{ events, hasMore, nextEventId }` as seed 003 shows it, plus the flag of a reference that could not be honoured. */
export interface BusPoll {
  events: BusEvent[];
  hasMore: boolean;
  /** Pass it as `lastEventId` next time: the last event returned, or `pos:<n>` when none was. */
  nextEventId: string;
  /** Set when `lastEventId` was unknown, not readable by the caller, or older than retention: the page starts at the oldest retained event. */
  truncated?: true;
  reason?: 'unknown_event_id' | 'expired';
  /** The oldest retained stream position (with `truncated`). */
  oldestPosition?: number;
}

export interface GroupInfo extends GroupConfig {
  cursor: number;
  pending: number;
  deadLetters: number;
  subscriptionId: string | null;
  createdAt: string;
}

export interface PullMessage {
  leaseId: string;
  attempts: number;
  position: number;
  event: BusEvent;
}

export interface AckResult {
  acked: string[];
  nacked: string[];
  terminated: string[];
  /** Lease ids that are no longer held (acked before, redelivered under another lease, or never issued). */
  unknown: string[];
}

export interface BusStats {
  head: number;
  retained: number;
  groups: number;
  /** Events appended per second over the last 10 s (in this actor's memory since it last started). */
  eventsPerSecond: number;
}

/** Events appended per second over a short window, for `stats()` and the gauges (kept in memory: [epoch second, count]). */
export class AppendRate {
  static readonly WINDOW_S = 10;
  private readonly seconds: Array<[number, number]> = [];

  /** Appends per second over the last WINDOW_S seconds, one decimal. */
  perSecond(now: number): number {
    const second = Math.floor(now / 1000);
    const w = AppendRate.WINDOW_S;
    const recent = this.seconds.filter(([s]) => s > second - w && s <= second).reduce((n, [, c]) => n + c, 0);
    return Math.round((recent / w) * 10) / 10;
  }

  count(n: number, now: number): void {
    if (n === 0) return;
    const second = Math.floor(now / 1000);
    const last = this.seconds[this.seconds.length - 1];
    if (last && last[0] === second) last[1] += n;
    else this.seconds.push([second, n]);
    while (this.seconds.length > AppendRate.WINDOW_S + 1) this.seconds.shift();
  }
}

/**
 * Where a poll starts after `lastEventId` (an eventId or `pos:<n>`; none = from the oldest retained): `after` is the
 * position to read after, `reason` set when the reference could not be honoured (the page then starts at the oldest
 * retained event). `visiblePosition` answers an eventId's position when the caller may read it, else null.
 */
export function pollStart(
  lastEventId: string | undefined,
  head: number,
  oldestPosition: number,
  visiblePosition: (eventId: string) => number | null,
): { after: number; reason: BusPoll['reason'] } {
  let after = 0;
  let reason: BusPoll['reason'];
  if (lastEventId !== undefined && lastEventId !== '') {
    const position = parsePositionCursor(lastEventId);
    if (position !== null) {
      if (position > head) reason = 'unknown_event_id';
      else if (position < oldestPosition - 1) reason = 'expired';
      else after = position;
    } else {
      const known = visiblePosition(lastEventId);
      if (known !== null) after = known;
      else reason = 'unknown_event_id';
    }
    if (reason) after = oldestPosition - 1;
  }
  return { after, reason };
}

/** How soon a handler group whose callback this isolate does not know is looked at again. */
export const HANDLER_MISSING_RETRY_MS = 30_000;

/**
 * When the bus's alarm should next run: the earliest lease expiry or redelivery, handler work on new events, or the
 * oldest event's age-out; null when nothing is due. A handler group whose callback this isolate lacks is looked at
 * again later, not in a loop.
 */
export function nextWake(input: {
  now: number;
  head: number;
  groups: ReadonlyArray<{ name: string; kind: string; cursor: number }>;
  dues: ReadonlyArray<{ group: string; dueAt: number }>;
  oldestAt: number | null;
  hasHandler: (group: string) => boolean;
}): number | null {
  const { now, head } = input;
  const candidates: number[] = [];
  const groups = new Map(input.groups.map((g) => [g.name, g]));
  const stalled = (name: string) => groups.get(name)?.kind === 'handler' && !input.hasHandler(name);
  for (const { group, dueAt } of input.dues) {
    candidates.push(stalled(group) ? Math.max(dueAt, now + HANDLER_MISSING_RETRY_MS) : dueAt);
  }
  for (const g of groups.values()) {
    if (g.kind === 'handler' && g.cursor < head) candidates.push(stalled(g.name) ? now + HANDLER_MISSING_RETRY_MS : now);
  }
  if (input.oldestAt !== null) candidates.push(input.oldestAt + RETENTION.maxAgeMs);
  return candidates.length ? Math.max(now, Math.min(...candidates)) : null;
}
