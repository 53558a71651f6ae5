/** A tiny typed event emitter: no Node `events`, no DOM `EventTarget`, so it runs anywhere. */
// biome-ignore lint/suspicious/noExplicitAny: handler maps are keyed by event name with arbitrary payloads.
export type Handler = (...args: any[]) => void;

export class Emitter {
  readonly #handlers = new Map<string, Set<Handler>>();

  on(name: string, handler: Handler): void {
    let set = this.#handlers.get(name);
    if (!set) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    set.add(handler);
  }

  off(name: string, handler: Handler): void {
    this.#handlers.get(name)?.delete(handler);
  }

  /** Calls every handler; one throwing handler neither stops the others nor the client. */
  emit(name: string, args: readonly unknown[], onHandlerError?: (error: unknown) => void): void {
    const set = this.#handlers.get(name);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(...args);
      } catch (error) {
        onHandlerError?.(error);
      }
    }
  }

  listenerCount(name: string): number {
    return this.#handlers.get(name)?.size ?? 0;
  }
}
