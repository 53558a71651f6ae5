import type { EventInput } from '../core/event-log';
import type { LoggedEvent } from '../core/protocol';

/**
 * The Chunk's movement tick, as a realtime game server runs it. A `player_move` is applied in memory at once (every read
 * sees it) and acked once the tick that logs it has committed (group commit: the ack waits at most one tick); with
 * the tick (`MOVE_TICK_MS`, 100 ms; `CHUNK_TICK_MS` or the `moveTickMs` config) the moved players' rows are written
 * and the tick's moves logged in one commit, then each live socket gets the moves it may see in log order, as one
 * `players_moved` frame when it opted in (`?batch=1`), else one `player_moved` frame per move, and the chunk's own
 * moves go to each neighbour in one relay call. One commit per tick instead of one per move is what lets a crowded
 * chunk keep up; a crash loses at most the last tick's unacknowledged moves (never half of one: a move's row and
 * its log entry are written together, and nobody, the mover included, has been told of it yet). Any other event (chunk updates, personal deliveries)
 * first runs the tick, then goes out at once, so every socket sees the log in order; hand-off, admission and
 * connects run it before they read or cut the log. The timer is in memory and set only while moves wait: a
 * Durable Object with a timer set does not hibernate, one without can.
 *
 * Here the moves wait in order, with the acks that wait for the commit that logs them. A flush commits the lot
 * (the chunk's `commit`), resolves the acks, then sends (the chunk's `deliver`): the acks leave behind the commit,
 * and the runtime's output gate holds them until it is durable.
 */
export class MoveTick {
  private pending: EventInput[] = [];
  private acks: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private due = 0;

  constructor(
    /** Writes and logs the moves in one transaction; answers the logged events. Throws when nothing was written. */
    private readonly commit: (moves: EventInput[]) => LoggedEvent[],
    /** Sends committed moves to the sockets (but `exclude`) and the neighbours. */
    private readonly deliver: (events: LoggedEvent[], exclude?: string) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues moves for the tick `ms` from now (at once when 0), or for the tick already due. */
  queue(moves: EventInput[], ms: number): void {
    this.pending.push(...moves);
    const now = Date.now();
    if (ms === 0) this.flush();
    else if (this.timer === null) {
      this.due = now + ms;
      this.timer = setTimeout(() => this.onTimer(), ms);
    } else if (now >= this.due) {
      // A flood of frames can hold the timer's turn back: then the tick runs on the frame path, on time.
      this.flush();
    }
  }

  /** Resolves once the moves queued so far are committed (at once when none wait). */
  committed(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.acks.push({ resolve, reject }));
  }

  /**
   * Runs the tick now: commits the waiting moves, resolves their acks, delivers them. `exclude` is a socket being
   * accepted (its `connected` frame and resync already cover the log). A failed commit rejects the acks and throws.
   */
  flush(exclude?: string): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const moves = this.pending;
    if (moves.length === 0) return;
    this.pending = [];
    const acks = this.acks;
    this.acks = [];
    let events: LoggedEvent[];
    try {
      events = this.commit(moves);
    } catch (err) {
      for (const a of acks) a.reject(err);
      throw err;
    }
    for (const a of acks) a.resolve();
    this.deliver(events, exclude);
  }

  private onTimer(): void {
    this.timer = null;
    try {
      this.flush();
    } catch (err) {
      this.onError(err);
    }
  }
}
