import { describe, expect, it } from 'vitest';
import {
  bufferStroke,
  type CanvasState,
  clear,
  createCanvas,
  DRAW_DEBOUNCE_MS,
  DRAW_MAX_WAIT_MS,
  draw,
  flushStrokes,
  MAX_BASE_OPS,
  MAX_HISTORY,
  MAX_POINTS,
  nextStrokeDue,
  redo,
  type StrokeBuffer,
  type StrokeInput,
  undo,
  validateStroke,
  visibleOps,
} from '../../../src/domain/canvas';
import { ApiError } from '../../../src/errors';

const pen = (x = 1, y = 2, more: Partial<StrokeInput> = {}): StrokeInput => ({
  type: 'draw',
  tool: 'pen',
  points: [{ x, y }],
  color: '#FF0000',
  size: 3,
  ...more,
});

/** Runs `fn` and returns the ApiError it throws. */
function roomError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

const ids = (c: CanvasState) => visibleOps(c).map((o) => o.id);

describe('validateStroke', () => {
  it('accepts pen, eraser and two-point shapes, keeping only known fields', () => {
    const clean = validateStroke({ ...pen(), extra: 'x' } as StrokeInput);
    expect(clean).toEqual({ type: 'draw', tool: 'pen', points: [{ x: 1, y: 2 }], color: '#ff0000', size: 3 });
    expect(validateStroke({ type: 'erase', tool: 'eraser', points: [{ x: 0, y: 0 }], color: '#fff', size: 200 }).tool).toBe(
      'eraser',
    );
    const rect = {
      type: 'shape',
      tool: 'rectangle',
      points: [
        { x: -10_000, y: 0 },
        { x: 10_000, y: 5 },
      ],
      color: '#11223344',
      size: 1,
    };
    expect(validateStroke(rect as StrokeInput).points).toHaveLength(2);
    expect(validateStroke({ ...rect, tool: 'circle' } as StrokeInput).tool).toBe('circle');
    expect(
      validateStroke(pen(0, 0, { points: Array.from({ length: MAX_POINTS }, (_, i) => ({ x: i % 100, y: 1 })) })).points,
    ).toHaveLength(MAX_POINTS);
  });

  it('rejects oversize strokes, empty strokes, bad shapes, tool mismatches, bad colours, sizes and coordinates', () => {
    const cases: [StrokeInput, string][] = [
      [pen(0, 0, { points: Array.from({ length: MAX_POINTS + 1 }, () => ({ x: 1, y: 1 })) }), 'invalid_point_count'],
      [pen(0, 0, { points: [] }), 'invalid_point_count'],
      [{ ...pen(), type: 'shape', tool: 'rectangle' }, 'invalid_point_count'],
      [
        {
          ...pen(),
          type: 'shape',
          tool: 'circle',
          points: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
            { x: 2, y: 2 },
          ],
        },
        'invalid_point_count',
      ],
      [{ ...pen(), tool: 'eraser' }, 'tool_mismatch'],
      [{ ...pen(), type: 'erase', tool: 'pen' }, 'tool_mismatch'],
      [{ ...pen(), type: 'shape', tool: 'pen' }, 'tool_mismatch'],
      [{ ...pen(), type: 'paint' as 'draw' }, 'invalid_type'],
      [pen(Number.NaN, 0), 'point_out_of_bounds'],
      [pen(0, Number.POSITIVE_INFINITY), 'point_out_of_bounds'],
      [pen(10_001, 0), 'point_out_of_bounds'],
      [pen(0, 0, { points: [{ x: '1', y: 2 } as unknown as { x: number; y: number }] }), 'point_out_of_bounds'],
      [pen(0, 0, { points: [null as unknown as { x: number; y: number }] }), 'point_out_of_bounds'],
      [pen(0, 0, { color: 'red' }), 'invalid_color'],
      [pen(0, 0, { color: '#12345' }), 'invalid_color'],
      [pen(0, 0, { color: '#ggg' }), 'invalid_color'],
      [pen(0, 0, { size: 0 }), 'invalid_size'],
      [pen(0, 0, { size: 201 }), 'invalid_size'],
      [pen(0, 0, { size: Number.NaN }), 'invalid_size'],
    ];
    for (const [input, issue] of cases) {
      const err = roomError(() => validateStroke(input));
      expect(err.code, issue).toBe('INVALID_REQUEST');
      expect(err.details?.issue, JSON.stringify(input).slice(0, 80)).toBe(issue);
    }
  });
});

describe('draw, clear, undo, redo', () => {
  it('gives each operation a fresh id and derives the visible canvas', () => {
    let c = createCanvas();
    const a = draw(c, 'alice', pen(1, 1), 10);
    c = a.canvas;
    expect(a.op).toMatchObject({ id: 'op-1', userId: 'alice', timestamp: 10, type: 'draw', tool: 'pen' });
    expect(a.event).toEqual({ method: 'draw', data: { op: a.op } });
    c = draw(c, 'bob', pen(2, 2), 11).canvas;
    expect(ids(c)).toEqual(['op-1', 'op-2']);
    const cl = clear(c, 'bob', 12);
    expect(cl.event).toEqual({ method: 'clear', data: { id: 'op-3', userId: 'bob', timestamp: 12 } });
    expect(visibleOps(cl.canvas)).toEqual([]);
  });

  it('rejects a bad op without changing the canvas', () => {
    const c = draw(createCanvas(), 'alice', pen(), 1).canvas;
    expect(() => draw(c, 'alice', pen(0, 0, { size: 999 }), 2)).toThrow(ApiError);
    expect(ids(c)).toEqual(['op-1']);
    expect(c.nextId).toBe(2);
  });

  it("undo takes back the caller's own last op, not someone else's later one", () => {
    let c = createCanvas();
    c = draw(c, 'alice', pen(1, 1), 1).canvas; // op-1
    c = draw(c, 'alice', pen(2, 2), 2).canvas; // op-2
    c = draw(c, 'bob', pen(3, 3), 3).canvas; // op-3
    const u = undo(c, 'alice');
    expect(u.event).toEqual({ method: 'undo', data: { userId: 'alice', opId: 'op-2', kind: 'op' } });
    expect(ids(u.canvas)).toEqual(['op-1', 'op-3']);
    const u2 = undo(u.canvas, 'alice');
    expect(ids(u2.canvas)).toEqual(['op-3']);
  });

  it('undo with an empty history is a clear INVALID_REQUEST, also when only others have drawn', () => {
    const empty = roomError(() => undo(createCanvas(), 'alice'));
    expect(empty.code).toBe('INVALID_REQUEST');
    expect(empty.details).toEqual({ issue: 'nothing_to_undo' });
    expect(empty.message).toMatch(/nothing to undo/i);
    const othersOnly = draw(createCanvas(), 'bob', pen(), 1).canvas;
    expect(roomError(() => undo(othersOnly, 'alice')).details?.issue).toBe('nothing_to_undo');
  });

  it('redo re-applies the caller’s last undone op on top; redo with nothing undone is an error', () => {
    let c = createCanvas();
    c = draw(c, 'alice', pen(1, 1), 1).canvas; // op-1
    c = draw(c, 'bob', pen(2, 2), 2).canvas; // op-2
    c = undo(c, 'alice').canvas;
    expect(roomError(() => redo(c, 'bob')).details).toEqual({ issue: 'nothing_to_redo' });
    const r = redo(c, 'alice');
    expect(r.event.method).toBe('redo');
    expect(r.event.data).toMatchObject({ userId: 'alice', opId: 'op-1', kind: 'op', op: { id: 'op-1' } });
    expect(ids(r.canvas)).toEqual(['op-2', 'op-1']);
    expect(roomError(() => redo(r.canvas, 'alice')).details?.issue).toBe('nothing_to_redo');
    // and it can be undone again
    expect(ids(undo(r.canvas, 'alice').canvas)).toEqual(['op-2']);
  });

  it("a new op clears only that user's redo stack; several undos redo in reverse order", () => {
    let c = createCanvas();
    c = draw(c, 'alice', pen(1, 1), 1).canvas; // op-1
    c = draw(c, 'alice', pen(2, 2), 2).canvas; // op-2
    c = draw(c, 'bob', pen(3, 3), 3).canvas; // op-3
    c = undo(c, 'alice').canvas;
    c = undo(c, 'alice').canvas;
    c = undo(c, 'bob').canvas;
    const r1 = redo(c, 'alice');
    expect(r1.event.data.opId).toBe('op-1');
    expect(redo(r1.canvas, 'alice').event.data.opId).toBe('op-2');
    // alice draws: her remaining redo is gone; bob's is untouched
    const after = draw(r1.canvas, 'alice', pen(4, 4), 4).canvas;
    expect(roomError(() => redo(after, 'alice')).details?.issue).toBe('nothing_to_redo');
    expect(redo(after, 'bob').event.data.opId).toBe('op-3');
  });

  it('clear is undoable: undo brings back what it wiped, under what was drawn since; redo clears again', () => {
    let c = createCanvas();
    c = draw(c, 'alice', pen(1, 1), 1).canvas; // op-1
    c = draw(c, 'bob', pen(2, 2), 2).canvas; // op-2
    c = clear(c, 'carol', 3).canvas; // op-3
    c = draw(c, 'bob', pen(4, 4), 4).canvas; // op-4
    expect(ids(c)).toEqual(['op-4']);
    const u = undo(c, 'carol');
    expect(u.event.data).toMatchObject({ userId: 'carol', opId: 'op-3', kind: 'clear' });
    expect(u.event.data.visible?.map((o) => o.id)).toEqual(['op-1', 'op-2', 'op-4']);
    expect(ids(u.canvas)).toEqual(['op-1', 'op-2', 'op-4']);
    const r = redo(u.canvas, 'carol');
    expect(r.event.data).toEqual({ userId: 'carol', opId: 'op-3', kind: 'clear' });
    expect(ids(r.canvas)).toEqual([]);
  });

  it('keeps the last MAX_HISTORY entries undoable and folds older ones into the base layer', () => {
    let c = createCanvas();
    for (let i = 0; i < MAX_HISTORY + 10; i++) c = draw(c, 'alice', pen(i % 100, 1), i).canvas;
    expect(c.history).toHaveLength(MAX_HISTORY);
    expect(c.base).toHaveLength(10);
    expect(visibleOps(c)).toHaveLength(MAX_HISTORY + 10);
    for (let i = 0; i < MAX_HISTORY; i++) c = undo(c, 'alice').canvas;
    expect(ids(c)).toEqual(Array.from({ length: 10 }, (_, i) => `op-${i + 1}`));
    expect(roomError(() => undo(c, 'alice')).details?.issue).toBe('nothing_to_undo');
  });

  it('a clear folded into the base layer wipes the base; the base is capped at MAX_BASE_OPS', () => {
    let c = createCanvas();
    c = draw(c, 'a', pen(), 0).canvas;
    c = clear(c, 'a', 1).canvas;
    for (let i = 0; i < MAX_HISTORY; i++) c = draw(c, 'a', pen(), 2 + i).canvas;
    expect(c.base).toEqual([]);
    expect(c.history[0]?.kind).toBe('op');
    // a base over the cap keeps its newest strokes
    const big: CanvasState = {
      ...createCanvas(),
      base: [],
      history: Array.from({ length: MAX_HISTORY }, (_, i) => ({
        kind: 'op' as const,
        id: `op-${i + 1}`,
        userId: 'a',
        timestamp: i,
        op: { id: `op-${i + 1}`, ...pen(), userId: 'a', timestamp: i },
      })),
      nextId: MAX_HISTORY + 1,
    };
    big.base = Array.from({ length: MAX_BASE_OPS }, (_, i) => ({ id: `b-${i}`, ...pen(), userId: 'a', timestamp: 0 }));
    const next = draw(big, 'a', pen(), 999).canvas;
    expect(next.base).toHaveLength(MAX_BASE_OPS);
    expect(next.base.at(-1)?.id).toBe('op-1');
    expect(next.base[0]?.id).toBe('b-1');
  });

  it('state survives a JSON round trip and never mutates its input', () => {
    let c = createCanvas();
    c = draw(c, 'alice', pen(), 1).canvas;
    c = clear(c, 'bob', 2).canvas;
    c = undo(c, 'bob').canvas;
    const frozen = JSON.stringify(c);
    const copy: CanvasState = JSON.parse(frozen);
    expect(copy).toEqual(c);
    redo(copy, 'bob');
    draw(copy, 'alice', pen(), 3);
    expect(JSON.stringify(copy)).toBe(frozen);
    expect(ids(redo(copy, 'bob').canvas)).toEqual([]);
  });
});

describe('pen batching', () => {
  it('merges consecutive pen points from one user within the debounce window into one op', () => {
    let canvas = createCanvas();
    let buffer: StrokeBuffer = {};
    const a = bufferStroke(canvas, buffer, 'alice', pen(1, 1), 1000);
    expect(a).toMatchObject({ id: 'op-1', merged: false, events: [] });
    const b = bufferStroke(a.canvas, a.buffer, 'alice', pen(2, 2), 1000 + DRAW_DEBOUNCE_MS - 1);
    expect(b).toMatchObject({ id: 'op-1', merged: true, events: [] });
    ({ canvas, buffer } = b);
    expect(visibleOps(canvas)).toEqual([]);
    expect(nextStrokeDue(buffer)).toBe(1000 + 2 * DRAW_DEBOUNCE_MS - 1);
    // not due yet
    expect(flushStrokes(canvas, buffer, 1000 + DRAW_DEBOUNCE_MS).events).toEqual([]);
    const f = flushStrokes(canvas, buffer, 1000 + 2 * DRAW_DEBOUNCE_MS);
    expect(f.events).toHaveLength(1);
    expect(f.events[0]?.data.op).toMatchObject({
      id: 'op-1',
      userId: 'alice',
      points: [
        { x: 1, y: 1 },
        { x: 2, y: 2 },
      ],
    });
    expect(f.buffer).toEqual({});
    expect(nextStrokeDue(f.buffer)).toBeNull();
    expect(ids(f.canvas)).toEqual(['op-1']);
  });

  it('starts a new op after the window, on a colour change, another strokeId, or the point cap', () => {
    const s = bufferStroke(createCanvas(), {}, 'alice', pen(1, 1), 0);
    const late = bufferStroke(s.canvas, s.buffer, 'alice', pen(2, 2), DRAW_DEBOUNCE_MS);
    expect(late.merged).toBe(false);
    expect(late.events.map((e) => e.data.op.id)).toEqual(['op-1']);
    expect(late.id).toBe('op-2');
    expect(bufferStroke(s.canvas, s.buffer, 'alice', pen(2, 2, { color: '#000' }), 1).merged).toBe(false);
    expect(bufferStroke(s.canvas, s.buffer, 'alice', pen(2, 2), 1, 'other').merged).toBe(false);
    const full = bufferStroke(createCanvas(), {}, 'alice', pen(0, 0, { points: Array(MAX_POINTS).fill({ x: 1, y: 1 }) }), 0);
    expect(bufferStroke(full.canvas, full.buffer, 'alice', pen(), 1).merged).toBe(false);
  });

  it('flushes a continuously growing stroke after the max wait, and keeps users apart', () => {
    let r = bufferStroke(createCanvas(), {}, 'alice', pen(0, 0), 0);
    for (let t = 10; t < DRAW_MAX_WAIT_MS; t += 10) {
      r = bufferStroke(r.canvas, r.buffer, 'alice', pen(t % 100, 0), t);
      expect(r.merged).toBe(true);
    }
    const bob = bufferStroke(r.canvas, r.buffer, 'bob', pen(5, 5), DRAW_MAX_WAIT_MS - 5);
    expect(bob.merged).toBe(false);
    expect(nextStrokeDue(bob.buffer)).toBe(DRAW_MAX_WAIT_MS);
    const f = flushStrokes(bob.canvas, bob.buffer, DRAW_MAX_WAIT_MS);
    expect(f.events.map((e) => e.data.op.userId)).toEqual(['alice']);
    expect(Object.keys(f.buffer)).toEqual(['bob']);
    const forced = flushStrokes(f.canvas, f.buffer, DRAW_MAX_WAIT_MS, { force: true });
    expect(ids(forced.canvas)).toEqual(['op-1', 'op-2']);
  });

  it('rejects bad points before buffering and refuses to batch non-pen ops', () => {
    expect(roomError(() => bufferStroke(createCanvas(), {}, 'alice', pen(0, 0, { size: 0 }), 0)).details?.issue).toBe(
      'invalid_size',
    );
    const erase: StrokeInput = { type: 'erase', tool: 'eraser', points: [{ x: 1, y: 1 }], color: '#fff', size: 5 };
    expect(roomError(() => bufferStroke(createCanvas(), {}, 'alice', erase, 0)).details?.issue).toBe('not_batchable');
  });
});
