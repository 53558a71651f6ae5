import { describe, expect, it } from 'vitest';
import { EventDedup, OfflineQueue } from '../../src/client';

describe('EventDedup', () => {
  it('accepts an id once and refuses it again', () => {
    const dedup = new EventDedup(10);
    expect(dedup.accept('e1')).toBe(true);
    expect(dedup.accept('e2')).toBe(true);
    expect(dedup.accept('e1')).toBe(false);
    expect(dedup.size).toBe(2);
  });

  it('keeps memory bounded, forgetting the oldest ids first', () => {
    const dedup = new EventDedup(3);
    for (const id of ['a', 'b', 'c', 'd']) dedup.accept(id);
    expect(dedup.size).toBe(3);
    expect(dedup.has('a')).toBe(false);
    expect(dedup.accept('b')).toBe(false);
    expect(dedup.accept('a')).toBe(true);
    expect(() => new EventDedup(0)).toThrow(RangeError);
  });
});

describe('OfflineQueue', () => {
  it('drains in order and drops the oldest past its limit', () => {
    const queue = new OfflineQueue<number>(3);
    expect([1, 2, 3].map((n) => queue.push(n))).toEqual([undefined, undefined, undefined]);
    expect(queue.push(4)).toBe(1);
    queue.unshift(0);
    queue.remove((n) => n === 3);
    expect(queue.drain()).toEqual([0, 2, 4]);
    expect(queue.size).toBe(0);
    expect(() => new OfflineQueue(-1)).toThrow(RangeError);
  });
});
