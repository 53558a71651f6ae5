/**
 * Crafting (seed 002) as plain data and pure functions: a recipe catalogue, a player's materials and one crafting
 * session's life as a reducer over (state, command, now). The Crafting actor is a thin shell around `reduce`:
 *
 *   const r = reduce(session, command, Date.now());   // throws ApiError on a command the state refuses
 *   persist(r.session); publish(r.events); schedule(nextDeadline(r.session));
 *
 * Time is always passed in: stages advance when the actor's alarm calls `reduce(s, {type:'tick'}, now)`, never by a
 * client's clock. Nothing is mutated and a throw changes nothing.
 */

import { ApiError } from '../errors';

/** A bag of materials by id. Quantities are whole, non-negative numbers. */
export type Materials = Record<string, number>;

/**
 * Every material and crafted item, in a fixed order: the index is the material's number on the binary wire
 * (`UdpMaterialUpdate`), so new ids are only ever appended.
 */
export const MATERIAL_IDS = [
  'iron_ore',
  'wood',
  'leather',
  'herb',
  'water',
  'crystal',
  'iron_ingot',
  'plank',
  'health_potion',
  'iron_sword',
  'leather_armor',
  'mana_crystal',
] as const;
export type MaterialId = (typeof MATERIAL_IDS)[number];
export const isMaterialId = (v: string): v is MaterialId => (MATERIAL_IDS as readonly string[]).includes(v);

/** What a player who has never crafted starts with: enough for every basic recipe at once. */
export const STARTER_KIT: Readonly<Materials> = Object.freeze({
  iron_ore: 10,
  wood: 10,
  leather: 6,
  herb: 6,
  water: 6,
  crystal: 2,
});

/** Largest quantity of one material a player may hold (keeps sums exact and the wire's varints short). */
export const MAX_MATERIAL_QUANTITY = 1_000_000;

export interface Stage {
  name: string;
  /** Duration for quantity 1; a session of quantity q spends q times as long in each stage. */
  durationMs: number;
}

export interface Recipe {
  id: string;
  name: string;
  /** Consumed for quantity 1 when the session starts. */
  inputs: Readonly<Materials>;
  output: { itemId: MaterialId; quantity: number };
  stages: readonly Stage[];
}

export const MAX_QUANTITY = 10;

export const RECIPES: readonly Recipe[] = [
  {
    id: 'iron_ingot',
    name: 'Iron ingot',
    inputs: { iron_ore: 2 },
    output: { itemId: 'iron_ingot', quantity: 1 },
    stages: [
      { name: 'smelting', durationMs: 4_000 },
      { name: 'cooling', durationMs: 2_000 },
    ],
  },
  {
    id: 'plank',
    name: 'Wooden plank',
    inputs: { wood: 1 },
    output: { itemId: 'plank', quantity: 2 },
    stages: [{ name: 'sawing', durationMs: 3_000 }],
  },
  {
    id: 'health_potion',
    name: 'Health potion',
    inputs: { herb: 2, water: 1 },
    output: { itemId: 'health_potion', quantity: 1 },
    stages: [
      { name: 'brewing', durationMs: 5_000 },
      { name: 'bottling', durationMs: 1_000 },
    ],
  },
  {
    id: 'leather_armor',
    name: 'Leather armor',
    inputs: { leather: 4 },
    output: { itemId: 'leather_armor', quantity: 1 },
    stages: [
      { name: 'cutting', durationMs: 4_000 },
      { name: 'stitching', durationMs: 6_000 },
    ],
  },
  {
    id: 'iron_sword',
    name: 'Iron sword',
    inputs: { iron_ingot: 2, plank: 1, leather: 1 },
    output: { itemId: 'iron_sword', quantity: 1 },
    stages: [
      { name: 'forging', durationMs: 8_000 },
      { name: 'tempering', durationMs: 4_000 },
      { name: 'assembly', durationMs: 3_000 },
    ],
  },
  {
    id: 'mana_crystal',
    name: 'Mana crystal',
    inputs: { crystal: 1, water: 2 },
    output: { itemId: 'mana_crystal', quantity: 1 },
    stages: [
      { name: 'attuning', durationMs: 6_000 },
      { name: 'charging', durationMs: 6_000 },
    ],
  },
];

export function recipeById(id: string): Recipe | undefined {
  return RECIPES.find((r) => r.id === id);
}

/** A recipe's total duration for `quantity`. */
export const totalDurationMs = (recipe: Recipe, quantity: number): number =>
  recipe.stages.reduce((sum, s) => sum + s.durationMs * quantity, 0);

// ---- materials ----------------------------------------------------------------------------------------------

/** `materials` times `factor`, rounded down per material (used for inputs × quantity and for refunds). */
export function scaleMaterials(materials: Readonly<Materials>, factor: number): Materials {
  const out: Materials = {};
  for (const [id, n] of Object.entries(materials)) {
    const v = Math.floor(n * factor);
    if (v > 0) out[id] = v;
  }
  return out;
}

/** What `have` lacks to cover `need` (empty when it covers it). */
export function missingMaterials(have: Readonly<Materials>, need: Readonly<Materials>): Materials {
  const out: Materials = {};
  for (const [id, n] of Object.entries(need)) {
    const short = n - (have[id] ?? 0);
    if (short > 0) out[id] = short;
  }
  return out;
}

export const isEmpty = (m: Readonly<Materials>): boolean => Object.keys(m).length === 0;

/** `have` plus `delta` (negative entries take). Refuses unknown ids, results below zero and above the cap. */
export function changeMaterials(have: Readonly<Materials>, delta: Readonly<Materials>): Materials {
  const out: Materials = { ...have };
  for (const [id, n] of Object.entries(delta)) {
    if (!isMaterialId(id)) {
      throw new ApiError('INVALID_REQUEST', `Unknown material "${id.slice(0, 64)}"`, {
        details: { field: `materials.${id.slice(0, 64)}`, issue: 'unknown_material', known: MATERIAL_IDS },
      });
    }
    if (!Number.isSafeInteger(n)) {
      throw new ApiError('INVALID_REQUEST', `Quantity of ${id} must be an integer`, {
        details: { field: `materials.${id}`, issue: 'not_integer' },
      });
    }
    const next = (out[id] ?? 0) + n;
    if (next < 0) {
      throw new ApiError('CONFLICT', `Not enough ${id}: ${out[id] ?? 0} held, ${-n} to take`, {
        details: { field: `materials.${id}`, issue: 'insufficient_materials', held: out[id] ?? 0 },
      });
    }
    if (next > MAX_MATERIAL_QUANTITY) {
      throw new ApiError('INVALID_REQUEST', `At most ${MAX_MATERIAL_QUANTITY} of ${id}`, {
        details: { field: `materials.${id}`, issue: 'too_many', max: MAX_MATERIAL_QUANTITY },
      });
    }
    if (next === 0) delete out[id];
    else out[id] = next;
  }
  return out;
}

/** The ids whose quantity differs between two bags. */
export function changedMaterialIds(before: Readonly<Materials>, after: Readonly<Materials>): string[] {
  const ids = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...ids].filter((id) => (before[id] ?? 0) !== (after[id] ?? 0)).sort();
}

// ---- sessions -----------------------------------------------------------------------------------------------

export const SESSION_STATUSES = ['queued', 'running', 'paused', 'completed', 'cancelled', 'failed'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const isFinished = (s: SessionStatus): boolean => s === 'completed' || s === 'cancelled' || s === 'failed';

export type QualityTier = 'crude' | 'standard' | 'fine' | 'masterwork';

export interface CraftingSession {
  id: string;
  playerId: string;
  recipeId: string;
  quantity: number;
  status: SessionStatus;
  /** Index of the stage in progress; equals the stage count once completed. */
  stageIndex: number;
  /** Time spent in the current stage up to `runningSince` (or in total while paused). */
  stageElapsedMs: number;
  /** When the session last started or resumed; null unless running. */
  runningSince: number | null;
  createdAt: number;
  startedAt: number | null;
  pausedAt: number | null;
  finishedAt: number | null;
  pauses: number;
  /** Materials taken from the player when the session started. */
  consumed: Materials;
  /** Materials handed back on cancel or failure (see `refundFor`). */
  returned: Materials;
  output: { itemId: string; quantity: number } | null;
  /** 0..100, set on completion. */
  quality: number | null;
  qualityTier: QualityTier | null;
  failureReason: string | null;
}

/** A paused session is abandoned (fails, with the cancel refund) after this long. */
export const MAX_PAUSE_MS = 60 * 60_000;

export type CraftingCommand =
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'cancel' }
  | { type: 'fail'; reason: string }
  | { type: 'tick' };

export type CraftingEventType =
  | 'session_started'
  | 'stage_changed'
  | 'session_paused'
  | 'session_resumed'
  | 'session_completed'
  | 'session_cancelled'
  | 'session_failed';

export interface CraftingEvent {
  type: CraftingEventType;
  data: Record<string, unknown>;
}

export interface Reduced {
  session: CraftingSession;
  events: CraftingEvent[];
}

/** A new session, waiting in its player's queue. Refuses unknown recipes and quantities outside 1..MAX_QUANTITY. */
export function createSession(
  input: { id: string; playerId: string; recipeId: string; quantity: number },
  now: number,
): CraftingSession {
  validateOrder(input.recipeId, input.quantity);
  return {
    id: input.id,
    playerId: input.playerId,
    recipeId: input.recipeId,
    quantity: input.quantity,
    status: 'queued',
    stageIndex: 0,
    stageElapsedMs: 0,
    runningSince: null,
    createdAt: now,
    startedAt: null,
    pausedAt: null,
    finishedAt: null,
    pauses: 0,
    consumed: {},
    returned: {},
    output: null,
    quality: null,
    qualityTier: null,
    failureReason: null,
  };
}

export function validateOrder(recipeId: string, quantity: number): Recipe {
  const recipe = recipeById(recipeId);
  if (!recipe) {
    throw new ApiError('INVALID_REQUEST', `Unknown recipe "${String(recipeId).slice(0, 64)}"`, {
      details: { field: 'recipeId', issue: 'unknown_recipe' },
    });
  }
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    throw new ApiError('INVALID_REQUEST', `quantity must be an integer from 1 to ${MAX_QUANTITY}`, {
      details: { field: 'quantity', issue: 'out_of_range', min: 1, max: MAX_QUANTITY },
    });
  }
  return recipe;
}

/** What a session of `recipe` × `quantity` consumes when it starts. */
export const inputsFor = (recipe: Recipe, quantity: number): Materials => scaleMaterials(recipe.inputs, quantity);

const recipeOf = (s: CraftingSession): Recipe => {
  const r = recipeById(s.recipeId);
  if (!r) throw new ApiError('SERVER_ERROR', `Session ${s.id} names an unknown recipe`);
  return r;
};

const stageDuration = (recipe: Recipe, s: CraftingSession, index: number): number =>
  (recipe.stages[index]?.durationMs ?? 0) * s.quantity;

/** Time spent in the current stage at `now`. */
const elapsedInStage = (s: CraftingSession, now: number): number =>
  s.stageElapsedMs + (s.status === 'running' && s.runningSince !== null ? Math.max(0, now - s.runningSince) : 0);

/** The cancel and failure refund rule: everything back before the first stage is done, half after, nothing once complete. */
export function refundFor(s: CraftingSession): Materials {
  if (s.status === 'completed') return {};
  if (s.stageIndex === 0) return { ...s.consumed };
  return scaleMaterials(s.consumed, 0.5);
}

/**
 * Quality 0..100: a deterministic base from the session id (so a replay gives the same result) in 55..95, minus 5
 * per pause (an interrupted craft is worse), plus 1 per extra unit of quantity (batch work is steadier), capped.
 */
export function qualityOf(s: CraftingSession): { quality: number; tier: QualityTier } {
  let h = 2166136261;
  for (let i = 0; i < s.id.length; i++) h = Math.imul(h ^ s.id.charCodeAt(i), 16777619) >>> 0;
  const base = 55 + (h % 41);
  const quality = Math.max(0, Math.min(100, base - 5 * s.pauses + (s.quantity - 1)));
  const tier: QualityTier = quality >= 90 ? 'masterwork' : quality >= 75 ? 'fine' : quality >= 50 ? 'standard' : 'crude';
  return { quality, tier };
}

function refuse(s: CraftingSession, command: string): never {
  throw new ApiError('CONFLICT', `Cannot ${command} a session that is ${s.status}`, {
    details: { issue: 'invalid_transition', status: s.status, command },
  });
}

/** Applies one command at `now`. Every command first advances time (a late tick changes nothing it should not). */
export function reduce(session: CraftingSession, command: CraftingCommand, now: number): Reduced {
  const advanced = advance(session, now);
  const s = advanced.session;
  const events = [...advanced.events];
  switch (command.type) {
    case 'tick':
      return advanced;
    case 'start': {
      if (s.status !== 'queued') refuse(s, 'start');
      const recipe = recipeOf(s);
      const next: CraftingSession = {
        ...s,
        status: 'running',
        startedAt: now,
        runningSince: now,
        consumed: inputsFor(recipe, s.quantity),
      };
      events.push({ type: 'session_started', data: { consumed: next.consumed, stageName: recipe.stages[0]?.name } });
      return { session: next, events };
    }
    case 'pause': {
      if (s.status !== 'running') refuse(s, 'pause');
      const next: CraftingSession = {
        ...s,
        status: 'paused',
        stageElapsedMs: elapsedInStage(s, now),
        runningSince: null,
        pausedAt: now,
        pauses: s.pauses + 1,
      };
      events.push({ type: 'session_paused', data: { pauses: next.pauses } });
      return { session: next, events };
    }
    case 'resume': {
      if (s.status !== 'paused') refuse(s, 'resume');
      const next: CraftingSession = { ...s, status: 'running', runningSince: now, pausedAt: null };
      events.push({ type: 'session_resumed', data: { pausedMs: now - (s.pausedAt ?? now) } });
      return { session: next, events };
    }
    case 'cancel':
    case 'fail': {
      if (isFinished(s.status)) refuse(s, command.type);
      const ended = end(s, command.type === 'cancel' ? null : command.reason, now);
      return { session: ended.session, events: [...events, ...ended.events] };
    }
  }
}

/** Cancels (reason null) or fails a session at `now`, with the refund rule applied to what it consumed. */
function end(s: CraftingSession, reason: string | null, now: number): Reduced {
  const frozen: CraftingSession = { ...s, stageElapsedMs: elapsedInStage(s, now), runningSince: null };
  const returned = refundFor(frozen);
  const status = reason === null ? 'cancelled' : 'failed';
  const session: CraftingSession = { ...frozen, status, finishedAt: now, pausedAt: null, returned, failureReason: reason };
  const event: CraftingEvent =
    reason === null ? { type: 'session_cancelled', data: { returned } } : { type: 'session_failed', data: { returned, reason } };
  return { session, events: [event] };
}

/** Moves a running session through every stage whose time is up at `now`; a paused one fails after MAX_PAUSE_MS. */
function advance(session: CraftingSession, now: number): Reduced {
  if (session.status === 'paused' && session.pausedAt !== null && now - session.pausedAt >= MAX_PAUSE_MS) {
    return end(session, 'abandoned', session.pausedAt + MAX_PAUSE_MS);
  }
  if (session.status !== 'running' || session.runningSince === null) return { session, events: [] };
  const recipe = recipeOf(session);
  let s = session;
  const events: CraftingEvent[] = [];
  // The instant the current stage began running in this run: stage ends are computed from it, not from `now`.
  let clock = s.runningSince as number;
  let elapsed = s.stageElapsedMs;
  while (s.stageIndex < recipe.stages.length) {
    const remaining = stageDuration(recipe, s, s.stageIndex) - elapsed;
    if (clock + remaining > now) break;
    clock += remaining;
    elapsed = 0;
    const from = recipe.stages[s.stageIndex]?.name;
    const index = s.stageIndex + 1;
    s = { ...s, stageIndex: index, stageElapsedMs: 0, runningSince: clock };
    if (index < recipe.stages.length) {
      events.push({
        type: 'stage_changed',
        data: { from, to: recipe.stages[index]?.name, stageIndex: index, stageCount: recipe.stages.length },
      });
    }
  }
  if (s.stageIndex >= recipe.stages.length) {
    const { quality, tier } = qualityOf(s);
    const output = { itemId: recipe.output.itemId, quantity: recipe.output.quantity * s.quantity };
    s = { ...s, status: 'completed', runningSince: null, finishedAt: clock, output, quality, qualityTier: tier };
    events.push({ type: 'session_completed', data: { output, quality, qualityTier: tier } });
  }
  return { session: s, events };
}

/** When the session next changes by itself (a stage ends, or a pause is abandoned); null when it will not. */
export function nextDeadline(s: CraftingSession): number | null {
  if (s.status === 'paused' && s.pausedAt !== null) return s.pausedAt + MAX_PAUSE_MS;
  if (s.status !== 'running' || s.runningSince === null) return null;
  const recipe = recipeOf(s);
  return s.runningSince + stageDuration(recipe, s, s.stageIndex) - s.stageElapsedMs;
}

/** The seed's `CraftingProgressData`: where a session stands at `now`. */
export interface CraftingProgressData {
  sessionId: string;
  playerId: string;
  recipeId: string;
  quantity: number;
  status: SessionStatus;
  stageIndex: number;
  stageCount: number;
  stageName: string | null;
  /** 0..1 within the current stage. */
  stageProgress: number;
  /** 0..1 over the whole session. */
  progress: number;
  elapsedMs: number;
  remainingMs: number;
  /** ISO 8601 while running; null when paused, queued or finished. */
  estimatedCompletion: string | null;
  quality: number | null;
  qualityTier: QualityTier | null;
  output: { itemId: string; quantity: number } | null;
  consumed: Materials;
  returned: Materials;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  failureReason: string | null;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export function progressOf(session: CraftingSession, now: number): CraftingProgressData {
  const s = advance(session, now).session;
  const recipe = recipeOf(s);
  const total = totalDurationMs(recipe, s.quantity);
  let done = 0;
  for (let i = 0; i < Math.min(s.stageIndex, recipe.stages.length); i++) done += stageDuration(recipe, s, i);
  const inStage = s.stageIndex < recipe.stages.length ? elapsedInStage(s, now) : 0;
  const stageTotal = stageDuration(recipe, s, s.stageIndex);
  const elapsed = Math.min(total, done + inStage);
  const remaining = s.status === 'completed' ? 0 : total - elapsed;
  return {
    sessionId: s.id,
    playerId: s.playerId,
    recipeId: s.recipeId,
    quantity: s.quantity,
    status: s.status,
    stageIndex: s.stageIndex,
    stageCount: recipe.stages.length,
    stageName: recipe.stages[s.stageIndex]?.name ?? null,
    stageProgress: stageTotal > 0 ? Math.min(1, inStage / stageTotal) : s.status === 'completed' ? 1 : 0,
    progress: total > 0 ? (s.status === 'completed' ? 1 : elapsed / total) : 1,
    elapsedMs: elapsed,
    remainingMs: remaining,
    estimatedCompletion: s.status === 'running' ? iso(now + remaining) : null,
    quality: s.quality,
    qualityTier: s.qualityTier,
    output: s.output,
    consumed: s.consumed,
    returned: s.returned,
    createdAt: iso(s.createdAt) as string,
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
    failureReason: s.failureReason,
  };
}
