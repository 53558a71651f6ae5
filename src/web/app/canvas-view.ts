import type { CanvasOp, Point, Tool } from './model';
import { userColor } from './model';

/**
 * The shared canvas in the browser: paints the room's ops, turns pointer input into the seed's canvas requests
 * and shows everyone else's cursor. Coordinates on the wire are canvas units (WIDTH x HEIGHT), whatever size the
 * board has on screen.
 *
 * Pen strokes are sent in pieces at most every PIECE_MS (and at pointer-up): the room allows 100 requests a
 * minute per connection, so a stroke costs one request per second of drawing, not one per mouse move. Until the
 * server's `draw` event for a piece arrives, the piece is painted from local memory, so drawing never lags.
 */

export const WIDTH = 1200;
export const HEIGHT = 800;
const PIECE_MS = 1000;
const MAX_PIECE_POINTS = 1000;
const CURSOR_MS = 50;
/** Points closer than this (canvas units) to the previous one add nothing visible. */
const MIN_STEP = 1.5;

export interface Brush {
  tool: Tool;
  color: string;
  size: number;
}

export interface StrokePiece {
  tool: 'pen' | 'eraser';
  points: Point[];
  color: string;
  size: number;
  strokeId: string;
}

export interface ShapeInput {
  tool: 'rectangle' | 'circle';
  points: [Point, Point];
  color: string;
  size: number;
}

export interface CanvasViewHooks {
  brush(): Brush;
  /** Sends a piece; resolves with the op id the server gave it (or rejects). */
  sendPiece(piece: StrokePiece): Promise<string>;
  sendShape(shape: ShapeInput): Promise<string>;
  cursor(p: Point): void;
  /** The user started drawing (for the presence activity). */
  drawing(): void;
}

/** Local ops not confirmed by a `draw` event yet; `id` once the server answered. */
interface LocalOp {
  id: string | null;
  op: Omit<CanvasOp, 'id' | 'userId' | 'timestamp'>;
}

export function paintOp(ctx: CanvasRenderingContext2D, op: Pick<CanvasOp, 'tool' | 'points' | 'color' | 'size'>): void {
  const [a, b] = op.points;
  if (!a) return;
  ctx.strokeStyle = op.color;
  ctx.fillStyle = op.color;
  ctx.lineWidth = op.size;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  if (op.tool === 'rectangle' && b) {
    ctx.rect(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(b.x - a.x), Math.abs(b.y - a.y));
    ctx.stroke();
  } else if (op.tool === 'circle' && b) {
    ctx.arc(a.x, a.y, Math.hypot(b.x - a.x, b.y - a.y), 0, Math.PI * 2);
    ctx.stroke();
  } else if (op.points.length === 1) {
    ctx.arc(a.x, a.y, op.size / 2, 0, Math.PI * 2);
    ctx.fill();
  } else {
    ctx.moveTo(a.x, a.y);
    for (const p of op.points.slice(1)) ctx.lineTo(p.x, p.y);
    ctx.stroke();
  }
}

export class CanvasView {
  readonly #canvas: HTMLCanvasElement;
  readonly #preview: HTMLCanvasElement;
  readonly #cursorLayer: HTMLElement;
  readonly #hooks: CanvasViewHooks;
  #ops: CanvasOp[] = [];
  #local: LocalOp[] = [];
  #frame = 0;
  /** The stroke or shape being drawn. */
  #active: { brush: Brush; points: Point[]; sent: number; strokeId: string; lastSend: number } | null = null;
  #lastCursor = 0;
  #cursorEls = new Map<string, HTMLElement>();

  constructor(canvas: HTMLCanvasElement, preview: HTMLCanvasElement, cursorLayer: HTMLElement, hooks: CanvasViewHooks) {
    this.#canvas = canvas;
    this.#preview = preview;
    this.#cursorLayer = cursorLayer;
    this.#hooks = hooks;
    for (const c of [canvas, preview]) {
      c.width = WIDTH;
      c.height = HEIGHT;
    }
    preview.addEventListener('pointerdown', (e) => this.#down(e));
    preview.addEventListener('pointermove', (e) => this.#move(e));
    preview.addEventListener('pointerup', (e) => this.#up(e));
    preview.addEventListener('pointercancel', (e) => this.#up(e));
  }

  /** New ops from the room model; local pieces the server has now confirmed are dropped. */
  setOps(ops: CanvasOp[]): void {
    this.#ops = ops;
    const ids = new Set(ops.map((o) => o.id));
    this.#local = this.#local.filter((l) => l.id === null || !ids.has(l.id));
    this.#schedule();
  }

  setCursors(cursors: Map<string, Point>, names: Map<string, string>, selfId: string | null): void {
    for (const [userId, el] of this.#cursorEls) {
      if (!cursors.has(userId) || userId === selfId) {
        el.remove();
        this.#cursorEls.delete(userId);
      }
    }
    for (const [userId, p] of cursors) {
      if (userId === selfId) continue;
      let el = this.#cursorEls.get(userId);
      if (!el) {
        el = document.createElement('div');
        el.className = 'cursor';
        el.style.setProperty('--c', userColor(userId));
        el.append(document.createElement('span'));
        this.#cursorLayer.append(el);
        this.#cursorEls.set(userId, el);
      }
      el.dataset.userId = userId;
      (el.firstChild as HTMLElement).textContent = names.get(userId) ?? userId;
      el.style.left = `${(p.x / WIDTH) * 100}%`;
      el.style.top = `${(p.y / HEIGHT) * 100}%`;
    }
  }

  #schedule(): void {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#paint();
    });
  }

  #paint(): void {
    const ctx = this.#canvas.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    for (const op of this.#ops) paintOp(ctx, op);
    for (const l of this.#local) paintOp(ctx, l.op);
  }

  #paintPreview(): void {
    const ctx = this.#preview.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    const a = this.#active;
    if (!a || a.points.length === 0) return;
    const b = a.brush;
    if (b.tool === 'rectangle' || b.tool === 'circle') {
      const first = a.points[0] as Point;
      const last = a.points.at(-1) as Point;
      paintOp(ctx, { tool: b.tool, points: [first, last], color: b.color, size: b.size });
    } else {
      // Only the part not sent yet: sent pieces are painted on the main canvas as local ops.
      const from = Math.max(0, a.sent - 1);
      paintOp(ctx, {
        tool: b.tool,
        points: a.points.slice(from),
        color: b.tool === 'eraser' ? '#ffffff' : b.color,
        size: b.size,
      });
    }
  }

  #point(e: PointerEvent): Point {
    const r = this.#preview.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * WIDTH;
    const y = ((e.clientY - r.top) / r.height) * HEIGHT;
    return {
      x: Math.round(Math.min(Math.max(x, 0), WIDTH) * 10) / 10,
      y: Math.round(Math.min(Math.max(y, 0), HEIGHT) * 10) / 10,
    };
  }

  #down(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.#preview.setPointerCapture(e.pointerId);
    const brush = this.#hooks.brush();
    const strokeId = `s${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
    this.#active = { brush, points: [this.#point(e)], sent: 0, strokeId, lastSend: performance.now() };
    this.#hooks.drawing();
    this.#paintPreview();
  }

  #move(e: PointerEvent): void {
    const p = this.#point(e);
    const now = performance.now();
    if (now - this.#lastCursor >= CURSOR_MS) {
      this.#lastCursor = now;
      this.#hooks.cursor(p);
    }
    const a = this.#active;
    if (!a) return;
    if (a.brush.tool === 'rectangle' || a.brush.tool === 'circle') {
      a.points = [a.points[0] as Point, p];
    } else {
      const last = a.points.at(-1) as Point;
      if (Math.hypot(p.x - last.x, p.y - last.y) < MIN_STEP) return;
      a.points.push(p);
      if (now - a.lastSend >= PIECE_MS || a.points.length - a.sent >= MAX_PIECE_POINTS) this.#sendPiece();
    }
    this.#paintPreview();
  }

  #up(e: PointerEvent): void {
    const a = this.#active;
    if (!a) return;
    if (this.#preview.hasPointerCapture(e.pointerId)) this.#preview.releasePointerCapture(e.pointerId);
    if (a.brush.tool === 'rectangle' || a.brush.tool === 'circle') {
      const first = a.points[0] as Point;
      const last = a.points.at(-1) as Point;
      if (first.x !== last.x || first.y !== last.y) {
        const shape: ShapeInput = { tool: a.brush.tool, points: [first, last], color: a.brush.color, size: a.brush.size };
        this.#track({ tool: shape.tool, type: 'shape', points: shape.points, color: shape.color, size: shape.size }, () =>
          this.#hooks.sendShape(shape),
        );
      }
    } else {
      this.#sendPiece();
    }
    this.#active = null;
    this.#paintPreview();
  }

  /** Sends the points not sent yet, starting from the last sent one so the pieces join up. */
  #sendPiece(): void {
    const a = this.#active;
    if (!a || (a.brush.tool !== 'pen' && a.brush.tool !== 'eraser')) return;
    const from = Math.max(0, a.sent - 1);
    if (a.points.length <= a.sent) return;
    const points = a.points.slice(from);
    a.sent = a.points.length;
    a.lastSend = performance.now();
    const color = a.brush.tool === 'eraser' ? '#ffffff' : a.brush.color;
    const piece: StrokePiece = { tool: a.brush.tool, points, color, size: a.brush.size, strokeId: a.strokeId };
    const type = a.brush.tool === 'eraser' ? 'erase' : 'draw';
    this.#track({ tool: piece.tool, type, points, color, size: piece.size }, () => this.#hooks.sendPiece(piece));
  }

  #track(op: LocalOp['op'], send: () => Promise<string>): void {
    const local: LocalOp = { id: null, op };
    this.#local.push(local);
    this.#schedule();
    send().then(
      (id) => {
        local.id = id;
        // The event may have come before the answer (shapes are applied at once).
        if (this.#ops.some((o) => o.id === id)) this.#local = this.#local.filter((l) => l !== local);
        this.#schedule();
      },
      () => {
        this.#local = this.#local.filter((l) => l !== local);
        this.#schedule();
      },
    );
  }
}
