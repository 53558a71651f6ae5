import { REPLAY_LIMIT } from './protocol';

/** Long polling: a request waits at most this long for the first new event. */
export const POLL_MAX_WAIT_SECONDS = 25;

export interface PollParams {
  lastEventId?: string;
  lastSequence?: number;
  /** 1..100 */
  limit: number;
  /** seconds to wait when nothing is new; 0 = answer at once */
  wait: number;
  types: string[];
}

/** Pure: clamps the client's polling parameters to the core's bounds. */
export function normalizePoll(input: {
  lastEventId?: string;
  lastSequence?: number;
  limit?: number;
  wait?: number;
  types?: string[];
}): PollParams {
  const limit = Math.max(1, Math.min(REPLAY_LIMIT, Math.floor(input.limit ?? 50)));
  const wait = Math.max(0, Math.min(POLL_MAX_WAIT_SECONDS, input.wait ?? 0));
  return {
    lastEventId: input.lastEventId || undefined,
    lastSequence: input.lastSequence,
    limit,
    wait,
    types: input.types ?? [],
  };
}

/** Pending long polls of one actor, woken by the next event (in memory: a poll ends with its actor). */
export class PollWaiters {
  private readonly waiting = new Set<() => void>();

  /** Resolves on the next `wake()` or after `ms`, whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.waiting]) done();
  }
}
