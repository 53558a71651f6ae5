/**
 * A player's crafting queue and materials (seed 002's `QueueStatusData`), pure: the CraftingQueue actor keeps one
 * `QueueState` per player and runs these functions over it. Sessions start in queue order while fewer than
 * `maxRunning` run and the player holds their inputs; an entry whose inputs are missing waits (`waiting_materials`)
 * without blocking the entries behind it, and starts as soon as a material change covers it.
 */

import { ApiError } from '../errors';
import {
  changeMaterials,
  inputsFor,
  isEmpty,
  type Materials,
  missingMaterials,
  recipeById,
  STARTER_KIT,
  totalDurationMs,
  validateOrder,
} from './crafting';

/** At most this many sessions of one player run at once (the seed's "at most N running"). */
export const DEFAULT_MAX_RUNNING = 2;
/** At most this many sessions wait or run in one player's queue. */
export const MAX_QUEUE_LENGTH = 20;

export type EntryStatus = 'waiting' | 'waiting_materials' | 'running' | 'paused';

export interface QueueEntry {
  sessionId: string;
  recipeId: string;
  quantity: number;
  status: EntryStatus;
  enqueuedAt: number;
  startedAt: number | null;
  /** Reported by the session while it runs: how much crafting time is left (frozen while paused). */
  remainingMs: number;
  /** When `remainingMs` was reported. */
  reportedAt: number;
  /** What the player lacks for this entry while it waits for materials. */
  missing: Materials;
}

export interface QueueState {
  playerId: string;
  maxRunning: number;
  entries: QueueEntry[];
  materials: Materials;
  /** Bumped on every material change: the materials' version (`material_update` events carry it). */
  materialsVersion: number;
}

/** A player's queue the first time it is used: empty, with the starter kit. */
export function createQueue(playerId: string, maxRunning = DEFAULT_MAX_RUNNING): QueueState {
  return { playerId, maxRunning, entries: [], materials: { ...STARTER_KIT }, materialsVersion: 1 };
}

export function enqueue(
  state: QueueState,
  order: { sessionId: string; recipeId: string; quantity: number },
  now: number,
): QueueState {
  const recipe = validateOrder(order.recipeId, order.quantity);
  if (state.entries.length >= MAX_QUEUE_LENGTH) {
    throw new ApiError('CONFLICT', `At most ${MAX_QUEUE_LENGTH} sessions in a queue`, {
      details: { issue: 'queue_full', max: MAX_QUEUE_LENGTH },
    });
  }
  if (state.entries.some((e) => e.sessionId === order.sessionId)) return state;
  const entry: QueueEntry = {
    sessionId: order.sessionId,
    recipeId: order.recipeId,
    quantity: order.quantity,
    status: 'waiting',
    enqueuedAt: now,
    startedAt: null,
    remainingMs: totalDurationMs(recipe, order.quantity),
    reportedAt: now,
    missing: {},
  };
  return { ...state, entries: [...state.entries, entry] };
}

export interface Admitted {
  state: QueueState;
  /** Sessions to start now, with what was taken from the player for each. */
  started: Array<{ sessionId: string; consumed: Materials }>;
  /** Entries that newly wait for materials. */
  blocked: Array<{ sessionId: string; missing: Materials }>;
}

/** Starts what may start: in order, while a slot is free, taking each entry's inputs from the player. */
export function admit(state: QueueState, now: number): Admitted {
  let materials = state.materials;
  let running = state.entries.filter((e) => e.status === 'running' || e.status === 'paused').length;
  const started: Admitted['started'] = [];
  const blocked: Admitted['blocked'] = [];
  const entries = state.entries.map((e) => {
    if (e.status !== 'waiting' && e.status !== 'waiting_materials') return e;
    if (running >= state.maxRunning) return e;
    const recipe = recipeById(e.recipeId);
    if (!recipe) return e;
    const need = inputsFor(recipe, e.quantity);
    const missing = missingMaterials(materials, need);
    if (!isEmpty(missing)) {
      if (e.status !== 'waiting_materials' || JSON.stringify(missing) !== JSON.stringify(e.missing))
        blocked.push({ sessionId: e.sessionId, missing });
      return { ...e, status: 'waiting_materials' as const, missing };
    }
    materials = changeMaterials(materials, negate(need));
    running += 1;
    started.push({ sessionId: e.sessionId, consumed: need });
    return { ...e, status: 'running' as const, startedAt: now, reportedAt: now, missing: {} };
  });
  if (started.length === 0 && blocked.length === 0) return { state, started, blocked };
  const changed = materials !== state.materials;
  return {
    state: { ...state, entries, materials, materialsVersion: state.materialsVersion + (changed ? 1 : 0) },
    started,
    blocked,
  };
}

/** A session reported its state: running (with time left) or paused. */
export function report(
  state: QueueState,
  sessionId: string,
  status: 'running' | 'paused',
  remainingMs: number,
  now: number,
): QueueState {
  if (!state.entries.some((e) => e.sessionId === sessionId)) return state;
  return {
    ...state,
    entries: state.entries.map((e) => (e.sessionId === sessionId ? { ...e, status, remainingMs, reportedAt: now } : e)),
  };
}

/**
 * A session left the queue: completed (its output is added to the player's materials), cancelled or failed
 * (its refund is added back). An entry that never started simply leaves: nothing was taken for it.
 */
export function finish(state: QueueState, sessionId: string, gained: Materials): QueueState {
  if (!state.entries.some((e) => e.sessionId === sessionId)) return state;
  const entries = state.entries.filter((e) => e.sessionId !== sessionId);
  if (isEmpty(gained)) return { ...state, entries };
  return { ...state, entries, materials: changeMaterials(state.materials, gained), materialsVersion: state.materialsVersion + 1 };
}

/** A grant or take (service and admin tokens); refuses the whole change if any part is invalid. */
export function adjustMaterials(state: QueueState, delta: Materials): QueueState {
  return { ...state, materials: changeMaterials(state.materials, delta), materialsVersion: state.materialsVersion + 1 };
}

/** The seed's `QueueStatusData` for one entry. */
export interface QueueStatusData {
  sessionId: string;
  recipeId: string;
  quantity: number;
  status: EntryStatus;
  /** 1-based place in the queue (running entries first, in the order they were queued). */
  position: number;
  estimatedStart: string | null;
  estimatedFinish: string | null;
  missing: Materials;
}

/**
 * Positions and estimates at `now`: running entries finish when their reported time is up (a paused one is
 * assumed to resume now); each waiting entry takes the earliest free slot. An entry waiting for materials has
 * no estimate, and does not hold a slot in the simulation.
 */
export function queueStatus(state: QueueState, now: number): QueueStatusData[] {
  const iso = (t: number) => new Date(t).toISOString();
  const active = state.entries.filter((e) => e.status === 'running' || e.status === 'paused');
  const rest = state.entries.filter((e) => e.status === 'waiting' || e.status === 'waiting_materials');
  const slots: number[] = [];
  const out: QueueStatusData[] = [];
  for (const e of active) {
    const left = e.status === 'running' ? Math.max(0, e.remainingMs - (now - e.reportedAt)) : e.remainingMs;
    const finishAt = now + left;
    slots.push(finishAt);
    out.push({
      sessionId: e.sessionId,
      recipeId: e.recipeId,
      quantity: e.quantity,
      status: e.status,
      position: out.length + 1,
      estimatedStart: iso(e.startedAt ?? now),
      estimatedFinish: iso(finishAt),
      missing: {},
    });
  }
  while (slots.length < state.maxRunning) slots.push(now);
  for (const e of rest) {
    let start: number | null = null;
    let finishAt: number | null = null;
    if (e.status === 'waiting') {
      slots.sort((a, b) => a - b);
      start = Math.max(now, slots[0] as number);
      finishAt = start + e.remainingMs;
      slots[0] = finishAt;
    }
    out.push({
      sessionId: e.sessionId,
      recipeId: e.recipeId,
      quantity: e.quantity,
      status: e.status,
      position: out.length + 1,
      estimatedStart: start === null ? null : iso(start),
      estimatedFinish: finishAt === null ? null : iso(finishAt),
      missing: e.missing,
    });
  }
  return out;
}

const negate = (m: Materials): Materials => Object.fromEntries(Object.entries(m).map(([id, n]) => [id, -n]));

export const runningCount = (state: QueueState): number =>
  state.entries.filter((e) => e.status === 'running' || e.status === 'paused').length;
