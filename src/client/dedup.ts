/**
 * Remembers the last `capacity` event ids so a replayed or doubly delivered event (reconnect replay overlapping
 * live delivery, two transports during a switch) is handed to the application once. Bounded: a Set keeps
 * insertion order, so the oldest id is the first one to evict.
 */
export class EventDedup {
  readonly #seen = new Set<string>();

  constructor(readonly capacity = 1000) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError('dedup capacity must be a positive integer');
  }

  /** True the first time `eventId` is offered (and remembers it); false for a duplicate. */
  accept(eventId: string): boolean {
    if (this.#seen.has(eventId)) return false;
    this.#seen.add(eventId);
    if (this.#seen.size > this.capacity) {
      const oldest = this.#seen.values().next().value as string;
      this.#seen.delete(oldest);
    }
    return true;
  }

  has(eventId: string): boolean {
    return this.#seen.has(eventId);
  }

  get size(): number {
    return this.#seen.size;
  }
}
