import { describe, expect, it } from 'vitest';
import {
  addParticipant,
  createTurns,
  currentParticipant,
  MAX_PARTICIPANTS,
  nextTurn,
  removeParticipant,
  type TurnState,
  turnChangedData,
} from '../../../src/domain/turns';
import { ApiError } from '../../../src/errors';

const names = (t: TurnState) => t.order.map((p) => p.name);
const add = (t: TurnState, name: string, initiative: number) => addParticipant(t, { name, initiative }).turns;

function issueOf(fn: () => unknown): [string, string | undefined] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return [e.code, e.details?.issue];
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('initiative order', () => {
  it('sorts by initiative, highest first, ties in arrival order; ids are p-<n>', () => {
    let t = createTurns();
    t = add(t, 'Goblin', 12);
    t = add(t, 'Aria', 18);
    const r = addParticipant(t, { name: ' Bram ', initiative: 12, userId: 'u-bram' });
    expect(r.participant).toEqual({ id: 'p-3', name: 'Bram', initiative: 12, userId: 'u-bram' });
    t = add(r.turns, 'Ogre', 3);
    expect(names(t)).toEqual(['Aria', 'Goblin', 'Bram', 'Ogre']);
    expect(t).toMatchObject({ round: 0, current: -1 });
    expect(currentParticipant(t)).toBeNull();
  });

  it('next starts round 1, advances, and wraps into the next round', () => {
    let t = add(add(add(createTurns(), 'A', 20), 'B', 10), 'C', 5);
    const seen: string[] = [];
    for (let i = 0; i < 7; i++) {
      t = nextTurn(t);
      seen.push(`${t.round}:${currentParticipant(t)?.name}`);
    }
    expect(seen).toEqual(['1:A', '1:B', '1:C', '2:A', '2:B', '2:C', '3:A']);
    expect(turnChangedData(t, 'next')).toEqual({ reason: 'next', round: 3, current: t.order[0], order: t.order });
  });

  it('next with nobody in the order is an INVALID_REQUEST', () => {
    expect(issueOf(() => nextTurn(createTurns()))).toEqual(['INVALID_REQUEST', 'no_participants']);
  });

  it('adding mid-round keeps the current participant current', () => {
    let t = add(add(createTurns(), 'A', 20), 'B', 10);
    t = nextTurn(nextTurn(t)); // B's turn
    t = add(t, 'Fast', 30);
    expect(currentParticipant(t)?.name).toBe('B');
    t = nextTurn(t);
    expect(t.round).toBe(2);
    expect(currentParticipant(t)?.name).toBe('Fast');
  });

  it('removing keeps or passes the turn, and an empty order resets the encounter', () => {
    let t = add(add(add(createTurns(), 'A', 20), 'B', 10), 'C', 5);
    t = nextTurn(nextTurn(t)); // round 1, B
    const beforeCurrent = removeParticipant(t, t.order[0]!.id);
    expect(beforeCurrent.participant.name).toBe('A');
    expect(currentParticipant(beforeCurrent.turns)?.name).toBe('B');
    const onTurn = removeParticipant(t, t.order[1]!.id);
    expect(currentParticipant(onTurn.turns)?.name).toBe('C');
    expect(onTurn.turns.round).toBe(1);
    const lastOnTurn = removeParticipant(nextTurn(t), t.order[2]!.id); // C's turn, C leaves
    expect(currentParticipant(lastOnTurn.turns)?.name).toBe('A');
    expect(lastOnTurn.turns.round).toBe(2);
    expect(turnChangedData(lastOnTurn.turns, 'removed', lastOnTurn.participant).participant?.name).toBe('C');
    let empty = lastOnTurn.turns;
    for (const p of empty.order) empty = removeParticipant(empty, p.id).turns;
    expect(empty).toMatchObject({ order: [], current: -1, round: 0 });
  });

  it('rejects bad participants and unknown ids', () => {
    const t = createTurns();
    expect(issueOf(() => addParticipant(t, { name: '  ', initiative: 1 }))).toEqual(['INVALID_REQUEST', 'invalid_name']);
    expect(issueOf(() => addParticipant(t, { name: 'x'.repeat(101), initiative: 1 }))[1]).toBe('invalid_name');
    expect(issueOf(() => addParticipant(t, { name: 'A', initiative: Number.NaN }))[1]).toBe('invalid_initiative');
    expect(issueOf(() => addParticipant(t, { name: 'A', initiative: 1001 }))[1]).toBe('invalid_initiative');
    expect(issueOf(() => removeParticipant(t, 'p-9'))).toEqual(['NOT_FOUND', 'unknown_participant']);
    let full = t;
    for (let i = 0; i < MAX_PARTICIPANTS; i++) full = add(full, `P${i}`, i % 20);
    expect(issueOf(() => add(full, 'one more', 1))[1]).toBe('too_many_participants');
    expect(full.order).toHaveLength(MAX_PARTICIPANTS);
  });
});
