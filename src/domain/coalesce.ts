/**
 * Latest-wins coalescing of fire-and-forget traffic (seed 003's class A: "may be coalesced"), per key.
 *
 * The first item for a key goes out at once (no added latency for a lone message); for `windowMs` after it, later
 * items for the key only replace one another, and when the window closes the latest of them goes out and opens the
 * next window. A burst of N items within one window is thus sent as two: the first and the latest. Sends for one key
 * never overlap and keep their order (each waits for the previous one). The clock is the caller's `schedule`, so
 * the rule is tested without time passing.
 */

export type Schedule = (run: () => void, delayMs: number) => void;

interface Slot<T> {
  latest: T | null;
  /** The send in flight (or done) for this key: the next one waits for it. */
  busy: Promise<void>;
}

export type Offered = 'sent' | 'held' | 'replaced';

export class Coalescer<T> {
  private readonly slots = new Map<string, Slot<T>>();
  /** Items that were replaced by a later one and never sent. */
  dropped = 0;

  constructor(
    private readonly windowMs: number,
    private readonly schedule: Schedule,
    private readonly send: (item: T) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Offers `item` under `key`: `sent` (the window was closed: it goes now; `done` settles with that send, errors
   * included), `held` (it waits for the window to close) or `replaced` (it took the place of a held one).
   */
  offer(key: string, item: T): { outcome: Offered; done: Promise<void> } {
    const slot = this.slots.get(key);
    if (slot) {
      const outcome = slot.latest === null ? 'held' : 'replaced';
      if (outcome === 'replaced') this.dropped++;
      slot.latest = item;
      return { outcome, done: Promise.resolve() };
    }
    const done = this.send(item).then(() => undefined);
    this.slots.set(key, { latest: null, busy: done.catch(() => undefined) });
    this.schedule(() => this.close(key), this.windowMs);
    return { outcome: 'sent', done };
  }

  /** Keys with an open window (for tests and gauges). */
  get open(): number {
    return this.slots.size;
  }

  private close(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    if (slot.latest === null) {
      this.slots.delete(key);
      return;
    }
    const item = slot.latest;
    slot.latest = null;
    slot.busy = slot.busy
      .then(() => this.send(item))
      .then(
        () => undefined,
        (err) => this.onError(err),
      );
    this.schedule(() => this.close(key), this.windowMs);
  }
}
