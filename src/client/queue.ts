/**
 * Frames written while no transport is open, flushed in order when one opens. Bounded so an app that keeps
 * sending into a dead connection cannot grow memory without end: past `limit` the oldest frame is dropped
 * and handed back so the caller can report it.
 */
export class OfflineQueue<T> {
  #items: T[] = [];

  constructor(readonly limit = 1000) {
    if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError('queue limit must be a positive integer');
  }

  /** Appends; returns the frame evicted to stay within the limit, if any. */
  push(item: T): T | undefined {
    this.#items.push(item);
    return this.#items.length > this.limit ? this.#items.shift() : undefined;
  }

  /** Puts frames back at the head, in their order (a send that failed before it left). */
  unshift(...items: T[]): void {
    this.#items.unshift(...items);
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }

  /** Removes the items matching `predicate` (a timed-out request must not go out later). */
  remove(predicate: (item: T) => boolean): void {
    this.#items = this.#items.filter((item) => !predicate(item));
  }

  get size(): number {
    return this.#items.length;
  }
}
