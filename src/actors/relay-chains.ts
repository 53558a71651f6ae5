/**
 * Calls to other actors that must land in order per target (a chunk relaying its events to each neighbour):
 * one promise chain per target, so the second relay never overtakes the first, and a way to wait, bounded,
 * until everything started so far has landed. In memory: a chain is only a queue of calls in flight.
 */
export class RelayChains {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly onError: (target: string, err: unknown) => void) {}

  /** Runs `call` after every earlier call to `target` settled. */
  enqueue(target: string, call: () => Promise<unknown>): void {
    const previous = this.chains.get(target) ?? Promise.resolve();
    const next = previous.then(call).then(
      () => {},
      (err: unknown) => this.onError(target, err),
    );
    this.chains.set(target, next);
    void next.finally(() => {
      if (this.chains.get(target) === next) this.chains.delete(target);
    });
  }

  /** Waits until every call started so far has settled, or `maxMs` passed (a stuck target must not block). */
  async settle(maxMs: number): Promise<void> {
    const pending = [...this.chains.values()];
    if (pending.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(pending), new Promise<void>((r) => (timer = setTimeout(r, maxMs)))]);
    clearTimeout(timer);
  }
}
