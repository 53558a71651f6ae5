import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Connection, Dialect, DialectApi } from '../core/dialect';
import { readForwarded } from '../core/forward';
import type { LoggedEvent } from '../core/protocol';
import type { ChunkChange } from '../db/chunks';
import { setPlayerPosition } from '../db/players';
import { createEarthringDialect, DIALECT, eventFrame, type FrameId } from '../dialects/earthring';
import { parseChunkRequest } from '../domain/chunks';
import { asObject, parseId, playerIdOf } from '../domain/input';
import {
  type ChunkRef,
  chunkIndexDelta,
  chunkOf,
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
import { chunkActor, raceActor } from './keys';
import type { RacingStarted, RacingUpdate } from './race';
import { consumeUserLimit } from './user-limits';

/**
 * A chunk of the ring (seed 000), one actor per tenant and chunk: `<tenantId>:<floor>_<chunkIndex>`. It owns the
 * `/ws` sockets of the players standing in it, their positions (own SQLite, written behind to D1 `players`), the
 * chunk's version and its `chunk_updated` fan-out.
 *
 * Its event log is "what a player standing here sees", in two kinds of scope:
 *   - `area`: moves and chunk updates of this chunk and of its two neighbours (across the wrap). Own events are
 *     appended here and relayed to the neighbours, which append copies tagged with their origin `{o, s}`.
 *   - `p:<userId>`: deliveries to one player: `chunk_updated` of far chunks they requested, race events.
 * Every socket's topics are `area` and its own `p:<userId>` (set by the Worker), so resync and delivery never
 * show one player's personal events to another.
 *
 * Hand-off (a move across the chunk edge), without loss or duplicates; A is the old chunk, B the new one:
 *   1. A marks the connection "handing off to B" and withholds B-origin area copies from it.
 *   2. A calls `B.admit()`. B notes its head `sB`, waits until its relays in flight have landed (so every B event
 *      up to `sB` is in A's log), writes the position to D1, takes the player in and answers `sB`.
 *   3. A sends the withheld B-origin copies up to `sB`, then cuts the connection off at its own head `sA`
 *      (nothing more is delivered on it), acks the move and sends `chunk_handoff {chunk_id, last_event_id (B's
 *      sB), handoff_from: A, handoff_seq: sA}`. Personal deliveries reaching A later are forwarded to B.
 *   4. The client opens `/ws?chunk=B&lastEventId=…&handoff_from=A&handoff_seq=sA`: B replays everything after
 *      `sB` and, for that connection's lifetime, skips A-origin copies up to `sA` (A already delivered them).
 * The old socket is closed by the client once the new one is open, or by A after `HANDOFF_GRACE_MS`.
 */

const AREA = 'area';
export const playerScope = (userId: string): string => `p:${userId}`;
/** A handed-off socket is closed by the server after this long (its client should have left it already); config `handoffGraceMs`. */
export const HANDOFF_GRACE_MS = 10_000;
/** How long a chunk forwards personal deliveries of a player who left it. */
const FORWARD_TTL_MS = 5 * 60_000;
/** Chunks a player's `chunk_request`s keep them watching (most recent first). */
export const MAX_WATCHED = 64;
/** admit waits at most this long for relays to land (a stuck neighbour must not block a move). */
const RELAY_SETTLE_MS = 3_000;
const MAX_FORWARD_HOPS = 3;
const OUTBOX_POSITION = 'player_position';
const TIMER_HANDOFF_CLOSE = 'handoff:close';

/** An area event as logged: the seed's data, the chunk it happened in, and its sequence there (null: this log's). */
interface AreaData {
  d: Record<string, unknown>;
  o: string;
  s: number | null;
}

export interface RelayedEvent {
  type: string;
  data: Record<string, unknown>;
  seq: number;
}

export interface AdmitInput {
  identity: ActorIdentity;
  position: Point;
  floor: number;
  rotation: number;
  from: string;
  watching: string[];
}

export interface AdmitAnswer {
  sequence: number;
  lastEventId: string;
}

/** A connection's hand-off state (SQLite row `chunk_conns`, cached). */
interface ConnState {
  userId: string;
  protocol: string;
  /** Being handed to this chunk: its area copies are withheld meanwhile. */
  handoffTo: string | null;
  /** Handed off to this chunk: nothing more is delivered here. */
  handedOff: string | null;
  handedOffAt: number | null;
  /** Arrived by hand-off: area copies from `skipOrigin` up to `skipUpto` were delivered by the old chunk. */
  skipOrigin: string | null;
  skipUpto: number;
}

interface PlayerRow extends Record<string, SqlStorageValue> {
  user_id: string;
  username: string;
  x: number;
  y: number;
  floor: number;
  rotation: number;
  updated_at: number;
}

export interface StandingPlayer {
  player_id: number;
  username: string;
  position: Point;
  floor: number;
  rotation: number;
}

export interface ChunkSnapshot {
  chunk_id: string;
  version: number;
  players: StandingPlayer[];
}

interface Connecting {
  protocol: string;
  handoffFrom: string | null;
  handoffSeq: number;
}

function parseRotationValue(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ApiError('INVALID_REQUEST', 'rotation must be a finite number of degrees', {
      details: { field: 'rotation', issue: 'bad_type' },
    });
  }
  const r = ((value % 360) + 360) % 360;
  return r === 360 ? 0 : r;
}

function parseEventIdOf(value: unknown): number {
  const n = typeof value === 'string' ? (parseId(value) ?? value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new ApiError('INVALID_REQUEST', 'data.event_id must be a positive integer race id', {
      details: { field: 'event_id', issue: 'bad_type' },
    });
  }
  return n;
}

const inArea = (center: ChunkRef, other: ChunkRef): boolean =>
  center.floor === other.floor && Math.abs(chunkIndexDelta(center.chunkIndex, other.chunkIndex)) <= 1;

export class Chunk extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [DIALECT]: createEarthringDialect({
      welcome: (api, conn) => this.welcome(api, conn),
      visible: (event, conn) => this.visible(event, conn),
      chunkRequest: (conn, id, data) => this.onChunkRequest(conn, id, data),
      move: (conn, id, data) => this.onMove(conn, id, data),
      zoneCreate: (conn, id, data) => this.onZoneCreate(conn, id, data),
      structurePlace: (conn, id, data) => this.onStructurePlace(conn, id, data),
      racing: (conn, id, type, data) => this.onRacing(conn, id, type, data),
      closed: (conn) => this.onClosed(conn),
    }),
  };

  private readonly tenantId: string;
  private readonly chunkId: string;
  private readonly ref: ChunkRef;
  private readonly conns = new Map<string, ConnState | null>();
  /** Per-neighbour chains of relays, so each neighbour gets this chunk's events in order. */
  private readonly relays = new Map<string, Promise<void>>();
  /** Set by `fetch` for the one synchronous turn in which the core accepts the socket. */
  private connecting: Connecting | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const name = ctx.id.name ?? '';
    const i = name.lastIndexOf(':');
    this.tenantId = name.slice(0, i);
    this.chunkId = name.slice(i + 1);
    // A chunk actor is only ever reached by a canonical name (chunkKey of a parsed id).
    this.ref = i > 0 ? parseChunkId(this.chunkId) : { floor: 0, chunkIndex: 0 };
    this.sql.exec(`CREATE TABLE IF NOT EXISTS chunk_players (
      user_id TEXT PRIMARY KEY, username TEXT NOT NULL, x REAL NOT NULL, y REAL NOT NULL, floor INTEGER NOT NULL,
      rotation REAL NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL)`);
    this.sql.exec('CREATE TABLE IF NOT EXISTS chunk_conns (conn_id TEXT PRIMARY KEY, state TEXT NOT NULL)');
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS chunk_forward (user_id TEXT PRIMARY KEY, to_chunk TEXT NOT NULL, until INTEGER NOT NULL)',
    );
    // Far chunks players here requested (their chunk_updated follows them), and who watches this chunk from afar.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS chunk_watching (
      user_id TEXT NOT NULL, chunk_id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (user_id, chunk_id))`);
    this.sql.exec('CREATE TABLE IF NOT EXISTS chunk_watchers (user_id TEXT PRIMARY KEY, watcher TEXT NOT NULL)');
    this.sql.exec('CREATE TABLE IF NOT EXISTS chunk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    // The flusher writes the player's position as it is now: a player who left has a new owner, and no row here.
    this.outbox.register(OUTBOX_POSITION, (db, payload) => {
      const userId = (payload as { userId: string }).userId;
      const row = this.player(userId);
      const playerId = playerIdOf(userId);
      if (!row || playerId === null) return db.prepare('SELECT 1');
      return db
        .prepare(
          'UPDATE players SET current_position_x = ?3, current_position_y = ?4, current_floor = ?5 WHERE tenant_id = ?1 AND user_id = ?2',
        )
        .bind(this.tenantId, playerId, row.x, row.y, row.floor);
    });
  }

  // ---- RPC ------------------------------------------------------------------------------------------------

  /** A zone or structure in this chunk changed (REST or socket): `chunk_updated` to everyone watching it. */
  async chunkChanged(change: ChunkChange): Promise<boolean> {
    if (change.chunk_id !== this.chunkId) {
      console.error(`chunk_updated for ${change.chunk_id} sent to ${this.chunkId}: ignored`);
      return false;
    }
    const version = Math.max(this.version(), change.version);
    this.setMeta('version', String(version));
    const data = { chunk_id: change.chunk_id, version: change.version, changes: change.changes };
    this.publishArea('chunk_updated', data);
    const watchers = this.sql.exec<{ user_id: string; watcher: string }>('SELECT user_id, watcher FROM chunk_watchers').toArray();
    const byWatcher = new Map<string, string[]>();
    for (const w of watchers) byWatcher.set(w.watcher, [...(byWatcher.get(w.watcher) ?? []), w.user_id]);
    await Promise.all(
      [...byWatcher].map(async ([watcher, users]) => {
        try {
          const { gone } = await this.deliverVia(watcher, users, [{ type: 'chunk_updated', data }]);
          for (const u of gone) this.sql.exec('DELETE FROM chunk_watchers WHERE user_id = ? AND watcher = ?', u, watcher);
        } catch (err) {
          console.error(`chunk ${this.chunkId}: chunk_updated to watcher ${watcher} failed`, err);
        }
      }),
    );
    return true;
  }

  /** Area events of a neighbour, appended here as copies tagged with their origin. */
  relay(from: string, events: RelayedEvent[]): void {
    if (events.length === 0) return;
    this.publish(events.map((e) => ({ scope: AREA, type: e.type, data: { d: e.data, o: from, s: e.seq } satisfies AreaData })));
  }

  /** Frames for some players: logged in their personal scope here, forwarded after a hand-off, else reported gone. */
  async deliverToPlayers(userIds: string[], frames: PlayerFrame[], hops = 0): Promise<{ gone: string[] }> {
    const gone: string[] = [];
    const forward = new Map<string, string[]>();
    const now = Date.now();
    const inputs = [];
    for (const userId of new Set(userIds)) {
      if (this.player(userId)) {
        for (const f of frames) inputs.push({ scope: playerScope(userId), type: f.type, data: { d: f.data } });
        continue;
      }
      const fwd = this.sql
        .exec<{ to_chunk: string; until: number }>('SELECT to_chunk, until FROM chunk_forward WHERE user_id = ?', userId)
        .toArray()[0];
      if (fwd && fwd.until > now && hops < MAX_FORWARD_HOPS)
        forward.set(fwd.to_chunk, [...(forward.get(fwd.to_chunk) ?? []), userId]);
      else gone.push(userId);
    }
    this.publish(inputs);
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
    const answer = { sequence: this.log.latestSequence, lastEventId: this.log.latestEventId };
    await this.settleRelays();
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
    this.sql.exec('DELETE FROM chunk_forward WHERE user_id = ?', identity.userId);
    this.movePlayer(identity, position, floor, rotation);
    const now = Date.now();
    const watching = input.watching.filter((id) => {
      try {
        parseChunkId(id);
        return true;
      } catch {
        return false;
      }
    });
    for (const id of watching.slice(0, MAX_WATCHED)) {
      this.sql.exec(
        'INSERT INTO chunk_watching (user_id, chunk_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        identity.userId,
        id,
        now,
      );
    }
    // Far watches now point here (or are dropped where the chunk became a neighbour); A forwards meanwhile.
    this.ctx.waitUntil(this.pointWatches(identity.userId, watching));
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
    const live = this.connectionsOf(userId).filter((c) => {
      const st = this.connState(c.id);
      return !st?.handedOff && !st?.handoffTo;
    });
    const target = formatChunkId(chunkOf(floor, position.x));
    const me = this.player(userId);
    if (live.length === 0) {
      if (me && target === this.chunkId)
        this.sql.exec(
          'UPDATE chunk_players SET x = ?, y = ?, floor = ? WHERE user_id = ?',
          position.x,
          position.y,
          floor,
          userId,
        );
      else if (me) this.sql.exec('DELETE FROM chunk_players WHERE user_id = ?', userId);
      return 0;
    }
    const move = { position, floor, rotation: me?.rotation ?? 0 };
    // The player's position is one row: a move within the chunk is applied (and announced) once.
    const movers = target === this.chunkId ? live.slice(0, 1) : live;
    for (const conn of movers) await this.move(conn, move);
    return live.length;
  }

  /** Who watches this chunk from afar on behalf of a player (`null`: nobody any more). */
  setWatcher(userId: string, watcher: string | null): void {
    if (watcher === null) this.sql.exec('DELETE FROM chunk_watchers WHERE user_id = ?', userId);
    else
      this.sql.exec(
        'INSERT INTO chunk_watchers (user_id, watcher) VALUES (?, ?) ON CONFLICT(user_id) DO UPDATE SET watcher = excluded.watcher',
        userId,
        watcher,
      );
  }

  /** The chunk's state: its version and the players standing in it with a socket open. */
  state(): ChunkSnapshot {
    return this.snapshotFor();
  }

  // ---- core hooks -----------------------------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const forwarded = readForwarded(request);
    if (forwarded && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
      const x = Number(url.searchParams.get('px'));
      const y = Number(url.searchParams.get('py'));
      const floor = Number(url.searchParams.get('pf'));
      // A player without a row here (first connect, or a stale D1 row) stands where D1 says.
      if (Number.isFinite(x) && Number.isFinite(y) && Number.isInteger(floor)) {
        this.sql.exec(
          'INSERT OR IGNORE INTO chunk_players (user_id, username, x, y, floor, rotation, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)',
          forwarded.identity.userId,
          forwarded.identity.username,
          x,
          y,
          floor,
          Date.now(),
        );
      }
      const from = url.searchParams.get('handoff_from');
      const seq = url.searchParams.get('handoff_seq');
      this.connecting = {
        protocol: url.searchParams.get('protocol') ?? 'earthring-v1',
        handoffFrom: from && seq && /^\d{1,15}$/.test(seq) ? from : null,
        handoffSeq: seq && /^\d{1,15}$/.test(seq) ? Number(seq) : 0,
      };
    }
    try {
      // The core accepts the socket and calls `welcome` synchronously inside this call.
      return await super.fetch(request);
    } finally {
      this.connecting = null;
    }
  }

  protected override snapshotFor(): ChunkSnapshot {
    return { chunk_id: this.chunkId, version: this.version(), players: this.standing() };
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name !== TIMER_HANDOFF_CLOSE) return;
    let next: number | null = null;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as { id?: string } | null;
      const st = att?.id ? this.connState(att.id) : null;
      if (!st?.handedOff || st.handedOffAt === null) continue;
      const due = st.handedOffAt + this.graceMs();
      if (due <= now) {
        try {
          ws.close(1000, `Moved to chunk ${st.handedOff}`);
        } catch {
          // already closing
        }
      } else next = next === null ? due : Math.min(next, due);
    }
    if (next !== null) await this.schedule(TIMER_HANDOFF_CLOSE, next);
  }

  // ---- dialect host ---------------------------------------------------------------------------------------

  private welcome(api: DialectApi, conn: Connection): Record<string, unknown> {
    const c = this.connecting;
    this.connecting = null;
    const st: ConnState = {
      userId: conn.identity.userId,
      protocol: c?.protocol ?? 'earthring-v1',
      handoffTo: null,
      handedOff: null,
      handedOffAt: null,
      skipOrigin: c?.handoffFrom ?? null,
      skipUpto: c?.handoffSeq ?? 0,
    };
    this.saveConn(conn.id, st);
    this.sql.exec('DELETE FROM chunk_forward WHERE user_id = ?', conn.identity.userId);
    const me = this.player(conn.identity.userId);
    return {
      connection_id: conn.id,
      player_id: Number(conn.identity.userId),
      protocol: st.protocol,
      chunk_id: this.chunkId,
      position: me ? { x: me.x, y: me.y } : null,
      floor: me ? me.floor : this.ref.floor,
      version: this.version(),
      players: this.standing(),
      last_event_id: api.latestEventId(),
      sequence: api.latestSequence(),
      epoch: api.epoch(),
    };
  }

  private visible(event: LoggedEvent, conn: Connection): unknown | null {
    const st = this.connState(conn.id);
    if (st?.handedOff) return null;
    if (event.scope === AREA) {
      const a = event.data as AreaData;
      const seq = a.s ?? event.sequence;
      if (st?.handoffTo === a.o) return null;
      if (st?.skipOrigin === a.o && seq <= st.skipUpto) return null;
      // A player is not told of their own moves (they got the ack).
      if (event.type === 'player_moved' && String(a.d.player_id) === conn.identity.userId) return null;
      return a.d;
    }
    if (event.scope === playerScope(conn.identity.userId)) return (event.data as { d: unknown }).d;
    return null;
  }

  private async onChunkRequest(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void> {
    await consumeUserLimit(this.env, 'CHUNK_REQUEST', conn.identity);
    const request = parseChunkRequest(data);
    const chunks = await chunkContents(this.env, this.tenantId, request);
    conn.send({ type: 'chunk_data', ...(id === undefined ? {} : { id }), data: { chunks } });
    this.watch(conn.identity.userId, request.chunks);
  }

  private async onMove(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void> {
    this.assertHere(conn);
    const d = asObject(data, 'data');
    const me = this.player(conn.identity.userId);
    const position = parsePosition(d.position);
    const floor = d.floor === undefined ? (me?.floor ?? this.ref.floor) : parseFloor(d.floor);
    const rotation = d.rotation === undefined ? (me?.rotation ?? 0) : parseRotationValue(d.rotation);
    await this.move(conn, { position, floor, rotation }, (chunkId) =>
      conn.send({
        type: 'player_move_ack',
        ...(id === undefined ? {} : { id }),
        data: { position, floor, rotation, chunk_id: chunkId },
      }),
    );
  }

  /** A connection handed (or being handed) to another chunk moves there, not here. */
  private assertHere(conn: Connection): void {
    const st = this.connState(conn.id);
    const gone = st?.handedOff ?? st?.handoffTo;
    if (gone) {
      throw new ApiError('INVALID_REQUEST', `You moved to chunk ${gone}: send moves on its connection`, {
        details: { field: 'type', issue: 'handed_off', chunk_id: gone },
      });
    }
  }

  /** A validated move of a connection's player (a `player_move`, or a REST move via `relocate`). */
  private async move(
    conn: Connection,
    to: { position: Point; floor: number; rotation: number },
    ack?: (chunkId: string) => void,
  ): Promise<void> {
    const target = formatChunkId(chunkOf(to.floor, to.position.x));
    if (target === this.chunkId) {
      this.movePlayer(conn.identity, to.position, to.floor, to.rotation);
      ack?.(target);
      return;
    }
    await this.handOff(conn, to, target, () => ack?.(target));
  }

  private async handOff(
    conn: Connection,
    to: { position: Point; floor: number; rotation: number },
    target: string,
    ack: () => void,
  ): Promise<void> {
    const userId = conn.identity.userId;
    const st = this.connState(conn.id) ?? this.freshState(conn);
    const start = this.log.latestSequence;
    this.saveConn(conn.id, { ...st, handoffTo: target });
    const watching = this.sql
      .exec<{ chunk_id: string }>('SELECT chunk_id FROM chunk_watching WHERE user_id = ? ORDER BY at DESC', userId)
      .toArray()
      .map((r) => r.chunk_id);
    let answer: AdmitAnswer;
    try {
      answer = await this.chunkActor(target).admit({ identity: conn.identity, ...to, from: this.chunkId, watching });
    } catch (err) {
      console.error(`chunk ${this.chunkId}: hand-off to ${target} failed`, err);
      this.saveConn(conn.id, { ...st, handoffTo: null });
      // Nothing was handed over: what was withheld is delivered here after all.
      this.sendWithheld(conn, start, target, Number.POSITIVE_INFINITY);
      throw new ApiError('SERVER_ERROR', `Could not move to chunk ${target}; try again`);
    }
    // Withheld copies of the new chunk's events that it will not replay (up to its answer), then the cut-off.
    this.saveConn(conn.id, { ...st, handoffTo: null });
    this.sendWithheld(conn, start, target, answer.sequence);
    const cutoff = this.log.latestSequence;
    const now = Date.now();
    this.saveConn(conn.id, { ...st, handoffTo: null, handedOff: target, handedOffAt: now });
    this.ctx.storage.transactionSync(() => {
      this.sql.exec('DELETE FROM chunk_players WHERE user_id = ?', userId);
      this.sql.exec('DELETE FROM chunk_watching WHERE user_id = ?', userId);
      this.sql.exec(
        'INSERT INTO chunk_forward (user_id, to_chunk, until) VALUES (?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET to_chunk = excluded.to_chunk, until = excluded.until',
        userId,
        target,
        now + FORWARD_TTL_MS,
      );
    });
    ack();
    const resume = { chunk: target, lastEventId: answer.lastEventId, handoff_from: this.chunkId, handoff_seq: String(cutoff) };
    conn.send({
      type: 'chunk_handoff',
      data: {
        chunk_id: target,
        last_event_id: answer.lastEventId,
        handoff_from: this.chunkId,
        handoff_seq: cutoff,
        url: `/ws?${new URLSearchParams(resume).toString()}`,
      },
    });
    await this.timers.scheduleNoLaterThan(TIMER_HANDOFF_CLOSE, now + this.graceMs());
  }

  /** Area copies from `origin` logged since `after` with an origin sequence up to `upto`, sent to one connection. */
  private sendWithheld(conn: Connection, after: number, origin: string, upto: number): void {
    for (const e of this.log.read(after, 10_000, { scopes: [AREA] })) {
      const a = e.data as AreaData;
      if (a.o !== origin || (a.s ?? e.sequence) > upto) continue;
      const data = this.visible(e, conn);
      if (data !== null) conn.send(eventFrame(e, data));
    }
  }

  private async onZoneCreate(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void> {
    await consumeUserLimit(this.env, 'ZONE_CREATE', conn.identity);
    const me = this.player(conn.identity.userId);
    const { zone, changes } = await createZoneFor(this.env.DB, conn.identity, data ?? {}, me?.floor ?? this.ref.floor);
    conn.send({ type: 'zone_created', ...(id === undefined ? {} : { id }), data: zone });
    await this.notify(changes);
  }

  private async onStructurePlace(conn: Connection, id: FrameId | undefined, data: unknown): Promise<void> {
    await consumeUserLimit(this.env, 'STRUCTURE_PLACE', conn.identity);
    const me = this.player(conn.identity.userId);
    const { structure, changes } = await placeStructureFor(this.env.DB, conn.identity, data ?? {}, me?.floor ?? this.ref.floor);
    conn.send({ type: 'structure_placed', ...(id === undefined ? {} : { id }), data: structure });
    await this.notify(changes);
  }

  /**
   * `racing_start` / `racing_update` go to the Race actor over RPC. The Race actor itself delivers its events to
   * every participant's game socket (this one included), however the race is driven; this chunk only answers the
   * sender: errors, and the start for a starter who is not racing (a participant hears it once, from the race).
   */
  private async onRacing(
    conn: Connection,
    id: FrameId | undefined,
    type: 'racing_start' | 'racing_update',
    data: unknown,
  ): Promise<void> {
    const d = asObject(data, 'data');
    const raceId = parseEventIdOf(d.event_id);
    const race = raceActor(this.env, this.tenantId, raceId);
    if (type === 'racing_start') {
      // RPC result types lose the union's narrowing; these are the actor's declared return types.
      const started = fromReply((await race.start(conn.identity, d)) as unknown as Reply<RacingStarted>);
      if (!started.participants.includes(Number(conn.identity.userId)))
        conn.send({ type: 'racing_started', ...(id === undefined ? {} : { id }), data: started });
      return;
    }
    fromReply((await race.update(conn.identity, d, { at: Date.now() })) as unknown as Reply<RacingUpdate>);
  }

  private onClosed(conn: Connection): void {
    this.conns.delete(conn.id);
    this.sql.exec('DELETE FROM chunk_conns WHERE conn_id = ?', conn.id);
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private chunkActor(chunkId: string) {
    return chunkActor(this.env, this.tenantId, chunkId);
  }

  /** Appends one of this chunk's own area events and relays it to both neighbours. */
  private publishArea(type: string, data: Record<string, unknown>): LoggedEvent {
    const [event] = this.publish([{ scope: AREA, type, data: { d: data, o: this.chunkId, s: null } satisfies AreaData }]);
    const e = event as LoggedEvent;
    for (const n of neighbourChunks(this.ref)) this.relayTo(formatChunkId(n), [{ type, data, seq: e.sequence }]);
    return e;
  }

  private relayTo(target: string, events: RelayedEvent[]): void {
    const previous = this.relays.get(target) ?? Promise.resolve();
    const next = previous
      .then(() => this.chunkActor(target).relay(this.chunkId, events))
      .catch((err: unknown) => console.error(`chunk ${this.chunkId}: relay to ${target} failed`, err));
    this.relays.set(target, next);
    void next.finally(() => {
      if (this.relays.get(target) === next) this.relays.delete(target);
    });
  }

  /** Waits (bounded) until every relay started so far has landed. */
  private async settleRelays(): Promise<void> {
    const pending = [...this.relays.values()];
    if (pending.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(pending), new Promise<void>((r) => (timer = setTimeout(r, RELAY_SETTLE_MS)))]);
    clearTimeout(timer);
  }

  /** Updates a player standing here (row and write-behind in one transaction) and tells the area. */
  private movePlayer(identity: ActorIdentity, position: Point, floor: number, rotation: number): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO chunk_players (user_id, username, x, y, floor, rotation, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(user_id) DO UPDATE SET username = excluded.username, x = excluded.x, y = excluded.y,
           floor = excluded.floor, rotation = excluded.rotation, updated_at = excluded.updated_at`,
        identity.userId,
        identity.username,
        position.x,
        position.y,
        floor,
        rotation,
        Date.now(),
      );
      this.outbox.enqueue(OUTBOX_POSITION, { userId: identity.userId });
    });
    this.publishArea('player_moved', { player_id: Number(identity.userId), position, floor, rotation });
  }

  /** Remembers requested chunks; those outside this chunk's area are watched from afar. */
  private watch(userId: string, refs: ChunkRef[]): void {
    const now = Date.now();
    for (const ref of refs) {
      const id = formatChunkId(ref);
      const known = this.sql.exec('SELECT 1 FROM chunk_watching WHERE user_id = ? AND chunk_id = ?', userId, id).toArray().length;
      this.sql.exec(
        'INSERT INTO chunk_watching (user_id, chunk_id, at) VALUES (?, ?, ?) ON CONFLICT(user_id, chunk_id) DO UPDATE SET at = excluded.at',
        userId,
        id,
        now,
      );
      if (!known && !inArea(this.ref, ref)) this.ctx.waitUntil(this.pointWatch(userId, id, this.chunkId));
    }
    const dropped = this.sql
      .exec<{ chunk_id: string }>(
        'SELECT chunk_id FROM chunk_watching WHERE user_id = ? ORDER BY at DESC LIMIT -1 OFFSET ?',
        userId,
        MAX_WATCHED,
      )
      .toArray();
    for (const { chunk_id } of dropped) {
      this.sql.exec('DELETE FROM chunk_watching WHERE user_id = ? AND chunk_id = ?', userId, chunk_id);
      this.ctx.waitUntil(this.pointWatch(userId, chunk_id, null));
    }
  }

  private async pointWatches(userId: string, chunkIds: string[]): Promise<void> {
    await Promise.all(
      chunkIds.map((id) => this.pointWatch(userId, id, inArea(this.ref, parseChunkId(id)) ? null : this.chunkId)),
    );
  }

  private async pointWatch(userId: string, chunkId: string, watcher: string | null): Promise<void> {
    try {
      await this.chunkActor(chunkId).setWatcher(userId, watcher);
    } catch (err) {
      console.error(`chunk ${this.chunkId}: watching ${chunkId} failed`, err);
    }
  }

  /** Delivers to players through a chunk: this one directly, others over RPC. */
  private deliverVia(chunkId: string, users: string[], frames: PlayerFrame[]): Promise<{ gone: string[] }> {
    return chunkId === this.chunkId
      ? this.deliverToPlayers(users, frames)
      : this.chunkActor(chunkId).deliverToPlayers(users, frames);
  }

  /** chunk_updated for every changed chunk: this one directly, the others through their actors. */
  private async notify(changes: ChunkChange[]): Promise<void> {
    const mine = changes.filter((c) => c.chunk_id === this.chunkId);
    for (const c of mine) await this.chunkChanged(c);
    await notifyChunkChanges(
      this.env,
      this.tenantId,
      changes.filter((c) => c.chunk_id !== this.chunkId),
    );
  }

  private player(userId: string): PlayerRow | null {
    return this.sql.exec<PlayerRow>('SELECT * FROM chunk_players WHERE user_id = ?', userId).toArray()[0] ?? null;
  }

  /** Players standing here with a socket open (of this chunk, not handed off). */
  private standing(): StandingPlayer[] {
    const online = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== 1) continue;
      const att = ws.deserializeAttachment() as { id?: string; identity?: ActorIdentity } | null;
      if (!att?.id || !att.identity) continue;
      if (this.connState(att.id)?.handedOff) continue;
      online.add(att.identity.userId);
    }
    return this.sql
      .exec<PlayerRow>('SELECT * FROM chunk_players ORDER BY user_id')
      .toArray()
      .filter((r) => online.has(r.user_id))
      .map((r) => ({
        player_id: Number(r.user_id),
        username: r.username,
        position: { x: r.x, y: r.y },
        floor: r.floor,
        rotation: r.rotation,
      }));
  }

  private graceMs(): number {
    return this.config('handoffGraceMs') ?? HANDOFF_GRACE_MS;
  }

  private version(): number {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM chunk_meta WHERE key = 'version'").toArray()[0];
    return row ? Number(row.value) : 1;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec(
      'INSERT INTO chunk_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }

  private freshState(conn: Connection): ConnState {
    return {
      userId: conn.identity.userId,
      protocol: 'earthring-v1',
      handoffTo: null,
      handedOff: null,
      handedOffAt: null,
      skipOrigin: null,
      skipUpto: 0,
    };
  }

  private connState(connId: string): ConnState | null {
    if (this.conns.has(connId)) return this.conns.get(connId) ?? null;
    const row = this.sql.exec<{ state: string }>('SELECT state FROM chunk_conns WHERE conn_id = ?', connId).toArray()[0];
    const st = row ? (JSON.parse(row.state) as ConnState) : null;
    this.conns.set(connId, st);
    return st;
  }

  private saveConn(connId: string, st: ConnState): void {
    this.conns.set(connId, st);
    this.sql.exec(
      'INSERT INTO chunk_conns (conn_id, state) VALUES (?, ?) ON CONFLICT(conn_id) DO UPDATE SET state = excluded.state',
      connId,
      JSON.stringify(st),
    );
  }
}
