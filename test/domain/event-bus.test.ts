import { describe, expect, it } from 'vitest';
import {
  groupUpdate,
  handlerRetryDelayMs,
  matchesTypes,
  parsePositionCursor,
  positionCursor,
  retentionFloor,
  validateGroup,
  validatePublishInputs,
  visibleTo,
} from '../../src/domain/event-bus';

describe('event bus rules', () => {
  it('retention drops by count and by age, but never an event a group holds pending', () => {
    expect(retentionFloor({ head: 150, newestExpired: 0, lowestPending: null, maxEvents: 100 })).toBe(51);
    expect(retentionFloor({ head: 150, newestExpired: 80, lowestPending: null, maxEvents: 100 })).toBe(81);
    expect(retentionFloor({ head: 150, newestExpired: 80, lowestPending: 20, maxEvents: 100 })).toBe(20);
    expect(retentionFloor({ head: 10, newestExpired: 0, lowestPending: null, maxEvents: 100 })).toBe(1);
    expect(retentionFloor({ head: 0, newestExpired: 0, lowestPending: null, maxEvents: 100 })).toBe(1);
  });

  it('matches exact types, prefixes and everything; audiences limit readers', () => {
    expect(matchesTypes([], 'a.b')).toBe(true);
    expect(matchesTypes(['*'], 'a.b')).toBe(true);
    expect(matchesTypes(['order.*'], 'order.placed')).toBe(true);
    expect(matchesTypes(['order.*'], 'orders.placed')).toBe(false);
    expect(matchesTypes(['order.placed'], 'order.placed.v2')).toBe(false);
    expect(visibleTo(null, 'u1')).toBe(true);
    expect(visibleTo(['u1'], 'u1')).toBe(true);
    expect(visibleTo(['u1'], 'u2')).toBe(false);
  });

  it('validates publish inputs and group settings, naming the field', () => {
    expect(validatePublishInputs([{ eventType: 'a', payload: null }])).toEqual([
      { eventType: 'a', payload: null, metadata: {}, schemaVersion: '1.0' },
    ]);
    expect(() => validatePublishInputs([])).toThrow(/between 1 and/);
    expect(() => validatePublishInputs([{ eventType: 'a', payload: 'x'.repeat(70_000) }])).toThrow(/exceed/);
    expect(() => validatePublishInputs([{ eventType: 'a', payload: 1, audience: [''] }])).toThrow(/audience/);
    expect(validateGroup({ name: 'g', kind: 'pull' })).toMatchObject({
      startPosition: 'new',
      maxDeliveries: 5,
      ackWaitMs: 30_000,
    });
    expect(() => validateGroup({ name: 'g', kind: 'pull', maxDeliveries: 0 })).toThrow(/maxDeliveries/);
  });

  it('keeps a group kind and start position on update, replacing the rest', () => {
    const existing = { kind: 'pull' as const, startPosition: 'beginning' as const };
    expect(groupUpdate(null, { name: 'g', kind: 'pull', startPosition: 'beginning' })).toMatchObject({
      startPosition: 'beginning',
    });
    expect(groupUpdate(existing, { name: 'g', kind: 'pull', maxDeliveries: 2 })).toMatchObject({
      startPosition: 'beginning',
      maxDeliveries: 2,
      ackWaitMs: 30_000,
    });
    expect(groupUpdate(existing, { name: 'g', kind: 'pull', startPosition: 'beginning' }).startPosition).toBe('beginning');
    expect(() => groupUpdate(existing, { name: 'g', kind: 'pull', startPosition: 'new' })).toThrow(
      /fixed when a group is created/,
    );
    expect(() => groupUpdate(existing, { name: 'g', kind: 'handler' })).toThrow(/exists as a pull group/);
  });

  it('backs off handler retries exponentially, capped; position cursors round-trip', () => {
    expect([1, 2, 3, 4].map(handlerRetryDelayMs)).toEqual([1000, 2000, 4000, 8000]);
    expect(handlerRetryDelayMs(30)).toBe(300_000);
    expect(parsePositionCursor(positionCursor(42))).toBe(42);
    expect(parsePositionCursor('evt-42')).toBeNull();
  });
});
