import { describe, expect, it } from 'vitest';
import {
  AREA,
  assertHere,
  type ChunkEvent,
  connectPosition,
  connectState,
  type HandoffState,
  handoffCloseAt,
  isWithheldCopy,
  MAX_FORWARD_HOPS,
  MOVE_TICK_MS,
  moveTickMs,
  parseBatchOption,
  parseMove,
  parseRaceId,
  parseRotation,
  planDelivery,
  playerScope,
  visibleData,
  visibleInTick,
} from '../../src/domain/chunk-area';

const area = (sequence: number, o: string, s: number | null, d: Record<string, unknown>, type = 'player_moved'): ChunkEvent => ({
  sequence,
  scope: AREA,
  type,
  data: { d, o, s },
});

const fresh = (): HandoffState => connectState(new URLSearchParams());

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    // The domain's refusals carry the seed's code and details, whichever error class carries them.
    const e = err as { code?: unknown; details?: unknown };
    if (typeof e.code === 'string') return { code: e.code, details: e.details };
    throw err;
  }
  throw new Error('expected a refusal');
};

describe('chunk area: connect state', () => {
  it('reads the protocol and a hand-off point from the query', () => {
    expect(connectState(new URLSearchParams('protocol=earthring-v2&handoff_from=0_4&handoff_seq=12'))).toEqual({
      protocol: 'earthring-v2',
      handoffTo: null,
      handedOff: null,
      handedOffAt: null,
      skipOrigin: '0_4',
      skipUpto: 12,
      batched: false,
    });
    expect(fresh()).toMatchObject({ protocol: 'earthring-v1', skipOrigin: null, skipUpto: 0 });
  });

  it('ignores a hand-off point without both parts or with a bad sequence', () => {
    for (const q of ['handoff_from=0_4', 'handoff_seq=3', 'handoff_from=0_4&handoff_seq=-1', 'handoff_from=&handoff_seq=3']) {
      expect(connectState(new URLSearchParams(q))).toMatchObject({ skipOrigin: null, skipUpto: 0 });
    }
  });

  it('takes the Worker position only when all three numbers are there and valid', () => {
    expect(connectPosition(new URLSearchParams('px=5500.5&py=-3&pf=2'))).toEqual({ position: { x: 5500.5, y: -3 }, floor: 2 });
    expect(connectPosition(new URLSearchParams('px=1&py=2'))).toBeNull();
    expect(connectPosition(new URLSearchParams('px=a&py=2&pf=0'))).toBeNull();
    expect(connectPosition(new URLSearchParams('px=1&py=2&pf=0.5'))).toBeNull();
  });
});

describe('chunk area: who sees what', () => {
  it('shows area events to everyone here except a player their own move, and personal events to their player only', () => {
    const moved = area(3, '0_5', null, { player_id: 7 });
    expect(visibleData(moved, fresh(), '8')).toEqual({ player_id: 7 });
    expect(visibleData(moved, fresh(), '7')).toBeNull();
    const personal: ChunkEvent = { sequence: 4, scope: playerScope('8'), type: 'racing_update', data: { d: { lap: 1 } } };
    expect(visibleData(personal, fresh(), '8')).toEqual({ lap: 1 });
    expect(visibleData(personal, fresh(), '7')).toBeNull();
  });

  it('withholds the target chunk during a hand-off, nothing after it, and what the old chunk delivered after one', () => {
    const fromB = area(10, '0_6', 4, { player_id: 1 });
    expect(visibleData(fromB, { ...fresh(), handoffTo: '0_6' }, '8')).toBeNull();
    expect(
      visibleData(area(11, '0_5', null, { player_id: 1 }), { ...fresh(), handedOff: '0_6', handedOffAt: 1 }, '8'),
    ).toBeNull();
    const arrived = { ...fresh(), skipOrigin: '0_6', skipUpto: 4 };
    expect(visibleData(fromB, arrived, '8')).toBeNull();
    expect(visibleData(area(12, '0_6', 5, { player_id: 1 }), arrived, '8')).toEqual({ player_id: 1 });
  });

  it('picks the withheld copies of one origin up to a sequence', () => {
    expect(isWithheldCopy(area(10, '0_6', 4, {}), '0_6', 4)).toBe(true);
    expect(isWithheldCopy(area(10, '0_6', 5, {}), '0_6', 4)).toBe(false);
    expect(isWithheldCopy(area(10, '0_4', 1, {}), '0_6', 4)).toBe(false);
    expect(isWithheldCopy({ sequence: 1, scope: playerScope('1'), type: 'x', data: { d: {} } }, '0_6', 4)).toBe(false);
  });

  it('refuses moves on a connection that moved on, and closes it after the grace period', () => {
    expect(() => assertHere(fresh())).not.toThrow();
    expect(refusal(() => assertHere({ ...fresh(), handoffTo: '0_6' }))).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { issue: 'handed_off', chunk_id: '0_6' },
    });
    expect(handoffCloseAt({ ...fresh(), handedOff: '0_6', handedOffAt: 1_000 }, 10_000)).toBe(11_000);
    expect(handoffCloseAt(fresh(), 10_000)).toBeNull();
  });
});

describe('chunk area: deliveries and payloads', () => {
  it('plans personal deliveries: here, forwarded while the forward is fresh and within the hop limit, else gone', () => {
    const forwards: Record<string, { to_chunk: string; until: number }> = {
      '2': { to_chunk: '0_6', until: 2_000 },
      '3': { to_chunk: '0_6', until: 500 },
      '4': { to_chunk: '0_7', until: 2_000 },
    };
    const chunk = { isHere: (u: string) => u === '1', forwardOf: (u: string) => forwards[u] ?? null };
    const plan = planDelivery(['1', '2', '3', '4', '5', '1'], chunk, 1_000, 0);
    expect(plan.here).toEqual(['1']);
    expect([...plan.forward]).toEqual([
      ['0_6', ['2']],
      ['0_7', ['4']],
    ]);
    expect(plan.gone).toEqual(['3', '5']);
    expect(planDelivery(['2'], chunk, 1_000, MAX_FORWARD_HOPS).gone).toEqual(['2']);
  });

  it('reads a move with the current floor and rotation as defaults, and refuses bad ones', () => {
    expect(parseMove({ position: { x: 10, y: 2 } }, { floor: 1, rotation: 90 })).toEqual({
      position: { x: 10, y: 2 },
      floor: 1,
      rotation: 90,
    });
    expect(parseMove({ position: { x: 10, y: 2 }, floor: 0, rotation: -90 }, { floor: 1, rotation: 0 })).toMatchObject({
      floor: 0,
      rotation: 270,
    });
    expect(refusal(() => parseMove([], { floor: 0, rotation: 0 }))).toMatchObject({ details: { field: 'data' } });
    expect(refusal(() => parseMove({ position: { x: 1, y: 1 }, rotation: 'north' }, { floor: 0, rotation: 0 }))).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'rotation' },
    });
    expect(parseRotation(720)).toBe(0);
  });

  it('reads a race id as a positive integer or its decimal string', () => {
    expect(parseRaceId(12)).toBe(12);
    expect(parseRaceId('12')).toBe(12);
    for (const bad of [0, -1, 1.5, '1e3', null, undefined]) {
      expect(refusal(() => parseRaceId(bad))).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'event_id' } });
    }
  });
});

describe('movement tick', () => {
  it('?batch= is 1/true or 0/false; anything else is refused', () => {
    expect(parseBatchOption(undefined)).toBe(false);
    expect(parseBatchOption(null)).toBe(false);
    expect(parseBatchOption('1')).toBe(true);
    expect(parseBatchOption('true')).toBe(true);
    expect(parseBatchOption('0')).toBe(false);
    expect(parseBatchOption('false')).toBe(false);
    for (const bad of ['', 'yes', '2', 'TRUE']) {
      expect(refusal(() => parseBatchOption(bad))).toMatchObject({
        code: 'INVALID_REQUEST',
        details: { field: 'batch', issue: 'bad_value' },
      });
    }
    expect(connectState(new URLSearchParams('batch_moves=1')).batched).toBe(true);
    expect(connectState(new URLSearchParams()).batched).toBe(false);
  });

  it('the tick is the config, else CHUNK_TICK_MS, else 100 ms; values outside 0-1000 ms are ignored', () => {
    expect(moveTickMs(undefined, undefined)).toBe(MOVE_TICK_MS);
    expect(moveTickMs(200, '80')).toBe(200);
    expect(moveTickMs(undefined, '80')).toBe(80);
    expect(moveTickMs(0, undefined)).toBe(0);
    expect(moveTickMs(-1, 'x')).toBe(MOVE_TICK_MS);
    expect(moveTickMs(1.5, '5000')).toBe(MOVE_TICK_MS);
    expect(moveTickMs(undefined, '')).toBe(MOVE_TICK_MS);
  });

  it('a tick shows a connection what it may see, in log order, within its topics', () => {
    const me = '7';
    const events = [
      area(1, '0_5', null, { player_id: 8, position: { x: 1, y: 0 } }),
      area(2, '0_5', null, { player_id: 7, position: { x: 2, y: 0 } }),
      area(3, '0_6', 40, { player_id: 9, position: { x: 3, y: 0 } }),
      area(4, '0_5', null, { player_id: 8, position: { x: 4, y: 0 } }),
    ];
    const seen = (state: HandoffState, topics: string[] = [AREA]) =>
      visibleInTick(events, { state, userId: me, topics }).map((m) => m.event.sequence);
    // Never the player's own moves.
    expect(seen(fresh())).toEqual([1, 3, 4]);
    // Being handed to 0_6: its copies are withheld; arrived from 0_6 up to 40: those were delivered there.
    expect(seen({ ...fresh(), handoffTo: '0_6' })).toEqual([1, 4]);
    expect(seen({ ...fresh(), skipOrigin: '0_6', skipUpto: 40 })).toEqual([1, 4]);
    expect(seen({ ...fresh(), handedOff: '0_6', handedOffAt: 1 })).toEqual([]);
    expect(seen(fresh(), [playerScope(me)])).toEqual([]);
    expect(seen(fresh(), [])).toEqual([1, 3, 4]);
  });
});
