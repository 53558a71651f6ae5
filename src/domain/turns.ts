/**
 * Initiative order. Participants (players or NPCs) are kept sorted by initiative, highest first; ties keep the
 * order they were added in. Before the first `next` the encounter has not started (round 0, no current
 * participant); `next` then starts round 1 with the first in order, advances, and wraps into the next round.
 * Adding or removing participants keeps the current one current (removing the current one passes the turn on).
 */
import { ApiError, invalid } from '../errors';

export interface Participant {
  id: string;
  name: string;
  initiative: number;
  /** The room member who plays it, if any. */
  userId?: string;
}

export interface TurnState {
  order: Participant[];
  /** Index into `order`, -1 before the encounter starts or when empty. */
  current: number;
  round: number;
  /** Next participant number; ids are `p-<n>`. */
  nextId: number;
}

export type TurnChangeReason = 'next' | 'added' | 'removed';

/** The `turn_changed` event's data. */
export interface TurnChangedData {
  reason: TurnChangeReason;
  round: number;
  current: Participant | null;
  order: Participant[];
  /** The participant added or removed, for those reasons. */
  participant?: Participant;
}

export const MAX_PARTICIPANTS = 100;
export const MAX_NAME_LENGTH = 100;
export const MIN_INITIATIVE = -1000;
export const MAX_INITIATIVE = 1000;

export const createTurns = (): TurnState => ({ order: [], current: -1, round: 0, nextId: 1 });

export const currentParticipant = (t: TurnState): Participant | null => t.order[t.current] ?? null;

export function addParticipant(
  t: TurnState,
  input: { name: string; initiative: number; userId?: string },
): { turns: TurnState; participant: Participant } {
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (!name || name.length > MAX_NAME_LENGTH) {
    throw invalid(`name must be 1 to ${MAX_NAME_LENGTH} characters`, { issue: 'invalid_name', field: 'name' });
  }
  const { initiative } = input;
  if (
    typeof initiative !== 'number' ||
    !Number.isFinite(initiative) ||
    initiative < MIN_INITIATIVE ||
    initiative > MAX_INITIATIVE
  ) {
    throw invalid(`initiative must be a number from ${MIN_INITIATIVE} to ${MAX_INITIATIVE}`, {
      issue: 'invalid_initiative',
      field: 'initiative',
    });
  }
  if (t.order.length >= MAX_PARTICIPANTS) {
    throw invalid(`At most ${MAX_PARTICIPANTS} participants`, { issue: 'too_many_participants', max: MAX_PARTICIPANTS });
  }
  const participant: Participant = { id: `p-${t.nextId}`, name, initiative };
  if (input.userId !== undefined) participant.userId = input.userId;
  // After everyone with the same or higher initiative: ties go in arrival order.
  let at = t.order.findIndex((p) => p.initiative < initiative);
  if (at < 0) at = t.order.length;
  const order = t.order.toSpliced(at, 0, participant);
  const current = t.current >= 0 && at <= t.current ? t.current + 1 : t.current;
  return { turns: { ...t, order, current, nextId: t.nextId + 1 }, participant };
}

export function removeParticipant(t: TurnState, id: string): { turns: TurnState; participant: Participant } {
  const at = t.order.findIndex((p) => p.id === id);
  const participant = t.order[at];
  if (at < 0 || !participant)
    throw new ApiError('NOT_FOUND', `No participant '${id}' in the initiative order`, {
      details: { issue: 'unknown_participant', id },
    });
  const order = t.order.toSpliced(at, 1);
  if (!order.length) return { turns: { ...t, order, current: -1, round: 0 }, participant };
  let { current, round } = t;
  if (current >= 0) {
    if (at < current) current -= 1;
    else if (at === current && current >= order.length) {
      // The last in order left on their turn: the turn passes to the top of the next round.
      current = 0;
      round += 1;
    }
  }
  return { turns: { ...t, order, current, round }, participant };
}

/** Advances the turn (starting the encounter on the first call); wraps into the next round. */
export function nextTurn(t: TurnState): TurnState {
  if (!t.order.length) throw invalid('No participants in the initiative order', { issue: 'no_participants' });
  if (t.current < 0) return { ...t, current: 0, round: Math.max(1, t.round) };
  const next = t.current + 1;
  return next >= t.order.length ? { ...t, current: 0, round: t.round + 1 } : { ...t, current: next };
}

export function turnChangedData(t: TurnState, reason: TurnChangeReason, participant?: Participant): TurnChangedData {
  const data: TurnChangedData = { reason, round: t.round, current: currentParticipant(t), order: t.order };
  if (participant) data.participant = participant;
  return data;
}
