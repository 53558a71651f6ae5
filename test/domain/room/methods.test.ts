import { describe, expect, it } from 'vitest';
import {
  METHOD_EVENTS,
  parseMethodParams,
  ROOM_EVENTS,
  ROOM_METHODS,
  type RoomMethod,
  requireMethod,
} from '../../../src/domain/room-methods';
import { ApiError } from '../../../src/errors';

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

const line = [
  { x: 0, y: 0 },
  { x: 10, y: 10 },
];

/** For every method: params that pass, and params that must be refused (with the field named). */
const CASES: Record<RoomMethod, { good: unknown[]; bad: [unknown, string][] }> = {
  'room.join': { good: [undefined, {}], bad: [['x', '(params)']] },
  'room.leave': { good: [undefined, {}], bad: [[42, '(params)']] },
  'room.state': { good: [undefined, {}], bad: [[[1], '(params)']] },
  'chat.send': {
    good: [{ text: 'hi' }, { text: 'x'.repeat(2000) }],
    bad: [
      [{ text: '' }, 'text'],
      [{ text: 'x'.repeat(2001) }, 'text'],
      [{ text: 5 }, 'text'],
      [{}, 'text'],
    ],
  },
  'dice.roll': {
    good: [{ notation: '2d6+3' }, { notation: 'd20', reason: 'stealth' }],
    bad: [
      [{ notation: '' }, 'notation'],
      [{ notation: 'd'.repeat(101) }, 'notation'],
      [{ notation: '1d6', reason: 'r'.repeat(201) }, 'reason'],
      [{}, 'notation'],
    ],
  },
  'turn.next': { good: [undefined, {}], bad: [['next', '(params)']] },
  'turn.add': {
    good: [
      { name: 'Goblin', initiative: 12 },
      { name: 'Aria', initiative: -3, userId: 'u1' },
    ],
    bad: [
      [{ name: '', initiative: 1 }, 'name'],
      [{ name: 'A', initiative: 1001 }, 'initiative'],
      [{ name: 'A', initiative: '3' }, 'initiative'],
    ],
  },
  'turn.remove': { good: [{ id: 'p-1' }], bad: [[{}, 'id']] },
  'note.edit': {
    good: [
      { noteId: 'quest-log', text: '' },
      { noteId: 'n1', text: 'x'.repeat(20_000), baseVersion: 3 },
    ],
    bad: [
      [{ noteId: 'bad id!', text: 'x' }, 'noteId'],
      [{ noteId: 'n1', text: 'x'.repeat(20_001) }, 'text'],
      [{ noteId: 'n1', text: 'x', baseVersion: -1 }, 'baseVersion'],
    ],
  },
  'map.update': {
    good: [
      { name: 'Dungeon' },
      { backgroundUrl: 'https://maps.example/d1.png', gridSize: 50 },
      { backgroundUrl: null },
      { tokens: [{ id: 'orc-1', x: 5, y: 5, label: 'Orc', color: '#0f0' }], removeTokens: ['gob-1'] },
    ],
    bad: [
      [{}, '(params)'],
      [{ backgroundUrl: 'javascript:alert(1)' }, 'backgroundUrl'],
      [{ gridSize: 4 }, 'gridSize'],
      [{ tokens: [{ id: 'a', x: 1e9, y: 0 }] }, 'tokens.0.x'],
      [{ tokens: Array.from({ length: 201 }, (_, i) => ({ id: `t${i}`, x: 0, y: 0 })) }, 'tokens'],
    ],
  },
  'presence.update': {
    good: [{ status: 'away' }, { activity: { type: 'typing', location: 'chat' } }, { activity: null }],
    bad: [
      [{}, '(params)'],
      [{ status: 'offline' }, 'status'],
      [{ activity: { type: 'sleeping' } }, 'activity.type'],
    ],
  },
  'cursor.move': {
    good: [{ x: 1, y: 2 }],
    bad: [
      [{ x: 1 }, 'y'],
      [{ x: Number.NaN, y: 0 }, 'x'],
      [{ x: 0, y: 20_000 }, 'y'],
    ],
  },
  'canvas.draw': {
    good: [
      { points: line, color: '#ff0000', size: 4 },
      { type: 'draw', tool: 'pen', points: line, color: '#f00', size: 1, userId: 'spoofed', strokeId: 's-1' },
    ],
    bad: [
      [{ points: [], color: '#fff', size: 2 }, 'points'],
      [{ points: Array(2001).fill({ x: 0, y: 0 }), color: '#fff', size: 2 }, 'points'],
      [{ points: line, color: 'red', size: 2 }, 'color'],
      [{ points: line, color: '#fff', size: 201 }, 'size'],
      [{ points: line, color: '#fff', size: 2, tool: 'eraser' }, 'tool'],
      [{ points: [{ x: 'a', y: 0 }], color: '#fff', size: 2 }, 'points.0.x'],
    ],
  },
  'canvas.erase': {
    good: [
      { points: line, size: 20 },
      { tool: 'eraser', points: line, size: 20, color: '#ffffff' },
    ],
    bad: [
      [{ points: line, size: 0 }, 'size'],
      [{ tool: 'pen', points: line, size: 20 }, 'tool'],
    ],
  },
  'canvas.shape': {
    good: [
      { tool: 'rectangle', points: line, color: '#00f', size: 2 },
      { tool: 'circle', points: line, color: '#00ff0080', size: 2 },
    ],
    bad: [
      [{ tool: 'rectangle', points: [{ x: 0, y: 0 }], color: '#00f', size: 2 }, 'points'],
      [{ tool: 'pen', points: line, color: '#00f', size: 2 }, 'tool'],
      [{ points: line, color: '#00f', size: 2 }, 'tool'],
    ],
  },
  'canvas.clear': { good: [undefined, {}], bad: [['all', '(params)']] },
  'canvas.undo': { good: [undefined, {}], bad: [[true, '(params)']] },
  'canvas.redo': { good: [undefined, {}], bad: [[0, '(params)']] },
};

describe('method params', () => {
  it('covers every method of the issue', () => {
    for (const m of [
      'room.join',
      'room.leave',
      'chat.send',
      'dice.roll',
      'turn.next',
      'note.edit',
      'map.update',
      'presence.update',
      'cursor.move',
      'canvas.draw',
      'canvas.erase',
      'canvas.shape',
      'canvas.clear',
      'canvas.undo',
      'canvas.redo',
      'room.state',
    ]) {
      expect(ROOM_METHODS).toContain(m);
    }
    expect(Object.keys(CASES).sort()).toEqual([...ROOM_METHODS].sort());
  });

  for (const method of Object.keys(CASES) as RoomMethod[]) {
    it(`${method}: accepts good params and refuses bad ones naming the field`, () => {
      for (const good of CASES[method].good) expect(() => parseMethodParams(method, good), JSON.stringify(good)).not.toThrow();
      for (const [bad, field] of CASES[method].bad) {
        const err = errorOf(() => parseMethodParams(method, bad));
        expect(err.code).toBe('INVALID_REQUEST');
        expect(err.details, JSON.stringify(bad)?.slice(0, 60)).toMatchObject({ issue: 'invalid_params', method, field });
        expect(err.message).toContain(`Invalid params for ${method}: ${field}`);
      }
    });
  }

  it('strips unknown keys, so a spoofed userId never reaches the domain', () => {
    const p = parseMethodParams('canvas.draw', { points: line, color: '#f00', size: 1, userId: 'mallory' });
    expect(p).toEqual({ points: line, color: '#f00', size: 1 });
  });
});

describe('methods and events', () => {
  it('maps every method to one of the seed event names (or none)', () => {
    expect(METHOD_EVENTS['canvas.shape']).toBe('draw');
    expect(METHOD_EVENTS['chat.send']).toBe('chat_message');
    expect(METHOD_EVENTS['room.state']).toBeNull();
    for (const m of ROOM_METHODS) {
      const e = METHOD_EVENTS[m];
      if (e !== null) expect(ROOM_EVENTS).toContain(e);
    }
    const announced = new Set(Object.values(METHOD_EVENTS));
    for (const e of ROOM_EVENTS) expect(announced.has(e), e).toBe(true);
  });

  it('refuses unknown methods, listing the known ones', () => {
    expect(requireMethod('chat.send')).toBe('chat.send');
    for (const bad of ['chat.shout', '__proto__', 'toString', '', 7]) {
      const err = errorOf(() => requireMethod(bad));
      expect(err.code).toBe('INVALID_REQUEST');
      expect(err.details).toMatchObject({ issue: 'unknown_method', methods: ROOM_METHODS });
    }
  });
});
