import { RealtimeActor } from '../core/actor';
import type { ActorIdentity, Dialect } from '../core/dialect';
import type { LoggedEvent } from '../core/protocol';
import {
  definitionFromRow,
  findRace,
  type ParticipantRow,
  participantStatement,
  type RaceDefinition,
  type RaceStatusRow,
  type ResultWrite,
  raceStatusStatement,
  resultStatement,
} from '../db/races';
import { createRaceDialect, DIALECT, relayFrame } from '../dialects/earthring-race';
import { parseId } from '../domain/input';
import {
  applyRaceCommand,
  createRaceState,
  type JoinAnswer,
  nextDeadline,
  type RaceCommand,
  type RaceOutcome,
  type RaceRelay,
  type RaceState,
  type RaceView,
  type RacingUpdate,
  type ResultAnswer,
  raceLeaderboard,
  racer,
  raceView,
  tick,
} from '../domain/race';
import type { LeaderboardEntry } from '../domain/racing';
import type { Env } from '../env';
import { ApiError, type Reply, toReply } from '../errors';
import { relayToPlayers } from './chunk-calls';
import { participantRow, RaceStore, resultRow, statusRow } from './race-store';

/** What callers of the actor's RPC (routes, the Chunk relaying racing frames) read from its answers. */
export type { RaceView, RacingStarted, RacingUpdate } from '../domain/race';

/**
 * A race (seed 000's racing event), one actor per tenant and race: `<tenantId>:<raceId>`. A thin shell over the
 * race's reducer (domain/race.ts): it loads the state (race-store.ts), applies a command, saves what changed,
 * logs the events (its sockets, SSE streams and polls get them) and relays them to the participants' game
 * sockets. D1 gets status and progress by write-behind and results at once (REST reads them there).
 *
 * Events in its log, delivered to its sockets, SSE streams and polls (and to anyone relaying them):
 *   racing_joined   {event_id, player_id, username, participants}
 *   racing_started  {event_id, start_time, participants, route, checkpoints, finish, laps, vehicle_type}
 *   racing_update   {event_id, players: [{player_id, position, checkpoint_reached, time, finished}]}
 *   racing_result   {event_id, player_id, username, finish_time, position}
 *   racing_finished {event_id, finished_at}   (every participant reached the finish)
 *
 * All but racing_joined also go to every participant's game socket (`/ws`, see PLAYER_EVENTS), whoever drove
 * the race (REST, the scheduled start, `/ws/racing/{id}` or `/ws`): this actor is the one place that fans them out.
 *
 * RPC methods answer `Reply<T>` values: an exception crossing RPC would lose its code and details.
 */

const SCOPE = 'race';
const START_TIMER = 'race:start';
const OUTBOX_PARTICIPANT = 'race_participant';
const OUTBOX_STATUS = 'race_status';
const OUTBOX_RESULT = 'race_result';

export class Race extends RealtimeActor {
  protected readonly dialects: Record<string, Dialect> = {
    [DIALECT]: createRaceDialect({
      start: (identity, data) => this.command(identity, { kind: 'start', input: data }),
      update: (identity, data) => this.command(identity, { kind: 'update', input: data }),
    }),
  };
  private readonly store: RaceStore;
  /** The race as last saved; loaded on first use (rebuildable from SQLite at any time). */
  private race: RaceState | null = null;
  /** Relays to game sockets run one after another, so each player's chunk gets the race's events in log order. */
  private relayChain: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new RaceStore(this.sql);
    this.outbox.register(OUTBOX_PARTICIPANT, (db, r) => participantStatement(db, r as ParticipantRow));
    this.outbox.register(OUTBOX_STATUS, (db, r) => raceStatusStatement(db, r as RaceStatusRow));
    this.outbox.register(OUTBOX_RESULT, (db, r) => resultStatement(db, r as ResultWrite));
  }

  // ---- RPC ------------------------------------------------------------------------------------------------

  /** Stores the definition REST just wrote to D1 (idempotent) and arms a scheduled start. */
  async create(def: RaceDefinition): Promise<Reply<RaceView>> {
    return toReply(async () => {
      this.assertKey(def.tenantId, def.id);
      return raceView(await this.init(def));
    });
  }

  async join(identity: ActorIdentity): Promise<Reply<JoinAnswer>> {
    return toReply(() => this.command(identity, { kind: 'join' }));
  }

  /** `racing_start` / `POST .../start`: the creator or an admin; `route`/`checkpoints`, when sent, must be the race's. */
  async start(identity: ActorIdentity, input: { route?: unknown; checkpoints?: unknown; event_id?: unknown } = {}) {
    return toReply(() => this.command(identity, { kind: 'start', input }));
  }

  /**
   * `racing_update` of a participant. `clock.at` is the server time the relaying actor received the frame (the
   * chunk actor passes its own `Date.now()` reading); it is never taken from a client frame. Default: now.
   */
  async update(identity: ActorIdentity, input: unknown, clock: { at?: number } = {}): Promise<Reply<RacingUpdate>> {
    return toReply(() => this.command(identity, { kind: 'update', input }, clock.at));
  }

  async submitResult(identity: ActorIdentity, body: unknown): Promise<Reply<ResultAnswer>> {
    return toReply(async () => {
      const answer = await this.command(identity, { kind: 'result', body });
      // REST reads results from D1 right after this answer: write now; the outbox row covers a failure here.
      const state = this.race as RaceState;
      const me = racer(state, identity.userId);
      const row = me && resultRow(state, me);
      if (row) {
        try {
          await resultStatement(this.env.DB, row).run();
        } catch (err) {
          console.error('race result: direct D1 write failed; the write-behind will retry', err);
        }
      }
      return answer;
    });
  }

  /** The race's own ranking from its SQLite (REST's leaderboard reads the same results from D1). */
  async leaderboard(): Promise<Reply<LeaderboardEntry[]>> {
    return toReply(async () => raceLeaderboard(await this.loaded()));
  }

  async state(identity?: ActorIdentity): Promise<Reply<RaceView>> {
    return toReply(async () => {
      const state = await this.loaded();
      if (identity && identity.tenantId !== state.def.tenantId)
        throw new ApiError('NOT_FOUND', `No race ${state.def.id}`, { details: { field: 'event_id' } });
      return raceView(state);
    });
  }

  // ---- core hooks -----------------------------------------------------------------------------------------

  /** Sockets, SSE streams and polls get the race in their first answer: load it before the core answers. */
  protected override async beforeConnect(): Promise<void> {
    await this.loaded().catch(() => null);
  }

  protected override snapshotFor(): unknown {
    return this.race ? raceView(this.race) : {};
  }

  /** Write-behind rows for every logged change, in the append's transaction (the state is saved by then). */
  protected override applyEvent(event: LoggedEvent): void {
    const state = this.race;
    if (!state) return;
    const data = event.data as Record<string, unknown>;
    if (event.type === 'racing_started' || event.type === 'racing_finished') {
      this.outbox.enqueue(OUTBOX_STATUS, statusRow(state, event.timestamp));
      return;
    }
    const ids =
      event.type === 'racing_update'
        ? (data.players as Array<{ player_id: number }>).map((p) => String(p.player_id))
        : event.type === 'racing_joined'
          ? [String(data.player_id)]
          : [];
    for (const id of ids) {
      const p = racer(state, id);
      if (p) this.outbox.enqueue(OUTBOX_PARTICIPANT, participantRow(state, p, event.sequence));
    }
    if (event.type === 'racing_result') {
      const p = racer(state, String(data.player_id));
      const row = p && resultRow(state, p);
      if (row) this.outbox.enqueue(OUTBOX_RESULT, row);
    }
  }

  protected override async onTimer(name: string, now: number): Promise<void> {
    if (name !== START_TIMER) return;
    await this.commit(tick(await this.loaded(), now));
  }

  // ---- the shell ------------------------------------------------------------------------------------------

  /** One command: the reducer decides; the new state is saved and its events logged and relayed in one turn. */
  private async command<C extends RaceCommand>(identity: ActorIdentity, command: C, at?: number) {
    const state = await this.loaded();
    const outcome = applyRaceCommand(state, identity, command, at ?? Date.now());
    await this.commit(outcome);
    return outcome.answer;
  }

  private async commit<T>(outcome: RaceOutcome<T>): Promise<void> {
    if (outcome.state !== this.race) {
      this.store.save(this.race, outcome.state);
      this.race = outcome.state;
    }
    this.publish(outcome.events.map((e) => ({ scope: SCOPE, type: e.type, data: e.data })));
    if (outcome.relay) this.relay(outcome.state.def, outcome.relay);
    // Once the race has started there is no scheduled start left to wait for.
    if (nextDeadline(outcome.state) === null && this.timers.at(START_TIMER) !== null) await this.cancel(START_TIMER);
  }

  /**
   * Relays to every participant's game socket, after the publish and outside the caller's answer: a failing
   * relay is logged and never undoes or delays what was published.
   */
  private relay(def: RaceDefinition, relay: RaceRelay): void {
    const frames = relay.frames.map(relayFrame);
    const next = this.relayChain
      .then(() => relayToPlayers(this.env, def.tenantId, relay.players, frames))
      .catch((err: unknown) => console.error(`race ${def.id}: relay to game sockets failed`, err));
    this.relayChain = next;
    this.ctx.waitUntil(next);
  }

  /** The race: from memory, this actor's SQLite, or (first call after REST created it) D1. */
  private async loaded(): Promise<RaceState> {
    this.race ??= this.store.load();
    if (this.race) return this.race;
    const { tenantId, raceId } = this.keyParts();
    const row = raceId === null ? null : await findRace(this.env.DB, tenantId, raceId);
    if (!row) throw new ApiError('NOT_FOUND', `No race ${raceId ?? ''}`.trim(), { details: { field: 'event_id' } });
    return this.init(definitionFromRow(row));
  }

  /** The stored race, else a new one from `def`: saved, and its scheduled start armed. A stored one is kept. */
  private async init(def: RaceDefinition): Promise<RaceState> {
    this.race ??= this.store.load();
    if (this.race) return this.race;
    const state = createRaceState(def);
    this.store.save(null, state);
    this.race = state;
    const at = nextDeadline(state);
    if (at !== null) await this.schedule(START_TIMER, at);
    return state;
  }

  // ---- checks ---------------------------------------------------------------------------------------------

  private keyParts(): { tenantId: string; raceId: number | null } {
    const name = this.ctx.id.name ?? '';
    const i = name.lastIndexOf(':');
    const id = name.slice(i + 1);
    return { tenantId: name.slice(0, i), raceId: parseId(id) };
  }

  private assertKey(tenantId: string, raceId: number): void {
    const key = this.keyParts();
    if (key.tenantId !== tenantId || key.raceId !== raceId)
      throw new Error(`Race ${tenantId}:${raceId} sent to actor ${this.ctx.id.name}`);
  }
}
