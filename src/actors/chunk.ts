import { RealtimeActor } from '../core/actor';
import type { ConnectContext } from '../core/connection';
import type { ActorIdentity, Connection, Dialect } from '../core/dialect';
import type { EventInput } from '../core/event-log';
import type { LoggedEvent } from '../core/protocol';
import type { ChunkChange } from '../db/chunks';
import { setPlayerPosition } from '../db/players';
import {
  type ChunkSnapshot,
  type ChunkWelcome,
  createEarthringDialect,
  DIALECT,
  eventFrame,
  handoffFrame,
  jsonText,
  moveJson,
  playersMovedFrame,
  playersMovedText,
  type StandingPlayer,
} from '../dialects/earthring';
import {
  type AdmitAnswer,
  AREA,
  type AreaData,
  assertHere,
  chunkIdOf,
  connectPosition,
  connectState,
  FORWARD_TTL_MS,
  HANDOFF_GRACE_MS,
  type HandoffState,
  handoffCloseAt,
  isWithheldCopy,
  movedTo,
  moveTickMs,
  type Placement,
  parseMove,
  parseRaceId,
  planDelivery,
  playerScope,
  type RelayedEvent,
  TICKED_TYPES,
  visibleData,
  visibleInTick,
} from '../domain/chunk-area';
import { parseChunkRequest } from '../domain/chunks';
import { asObject, playerIdOf } from '../domain/input';
import {
  type ChunkRef,
  formatChunkId,
  neighbourChunks,
  type Point,
  parseChunkId,
  parseFloor,
  parsePosition,
} from '../domain/ring';
import type { Env } from '../env';
import { ApiError, fromReply, type Reply } from '../errors';
import { chunkContents } from '../world/chunks';
import { placeStructureFor } from '../world/structures';
import { createZoneFor } from '../world/zones';
import { notifyChunkChanges, type PlayerFrame } from './chunk-calls';
import { ChunkStore } from './chunk-store';
import { FarWatches } from './chunk-watches';
import { chunkActor, raceActor } from './keys';
import type { RacingStarted, RacingUpdate } from './race';
import { RelayChains } from './relay-chains';
import { consumeUserLimit } from './user-limits';

export type { ChunkSnapshot, StandingPlayer } from '../dialects/earthring';
export type { AdmitAnswer, RelayedEvent } from '../domain/chunk-area';
export { HANDOFF_GRACE_MS, MAX_WATCHED, playerScope } from '../domain/chunk-area';

/**
 * A chunk of the ring (seed 000), one actor per tenant and chunk: `<tenantId>:<floor>_<chunkIndex>`. It owns the
 * `/ws` sockets of the players standing in it, their positions (own SQLite, written behind to D1 `players`), the
 * chunk's version and its `chunk_updated` fan-out. Its log holds `area` events (own ones, relayed to both
 * neighbours, and the neighbours' copies) and `p:<userId>` personal deliveries (src/domain/chunk-area.ts); every
 * socket's topics are `area` and its own `p:<userId>` (set by the Worker).
 *
 * Hand-off (a move across the chunk edge), without loss or duplicates; A is the old chunk, B the new one. The
 * connection's `HandoffState` is kept on the connection by the core (it survives hibernation):
 *   1. A marks the connection "handing off to B" and withholds B-origin area copies from it.
 *   2. A calls `B.admit()`. B notes its head `sB`, waits until its relays in flight have landed (so every B event
 *      up to `sB` is in A's log), writes the position to D1, takes the player in and answers `sB`.
 *   3. A sends the withheld B-origin copies up to `sB`, then cuts the connection off at its own head `sA`, acks
 *      the move and sends `chunk_handoff`. Personal deliveries reaching A later are forwarded to B.
 *   4. The client opens `/ws?chunk=B&lastEventId=…&handoff_from=A&handoff_seq=sA`: B replays everything after
 *      `sB` and, for that connection's lifetime, skips A-origin copies up to `sA` (A already delivered them).
 * The old socket is closed by the client once the new one is open, or by A after `HANDOFF_GRACE_MS`.
 *
 * Movement tick, as a realtime game server runs it. A `player_move` is applied in memory at once (every read
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
 */

/** admit waits at most this long for relays to land (a stuck neighbour must not block a move). */
const RELAY_SETTLE_MS = 3_000;
const OUTBOX_POSITION = 'player_position';
const TIMER_HANDOFF_CLOSE = 'handoff:close';

export interface AdmitInput {
  identity: ActorIdentity;
  position: Point;
  floor: number;
  rotation: number;
  from: string;
  watching: string[];
}

type GameConnection = Connection<HandoffState>;
const game = (conn: Connection): GameConnection => conn as GameConnection;

export class Chunk extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [DIALECT]: createEarthringDialect({
      welcome: (conn) => this.welcome(game(conn)),
      visible: (event, conn) => visibleData(event, game(conn).state, conn.identity.userId),
      chunkRequest: (conn, data, reply) => this.onChunkRequest(conn, data, reply),
      move: (conn, data, reply) => this.onMove(game(conn), data, reply),
      zoneCreate: (conn, data, reply) => this.onZoneCreate(conn, data, reply),
      structurePlace: (conn, data, reply) => this.onStructurePlace(conn, data, reply),
      racing: (conn, type, data) => this.onRacing(conn, type, data),
    }),
  };

  private readonly tenantId: string;
  private readonly chunkId: string;
  private readonly ref: ChunkRef;
  private readonly store: ChunkStore;
  private readonly watches: FarWatches;
  /** Moves applied (rows staged in the store) and acked, to be logged and sent with the coming tick, in order. */
  private pending: EventInput[] = [];
  /** Acks waiting for the tick that commits their moves. */
  private tickAcks: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private tick: ReturnType<typeof setTimeout> | null = null;
  private tickDue = 0;
  /**
   * Players whose position has a write-behind row queued: one is enough (the flusher writes the position as it is
   * then), so a tick queues one only when none is. A saving, not a rule: after an eviction the set is empty and a
   * tick queues one more, which is harmless.
   */
  private readonly positionQueued = new Set<string>();
  /** Per-neighbour chains of relays, so each neighbour gets this chunk's events in order. */
  private readonly relays = new RelayChains((target, err) =>
    console.error(`chunk ${this.chunkId}: relay to ${target} failed`, err),
  );

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const name = ctx.id.name ?? '';
    const i = name.lastIndexOf(':');
    this.tenantId = name.slice(0, i);
    this.chunkId = name.slice(i + 1);
    // A chunk actor is only ever reached by a canonical name (chunkKey of a parsed id).
    this.ref = i > 0 ? parseChunkId(this.chunkId) : { floor: 0, chunkIndex: 0 };
    this.store = new ChunkStore(this.sql);
    this.watches = new FarWatches(
      this.store,
      { chunkId: this.chunkId, ref: this.ref },
      (id) => this.chunkActor(id),
      (p) => ctx.waitUntil(p),
    );
    // The flusher writes the player's position as it is now: a player who left has a new owner, and no row here.
    this.outbox.register(OUTBOX_POSITION, (db, payload) => {
      const { userId } = payload as { userId: string };
      // From here on a move needs a row of its own again (this one reads the position now).
      this.positionQueued.delete(userId);
      return this.store.positionFlush(db, this.tenantId, userId);
    });
  }

  // ---- RPC ------------------------------------------------------------------------------------------------

  /** A zone or structure in this chunk changed (REST or socket): `chunk_updated` to everyone watching it. */
  async chunkChanged(change: ChunkChange): Promise<boolean> {
    if (change.chunk_id !== this.chunkId) {
      console.error(`chunk_updated for ${change.chunk_id} sent to ${this.chunkId}: ignored`);
      return false;
    }
    this.store.setVersion(Math.max(this.store.version(), change.version));
    const data = { chunk_id: change.chunk_id, version: change.version, changes: change.changes };
    this.publishArea('chunk_updated', data);
    await this.watches.fanOut([{ type: 'chunk_updated', data }], (users, frames) => this.deliverToPlayers(users, frames));
    return true;
  }

  /** Area events of a neighbour, appended here as copies tagged with their origin. */
  relay(from: string, events: RelayedEvent[]): void {
    if (events.length === 0) return;
    const inputs = events.map((e) => ({ scope: AREA, type: e.type, data: { d: e.data, o: from, s: e.seq } satisfies AreaData }));
    if (events.every((e) => TICKED_TYPES.has(e.type))) this.queueMoves(inputs);
    else this.publishNow(inputs);
  }

  /** Frames for some players: logged in their personal scope here, forwarded after a hand-off, else reported gone. */
  async deliverToPlayers(userIds: string[], frames: PlayerFrame[], hops = 0): Promise<{ gone: string[] }> {
    const { here, forward, gone } = planDelivery(
      userIds,
      { isHere: (u) => this.store.player(u) !== null, forwardOf: (u) => this.store.forwardOf(u) },
      Date.now(),
      hops,
    );
    this.publishNow(
      here.flatMap((userId) => frames.map((f) => ({ scope: playerScope(userId), type: f.type, data: { d: f.data } }))),
    );
    for (const [to, users] of forward) {
      try {
        const r = await this.chunkActor(to).deliverToPlayers(users, frames, hops + 1);
        gone.push(...r.gone);
      } catch (err) {
        console.error(`chunk ${this.chunkId}: forwarding to ${to} failed`, err);
      }
    }
    return { gone };
  }

  /** Hand-off step 2 (see the class comment): takes a player in from a neighbour chunk. */
  async admit(input: AdmitInput): Promise<AdmitAnswer> {
    if (input.identity.tenantId !== this.tenantId) throw new Error('Tenant mismatch');
    // The pending moves are logged and relayed now, so the answer covers them and settling waits for them.
    this.flushMoves();
    const answer = { sequence: this.log.latestSequence, lastEventId: this.log.latestEventId };
    await this.relays.settle(RELAY_SETTLE_MS);
    const { identity, position, floor, rotation } = input;
    // The D1 row names the player's chunk at once: a reconnect without ?chunk= lands here.
    const playerId = playerIdOf(identity.userId);
    if (playerId !== null) {
      try {
        await setPlayerPosition(this.env.DB, this.tenantId, playerId, position, floor);
      } catch (err) {
        console.error(`chunk ${this.chunkId}: direct position write failed; the write-behind retries`, err);
      }
    }
    this.store.clearForward(identity.userId);
    this.movePlayer(identity, { position, floor, rotation });
    // The answer tells the old chunk the player is here: it must not outrun the commit.
    this.flushMoves();
    // Far watches now point here (or are dropped where the chunk became a neighbour); A forwards meanwhile.
    this.watches.adopt(identity.userId, input.watching, Date.now());
    return answer;
  }

  /**
   * A player moved by REST (D1 already written). Their live sockets here move as a `player_move` would: same
   * chunk, `player_moved` to the area once; another chunk, each socket is handed off. Without a live socket the
   * row here is only brought in line with D1, so neither a reconnect nor the write-behind restores the old spot.
   * Answers how many sockets were moved.
   */
  async relocate(userId: string, to: { position: Point; floor: number }): Promise<number> {
    const position = parsePosition(to.position);
    const floor = parseFloor(to.floor);
    const live = this.connectionsOf(userId).filter((c) => movedTo(game(c).state) === null);
    const target = chunkIdOf({ position, floor });
    const me = this.store.player(userId);
    if (live.length === 0) {
      if (me && target === this.chunkId) this.store.setPosition(userId, position, floor);
      else if (me) this.store.removePlayer(userId);
      return 0;
    }
    const move = { position, floor, rotation: me?.rotation ?? 0 };
    // The player's position is one row: a move within the chunk is applied (and announced) once.
    const movers = target === this.chunkId ? live.slice(0, 1) : live;
    for (const conn of movers) await this.move(game(conn), move);
    return live.length;
  }

  /** Who watches this chunk from afar on behalf of a player (`null`: nobody any more). */
  setWatcher(userId: string, watcher: string | null): void {
    this.store.setWatcher(userId, watcher);
  }

  /** The chunk's state: its version and the players standing in it with a socket open. */
  state(): ChunkSnapshot {
    return this.snapshotFor();
  }

  // ---- core hooks -----------------------------------------------------------------------------------------

  /** A game socket connects with the Worker's D1 position and, after a hand-off, where its old chunk stopped. */
  protected override onConnect(conn: Connection, { url }: ConnectContext): void {
    // The pending moves go to everyone else now: the new socket's `connected` frame (and resync) covers the log.
    this.flushMoves(conn.id);
    const at = connectPosition(url.searchParams);
    if (at) this.store.placeIfAbsent({ userId: conn.identity.userId, username: conn.identity.username, ...at }, Date.now());
    game(conn).setState(connectState(url.searchParams));
    this.store.clearForward(conn.identity.userId);
  }

  protected override snapshotFor(): ChunkSnapshot {
    return { chunk_id: this.chunkId, version: this.store.version(), players: this.standing() };
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name !== TIMER_HANDOFF_CLOSE) return;
    let next: number | null = null;
    for (const conn of this.getConnections({ dialect: DIALECT })) {
      const state = game(conn).state;
      const due = handoffCloseAt(state, this.graceMs());
      if (due === null) continue;
      if (due <= now) conn.close(1000, `Moved to chunk ${state?.handedOff}`);
      else next = next === null ? due : Math.min(next, due);
    }
    if (next !== null) await this.schedule(TIMER_HANDOFF_CLOSE, next);
  }

  // ---- the game socket ------------------------------------------------------------------------------------

  private welcome(conn: GameConnection): ChunkWelcome {
    const me = this.store.player(conn.identity.userId);
    return {
      protocol: conn.state?.protocol ?? 'earthring-v1',
      chunkId: this.chunkId,
      position: me ? { x: me.x, y: me.y } : null,
      floor: me ? me.floor : this.ref.floor,
      version: this.store.version(),
      players: this.standing(),
      batched: conn.state?.batched === true,
    };
  }

  private async onChunkRequest(conn: Connection, data: unknown, reply: (chunks: unknown[]) => void): Promise<void> {
    await consumeUserLimit(this.env, 'CHUNK_REQUEST', conn.identity);
    const request = parseChunkRequest(data);
    reply(await chunkContents(this.env, this.tenantId, request));
    this.watches.remember(conn.identity.userId, request.chunks, Date.now());
  }

  private async onMove(conn: GameConnection, data: unknown, reply: (ack: Placement & { chunk_id: string }) => void) {
    assertHere(conn.state);
    const me = this.store.player(conn.identity.userId);
    const to = parseMove(data, { floor: me?.floor ?? this.ref.floor, rotation: me?.rotation ?? 0 });
    await this.move(conn, to, (chunkId) => reply({ ...to, chunk_id: chunkId }));
  }

  /** A validated move of a connection's player (a `player_move`, or a REST move via `relocate`). */
  private async move(conn: GameConnection, to: Placement, ack?: (chunkId: string) => void): Promise<void> {
    const target = chunkIdOf(to);
    if (target === this.chunkId) {
      this.movePlayer(conn.identity, to);
      await this.committed();
      ack?.(target);
      return;
    }
    await this.handOff(conn, to, target, () => ack?.(target));
  }

  /** Hand-off steps 1 and 3 (see the class comment). */
  private async handOff(conn: GameConnection, to: Placement, target: string, ack: () => void): Promise<void> {
    const userId = conn.identity.userId;
    // Moves logged so far reach the mover as usual; only the new chunk's copies after `start` are withheld.
    this.flushMoves();
    const start = this.log.latestSequence;
    conn.setState((st) => ({ ...(st ?? connectState(new URLSearchParams())), handoffTo: target }));
    const watching = this.store.watching(userId);
    let answer: AdmitAnswer;
    try {
      answer = await this.chunkActor(target).admit({ identity: conn.identity, ...to, from: this.chunkId, watching });
    } catch (err) {
      console.error(`chunk ${this.chunkId}: hand-off to ${target} failed`, err);
      this.flushMoves();
      conn.setState((st) => st && { ...st, handoffTo: null });
      // Nothing was handed over: what was withheld is delivered here after all.
      this.sendWithheld(conn, start, target, Number.POSITIVE_INFINITY);
      throw new ApiError('SERVER_ERROR', `Could not move to chunk ${target}; try again`);
    }
    // Moves logged meanwhile (the new chunk's copies still withheld from the mover), the withheld copies that the
    // new chunk will not replay (up to its answer), then the cut-off: nothing is pending past it.
    this.flushMoves();
    conn.setState((st) => st && { ...st, handoffTo: null });
    this.sendWithheld(conn, start, target, answer.sequence);
    const cutoff = this.log.latestSequence;
    const now = Date.now();
    conn.setState((st) => st && { ...st, handedOff: target, handedOffAt: now });
    this.atomically(() => {
      this.store.removePlayer(userId);
      this.store.clearWatching(userId);
      this.store.setForward(userId, target, now + FORWARD_TTL_MS);
    });
    ack();
    const batched = conn.state?.batched === true;
    conn.send(handoffFrame({ chunkId: target, lastEventId: answer.lastEventId, from: this.chunkId, seq: cutoff, batched }));
    await this.timers.scheduleNoLaterThan(TIMER_HANDOFF_CLOSE, now + this.graceMs());
  }

  /** Area copies from `origin` logged since `after` with an origin sequence up to `upto`, sent to one connection. */
  private sendWithheld(conn: GameConnection, after: number, origin: string, upto: number): void {
    for (const e of this.log.read(after, 10_000, { scopes: [AREA] })) {
      if (!isWithheldCopy(e, origin, upto)) continue;
      const data = visibleData(e, conn.state, conn.identity.userId);
      if (data !== null) conn.send(eventFrame(e, data));
    }
  }

  private async onZoneCreate(conn: Connection, data: unknown, reply: (zone: unknown) => void): Promise<void> {
    await consumeUserLimit(this.env, 'ZONE_CREATE', conn.identity);
    const floor = this.store.player(conn.identity.userId)?.floor ?? this.ref.floor;
    const { zone, changes } = await createZoneFor(this.env.DB, conn.identity, data ?? {}, floor);
    reply(zone);
    await this.notify(changes);
  }

  private async onStructurePlace(conn: Connection, data: unknown, reply: (structure: unknown) => void): Promise<void> {
    await consumeUserLimit(this.env, 'STRUCTURE_PLACE', conn.identity);
    const floor = this.store.player(conn.identity.userId)?.floor ?? this.ref.floor;
    const { structure, changes } = await placeStructureFor(this.env.DB, conn.identity, data ?? {}, floor);
    reply(structure);
    await this.notify(changes);
  }

  /**
   * `racing_start` / `racing_update` go to the Race actor over RPC. The Race actor itself delivers its events to
   * every participant's game socket (this one included), however the race is driven; this chunk only answers the
   * sender: errors, and the start for a starter who is not racing (a participant hears it once, from the race).
   */
  private async onRacing(conn: Connection, type: 'racing_start' | 'racing_update', data: unknown): Promise<unknown | null> {
    const d = asObject(data, 'data');
    const race = raceActor(this.env, this.tenantId, parseRaceId(d.event_id));
    if (type === 'racing_start') {
      // RPC result types lose the union's narrowing; these are the actor's declared return types.
      const started = fromReply((await race.start(conn.identity, d)) as unknown as Reply<RacingStarted>);
      return started.participants.includes(Number(conn.identity.userId)) ? null : started;
    }
    fromReply((await race.update(conn.identity, d, { at: Date.now() })) as unknown as Reply<RacingUpdate>);
    return null;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private chunkActor(chunkId: string) {
    return chunkActor(this.env, this.tenantId, chunkId);
  }

  /** Appends one of this chunk's own area events; moves go out with the tick, anything else at once. */
  private publishArea(type: string, data: Record<string, unknown>): void {
    const input = { scope: AREA, type, data: { d: data, o: this.chunkId, s: null } satisfies AreaData };
    if (TICKED_TYPES.has(type)) this.queueMoves([input]);
    else this.publishNow([input]);
  }

  /** Events that go out at once: after the pending moves, so each socket sees the log in order. */
  private publishNow(inputs: EventInput[]): void {
    this.flushMoves();
    if (inputs.length === 0) return;
    this.relayOwn(this.publish(inputs));
  }

  // ---- the movement tick (see the class comment) -----------------------------------------------------------

  private queueMoves(inputs: EventInput[]): void {
    this.pending.push(...inputs);
    const ms = moveTickMs(this.config('moveTickMs'), this.env.CHUNK_TICK_MS);
    const now = Date.now();
    if (ms === 0) this.flushMoves();
    else if (this.tick === null) {
      this.tickDue = now + ms;
      this.tick = setTimeout(() => this.onTick(), ms);
    } else if (now >= this.tickDue) {
      // A flood of frames can hold the timer's turn back: then the tick runs on the frame path, on time.
      this.flushMoves();
    }
  }

  /** Resolves once the moves queued so far are committed (at once when none wait). */
  private committed(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.tickAcks.push({ resolve, reject }));
  }

  private onTick(): void {
    this.tick = null;
    try {
      this.flushMoves();
    } catch (err) {
      console.error(`chunk ${this.chunkId}: movement tick failed`, err);
    }
  }

  /**
   * The tick: writes the moved players' rows (each one's latest, with its D1 write-behind row when none is queued)
   * and logs the pending moves, one commit for the lot; then sends them to each live socket that sees them, as one
   * `players_moved` frame or one `player_moved` frame each, and this chunk's own to the neighbours. `exclude` is a
   * socket being accepted (its `connected` frame and resync already cover the log).
   */
  private flushMoves(exclude?: string): void {
    if (this.tick !== null) {
      clearTimeout(this.tick);
      this.tick = null;
    }
    const inputs = this.pending;
    if (inputs.length === 0) return;
    this.pending = [];
    const acks = this.tickAcks;
    this.tickAcks = [];
    let events: LoggedEvent[];
    try {
      this.atomically(() => {
        for (const userId of this.store.writeStaged()) {
          if (this.positionQueued.has(userId)) continue;
          this.outbox.enqueue(OUTBOX_POSITION, { userId });
          this.positionQueued.add(userId);
        }
      });
      events = this.publish(inputs, { deliver: false });
    } catch (err) {
      for (const a of acks) a.reject(err);
      throw err;
    }
    // The acks leave behind the commit (the runtime's output gate holds them until it is durable).
    for (const a of acks) a.resolve();
    const epoch = this.log.epoch;
    // JSON sockets get text rendered once per move and tick (the same for every socket that sees the move).
    const moves = new Map<LoggedEvent, string>();
    const frames = new Map<LoggedEvent, unknown>();
    const moveText = (e: LoggedEvent, data: Record<string, unknown>) => cached(moves, e, () => moveJson(e, data));
    const frameText = (e: LoggedEvent, data: Record<string, unknown>) =>
      cached(frames, e, () => jsonText(JSON.stringify(eventFrame(e, data))));
    for (const conn of this.getConnections({ dialect: DIALECT })) {
      if (conn.id === exclude) continue;
      const state = game(conn).state;
      const seen = visibleInTick(events, { state, userId: conn.identity.userId, topics: conn.topics });
      if (seen.length === 0) continue;
      const text = conn.codec !== 'msgpack';
      if (state?.batched && text) {
        const json = seen.map((m) => ({ event: m.event, json: moveText(m.event, m.data) }));
        conn.send(jsonText(playersMovedText(epoch, json)));
      } else if (state?.batched) conn.send(playersMovedFrame(epoch, seen));
      else for (const m of seen) conn.send(text ? frameText(m.event, m.data) : eventFrame(m.event, m.data));
    }
    this.relayOwn(events);
  }

  /** This chunk's own area events among `events`, relayed to both neighbours in one call each, in order. */
  private relayOwn(events: readonly LoggedEvent[]): void {
    const own: RelayedEvent[] = [];
    for (const e of events) {
      const a = e.data as AreaData;
      if (e.scope === AREA && a.o === this.chunkId) own.push({ type: e.type, data: a.d, seq: e.sequence });
    }
    if (own.length === 0) return;
    for (const n of neighbourChunks(this.ref)) {
      const target = formatChunkId(n);
      this.relays.enqueue(target, () => this.chunkActor(target).relay(this.chunkId, own));
    }
  }

  /**
   * Moves a player standing here: applied in memory at once (every read sees it), written, logged and told to the
   * area with the tick (`flushMoves`).
   */
  private movePlayer(identity: ActorIdentity, to: Placement): void {
    const { userId, username } = identity;
    this.store.stagePlayer({ userId, username, ...to }, Date.now());
    const { position, floor, rotation } = to;
    this.publishArea('player_moved', { player_id: Number(identity.userId), position, floor, rotation });
  }

  /** One SQLite transaction over the store; its cached rows are dropped when the transaction rolls back. */
  private atomically(fn: () => void): void {
    try {
      this.ctx.storage.transactionSync(fn);
    } catch (err) {
      this.store.forget();
      throw err;
    }
  }

  /** chunk_updated for every changed chunk: this one directly, the others through their actors. */
  private async notify(changes: ChunkChange[]): Promise<void> {
    for (const c of changes.filter((c) => c.chunk_id === this.chunkId)) await this.chunkChanged(c);
    await notifyChunkChanges(
      this.env,
      this.tenantId,
      changes.filter((c) => c.chunk_id !== this.chunkId),
    );
  }

  /** Players standing here with a socket open (of this chunk, not handed off). */
  private standing(): StandingPlayer[] {
    const online = this.getConnections({ dialect: DIALECT }).filter((c) => !game(c).state?.handedOff);
    return this.store.standing(new Set(online.map((c) => c.identity.userId)));
  }

  private graceMs(): number {
    return this.config('handoffGraceMs') ?? HANDOFF_GRACE_MS;
  }
}

/** `map`'s value for `key`, made once. */
function cached<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
