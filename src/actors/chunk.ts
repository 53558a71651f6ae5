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
  type StandingPlayer,
  tickFrames,
} from '../dialects/earthring';
import {
  type AdmitAnswer,
  AREA,
  type AreaData,
  assertHere,
  chunkIdOf,
  connectPosition,
  connectState,
  HANDOFF_GRACE_MS,
  movedTo,
  moveTickMs,
  type Placement,
  parseMove,
  planDelivery,
  playerScope,
  type RelayedEvent,
  TICKED_TYPES,
  visibleData,
  visibleInTick,
} from '../domain/chunk-area';
import { parseChunkRequest } from '../domain/chunks';
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
import { chunkContents } from '../world/chunks';
import { placeStructureFor } from '../world/structures';
import { createZoneFor } from '../world/zones';
import { forwardRacing, notifyChunkChanges, type PlayerFrame } from './chunk-calls';
import { type AdmitInput, admitPlayer, closeDue, type GameConnection, game, type HandoffHost, handOff } from './chunk-handoff';
import { ChunkStore } from './chunk-store';
import { MoveTick } from './chunk-tick';
import { FarWatches } from './chunk-watches';
import { chunkActor } from './keys';
import { RelayChains } from './relay-chains';
import { consumeUserLimit } from './user-limits';

export { playerScope } from '../domain/chunk-area';

/**
 * A chunk of the ring (seed 000), one actor per tenant and chunk: `<tenantId>:<floor>_<chunkIndex>`. It owns the
 * `/ws` sockets of the players standing in it, their positions (own SQLite, written behind to D1 `players`), the
 * chunk's version and its `chunk_updated` fan-out. Its log holds `area` events (own ones, relayed to both
 * neighbours, and the neighbours' copies) and `p:<userId>` personal deliveries (src/domain/chunk-area.ts); every
 * socket's topics are `area` and its own `p:<userId>` (set by the Worker).
 *
 * Hand-off (a move across the chunk edge) without loss or duplicates: the protocol and both sides of it are in
 * src/actors/chunk-handoff.ts.
 *
 * Movement tick: moves are applied in memory at once and logged, sent and acked with the tick, one commit per
 * tick (src/actors/chunk-tick.ts says why); any other event first runs the tick, then goes out at once.
 */

/** admit waits at most this long for relays to land (a stuck neighbour must not block a move). */
const RELAY_SETTLE_MS = 3_000;
const OUTBOX_POSITION = 'player_position';
const TIMER_HANDOFF_CLOSE = 'handoff:close';

export class Chunk extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [DIALECT]: createEarthringDialect({
      welcome: (conn) => this.welcome(game(conn)),
      visible: (event, conn) => visibleData(event, game(conn).state, conn.identity.userId),
      chunkRequest: (conn, data, reply) => this.onChunkRequest(conn, data, reply),
      move: (conn, data, reply) => this.onMove(game(conn), data, reply),
      zoneCreate: (conn, data, reply) => this.onZoneCreate(conn, data, reply),
      structurePlace: (conn, data, reply) => this.onStructurePlace(conn, data, reply),
      racing: (conn, type, data) => forwardRacing(this.env, this.tenantId, conn.identity, type, data),
    }),
  };

  private readonly tenantId: string;
  private readonly chunkId: string;
  private readonly ref: ChunkRef;
  private readonly store: ChunkStore;
  private readonly watches: FarWatches;
  /** What the hand-off (src/actors/chunk-handoff.ts) uses of this chunk. */
  private readonly handoffs: HandoffHost;
  /** Moves applied (rows staged in the store), to be logged and sent with the coming tick, in order. */
  private readonly moves = new MoveTick(
    (moves) => this.commitMoves(moves),
    (events, exclude) => this.sendMoves(events, exclude),
    (err) => console.error(`chunk ${this.chunkId}: movement tick failed`, err),
  );
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
    this.handoffs = {
      tenantId: this.tenantId,
      chunkId: this.chunkId,
      log: this.log,
      store: this.store,
      flushMoves: () => this.moves.flush(),
      admit: (target, input) => this.chunkActor(target).admit(input),
      atomically: (fn) => this.atomically(fn),
      graceMs: () => this.graceMs(),
      closeAt: (at) => this.timers.scheduleNoLaterThan(TIMER_HANDOFF_CLOSE, at),
      settleRelays: () => this.relays.settle(RELAY_SETTLE_MS),
      savePosition: (playerId, at) => setPlayerPosition(this.env.DB, this.tenantId, playerId, at.position, at.floor),
      movePlayer: (identity, to) => this.movePlayer(identity, to),
      adoptWatches: (userId, watching) => this.watches.adopt(userId, watching, Date.now()),
    };
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

  /** Hand-off step 2 (src/actors/chunk-handoff.ts): takes a player in from a neighbour chunk. */
  admit(input: AdmitInput): Promise<AdmitAnswer> {
    return admitPlayer(this.handoffs, input);
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
    this.moves.flush(conn.id);
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
    const next = closeDue(this.getConnections({ dialect: DIALECT }).map(game), now, this.graceMs());
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
      await this.moves.committed();
      ack?.(target);
      return;
    }
    await handOff(this.handoffs, conn, to, target, () => ack?.(target));
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
    this.moves.flush();
    if (inputs.length === 0) return;
    this.relayOwn(this.publish(inputs));
  }

  // ---- the movement tick (see the class comment) -----------------------------------------------------------

  private queueMoves(inputs: EventInput[]): void {
    this.moves.queue(inputs, moveTickMs(this.config('moveTickMs'), this.env.CHUNK_TICK_MS));
  }

  /**
   * The tick's commit: the moved players' rows (each one's latest, with its D1 write-behind row when none is
   * queued) and the pending moves logged, one transaction for the lot.
   */
  private commitMoves(inputs: EventInput[]): LoggedEvent[] {
    this.atomically(() => {
      for (const userId of this.store.writeStaged()) {
        if (this.positionQueued.has(userId)) continue;
        this.outbox.enqueue(OUTBOX_POSITION, { userId });
        this.positionQueued.add(userId);
      }
    });
    return this.publish(inputs, { deliver: false });
  }

  /** The tick's moves to each live socket that sees some (`tickFrames`), and this chunk's own to the neighbours. */
  private sendMoves(events: LoggedEvent[], exclude?: string): void {
    const framesOf = tickFrames(this.log.epoch);
    for (const conn of this.getConnections({ dialect: DIALECT })) {
      if (conn.id === exclude) continue;
      const state = game(conn).state;
      const seen = visibleInTick(events, { state, userId: conn.identity.userId, topics: conn.topics });
      if (seen.length === 0) continue;
      for (const frame of framesOf(seen, { batched: state?.batched === true, json: conn.codec !== 'msgpack' })) conn.send(frame);
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
   * area with the tick (`MoveTick`).
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
