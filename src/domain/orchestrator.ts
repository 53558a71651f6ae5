import { z } from 'zod';
import { ApiError, zodDetails, zodMessage } from '../errors';

/**
 * Seed 004's orchestrator events as rules: the typed payload of every event type, publish validation, the scope
 * each event concerns, the state per scope derived from the events (a pure reducer), the snapshot a resync gets
 * for the scopes it asked for, and when `planning_keepalive` is due. The wire format is dialects/orchestrator.ts;
 * the Room actor stores the state and runs the keepalive timer.
 */

// ---- event payloads (seed 004, "Event Specification") -------------------------------------------------------

const id = z.string().min(1).max(200);
const text = z.string().max(60_000);
const iteration = z.number().int().min(0).max(1_000_000);
/** Task, Battle, PRD and Progress are the orchestrator's own documents: objects, passed through as they are. */
const doc = z.record(z.string(), z.unknown());

export const EVENT_PAYLOADS = {
  planning_output: z.strictObject({ output: text }),
  planning_question: z.strictObject({ question: text }),
  planning_completed: z.strictObject({ prd: doc }),
  planning_keepalive: z.strictObject({
    timestamp: z.string(),
    state: z.enum(['idle', 'planning', 'waiting_input', 'completed']),
  }),
  battle_start: z.strictObject({ taskId: id, task: doc }),
  battle_pause: z.strictObject({ taskId: id, iteration }),
  battle_resume: z.strictObject({ taskId: id }),
  battle_cancel: z.strictObject({ taskId: id, reason: z.string().max(2000).optional() }),
  battle_complete: z.strictObject({ taskId: id, battle: doc }),
  battle_failed: z.strictObject({ taskId: id, error: z.string().max(10_000), battle: doc }),
  iteration_start: z.strictObject({ taskId: id, iteration }),
  iteration_end: z.strictObject({ taskId: id, iteration, result: z.enum(['success', 'failure', 'timeout', 'cancelled']) }),
  iteration_output: z.strictObject({ taskId: id, iteration, output: text }),
  progress_update: z.strictObject({ taskId: id, progress: doc }),
  completion_detected: z.strictObject({ taskId: id }),
  feedback_result: z.strictObject({
    taskId: id,
    loop: z.string().min(1).max(100),
    result: z.strictObject({ passed: z.boolean(), output: text, duration: z.number().min(0) }),
  }),
  await_approval: z.strictObject({ taskId: id, iteration, summary: text }),
  approval_received: z.strictObject({ taskId: id, approved: z.boolean() }),
  repo_changed: z.strictObject({ workingDir: z.string().min(1).max(4096) }),
  error: z.strictObject({
    message: z.string().max(10_000),
    code: z.string().max(100).optional(),
    details: z.unknown().optional(),
  }),
} as const;

export type OrchestratorEventType = keyof typeof EVENT_PAYLOADS;
export const EVENT_TYPES = Object.keys(EVENT_PAYLOADS) as OrchestratorEventType[];

export const SCOPES = ['battle', 'planning', 'config', 'prd', 'all'] as const;
export type Scope = (typeof SCOPES)[number];

/** Which state an event affects (the seed's `scope`). System errors concern everything. */
export function scopeOf(type: OrchestratorEventType): Scope {
  if (type.startsWith('planning_')) return 'planning';
  if (type === 'repo_changed') return 'config';
  if (type === 'error') return 'all';
  return 'battle';
}

export const PUBLISH_MAX = 100;
/** Largest payload of one event, serialized (the core's frame limit). */
export const PAYLOAD_MAX_BYTES = 64 * 1024;

export interface ValidEvent {
  type: OrchestratorEventType;
  scope: Scope;
  payload: Record<string, unknown>;
}

/** Validates items against their type's payload schema; 400 naming the item and field otherwise. */
export function validatePublish(items: Array<{ type: string; payload: unknown }>): ValidEvent[] {
  if (items.length === 0 || items.length > PUBLISH_MAX) {
    throw new ApiError('INVALID_REQUEST', `Publish between 1 and ${PUBLISH_MAX} events at once`, {
      details: { field: 'events' },
    });
  }
  return items.map((item, index) => {
    const schema = EVENT_PAYLOADS[item.type as OrchestratorEventType];
    if (!schema) {
      throw new ApiError('INVALID_REQUEST', `Unknown event type "${item.type}"`, { details: { index, field: 'type' } });
    }
    const parsed = schema.safeParse(item.payload);
    if (!parsed.success) {
      const details = zodDetails(parsed.error);
      throw new ApiError('INVALID_REQUEST', `Invalid payload for ${item.type}: ${zodMessage(parsed.error)}`, {
        details: { ...details, index, type: item.type },
      });
    }
    if (JSON.stringify(parsed.data).length > PAYLOAD_MAX_BYTES) {
      throw new ApiError('PAYLOAD_TOO_LARGE', `Payload of ${item.type} is larger than ${PAYLOAD_MAX_BYTES} bytes`, {
        details: { index },
      });
    }
    const type = item.type as OrchestratorEventType;
    return { type, scope: scopeOf(type), payload: parsed.data as Record<string, unknown> };
  });
}

// ---- state per scope, derived from the events ---------------------------------------------------------------

export type PlanningState = 'idle' | 'planning' | 'waiting_input' | 'completed';
export type BattleStatus = 'running' | 'paused' | 'awaiting_approval' | 'cancelled' | 'completed' | 'failed';

export interface OrchestratorState {
  battle: {
    taskId: string;
    status: BattleStatus;
    iteration: number;
    task: unknown;
    progress: unknown;
    feedbackResults: Record<string, unknown>;
    awaitingApproval: { iteration: number; summary: string } | null;
    lastIterationResult: string | null;
    completionDetected: boolean;
    result: unknown;
    error: string | null;
  } | null;
  planning: { state: PlanningState; output: string; questions: string[]; lastActivity: string } | null;
  prd: unknown;
  config: { workingDir: string | null };
  lastError: { message: string; code?: string; at: string } | null;
}

export const initialState = (): OrchestratorState => ({
  battle: null,
  planning: null,
  prd: null,
  config: { workingDir: null },
  lastError: null,
});

/** Planning output kept in the snapshot: the tail, so a late joiner sees the recent text without an unbounded state. */
export const PARTIAL_OUTPUT_MAX = 32 * 1024;
const QUESTIONS_MAX = 50;

/** Pure: the state after one event. */
/** An event as the reducer reads it. */
type Reducible = { type: string; data: unknown; timestamp: string };

export function reduce(state: OrchestratorState, event: Reducible): OrchestratorState {
  return reduceAll(state, [event]);
}

/** Applies a batch in order to one copy of the state: one clone per batch, not per event. */
export function reduceAll(state: OrchestratorState, events: readonly Reducible[]): OrchestratorState {
  const s: OrchestratorState = structuredClone(state);
  for (const event of events) applyTo(s, event);
  return s;
}

/** One event, applied in place to a state the caller owns. */
function applyTo(s: OrchestratorState, event: Reducible): void {
  const p = (event.data ?? {}) as Record<string, unknown>;
  const battleFor = (taskId: string) => {
    if (!s.battle || s.battle.taskId !== taskId) {
      s.battle = {
        taskId,
        status: 'running',
        iteration: 0,
        task: null,
        progress: null,
        feedbackResults: {},
        awaitingApproval: null,
        lastIterationResult: null,
        completionDetected: false,
        result: null,
        error: null,
      };
    }
    return s.battle;
  };
  const planning = () => {
    if (!s.planning || s.planning.state === 'completed') {
      s.planning = { state: 'planning', output: '', questions: [], lastActivity: event.timestamp };
    }
    s.planning.lastActivity = event.timestamp;
    return s.planning;
  };
  switch (event.type as OrchestratorEventType) {
    case 'planning_output': {
      const pl = planning();
      pl.state = 'planning';
      pl.output = (pl.output + String(p.output)).slice(-PARTIAL_OUTPUT_MAX);
      break;
    }
    case 'planning_question': {
      const pl = planning();
      pl.state = 'waiting_input';
      pl.questions = [...pl.questions, String(p.question)].slice(-QUESTIONS_MAX);
      break;
    }
    case 'planning_completed':
      if (s.planning) s.planning.state = 'completed';
      else s.planning = { state: 'completed', output: '', questions: [], lastActivity: event.timestamp };
      s.planning.lastActivity = event.timestamp;
      s.prd = p.prd;
      break;
    case 'planning_keepalive':
      break;
    case 'battle_start': {
      s.battle = null;
      const b = battleFor(String(p.taskId));
      b.task = p.task;
      break;
    }
    case 'battle_pause': {
      const b = battleFor(String(p.taskId));
      b.status = 'paused';
      b.iteration = Number(p.iteration);
      break;
    }
    case 'battle_resume':
      battleFor(String(p.taskId)).status = 'running';
      break;
    case 'battle_cancel':
      battleFor(String(p.taskId)).status = 'cancelled';
      break;
    case 'battle_complete': {
      const b = battleFor(String(p.taskId));
      b.status = 'completed';
      b.result = p.battle;
      break;
    }
    case 'battle_failed': {
      const b = battleFor(String(p.taskId));
      b.status = 'failed';
      b.error = String(p.error);
      b.result = p.battle;
      break;
    }
    case 'iteration_start':
      battleFor(String(p.taskId)).iteration = Number(p.iteration);
      break;
    case 'iteration_end': {
      const b = battleFor(String(p.taskId));
      b.iteration = Number(p.iteration);
      b.lastIterationResult = String(p.result);
      break;
    }
    case 'iteration_output':
      battleFor(String(p.taskId)).iteration = Number(p.iteration);
      break;
    case 'progress_update':
      battleFor(String(p.taskId)).progress = p.progress;
      break;
    case 'completion_detected':
      battleFor(String(p.taskId)).completionDetected = true;
      break;
    case 'feedback_result': {
      const b = battleFor(String(p.taskId));
      b.feedbackResults = { ...b.feedbackResults, [String(p.loop)]: p.result };
      break;
    }
    case 'await_approval': {
      const b = battleFor(String(p.taskId));
      b.status = 'awaiting_approval';
      b.iteration = Number(p.iteration);
      b.awaitingApproval = { iteration: Number(p.iteration), summary: String(p.summary) };
      break;
    }
    case 'approval_received': {
      const b = battleFor(String(p.taskId));
      b.awaitingApproval = null;
      b.status = p.approved ? 'running' : 'paused';
      break;
    }
    case 'repo_changed':
      s.config = { workingDir: String(p.workingDir) };
      break;
    case 'error':
      s.lastError = { message: String(p.message), ...(p.code ? { code: String(p.code) } : {}), at: event.timestamp };
      break;
  }
}

/** True while planning runs: `planning_keepalive` is due every 30 s then. */
export const planningActive = (s: OrchestratorState): boolean =>
  s.planning !== null && (s.planning.state === 'planning' || s.planning.state === 'waiting_input');

/** The seed's `ServerState` for the requested scopes (`config` always, as the seed's server does). */
export function view(s: OrchestratorState, scopes: readonly string[] | undefined, clients: number): Record<string, unknown> {
  const want = (scope: Scope) => !scopes || scopes.length === 0 || scopes.includes('all') || scopes.includes(scope);
  const out: Record<string, unknown> = { version: 1, timestamp: new Date().toISOString(), config: s.config };
  if (want('battle') && s.battle) {
    out.activeBattle = {
      taskId: s.battle.taskId,
      status: s.battle.status,
      iteration: s.battle.iteration,
      progress: s.battle.progress,
      feedbackResults: s.battle.feedbackResults,
      awaitingApproval: s.battle.awaitingApproval,
      completionDetected: s.battle.completionDetected,
      lastIterationResult: s.battle.lastIterationResult,
      ...(s.battle.error ? { error: s.battle.error } : {}),
    };
  }
  if (want('planning') && s.planning) {
    out.planningSession = { state: s.planning.state, partialOutput: s.planning.output, questions: s.planning.questions };
  }
  if (want('prd') && s.prd !== null) out.prd = s.prd;
  if (want('all') && s.lastError) out.lastError = s.lastError;
  out.clients = { count: clients };
  return out;
}

// ---- resync scoping and the planning keepalive ---------------------------------------------------------------

/**
 * The scopes of a resync's missed events: the requested ones plus system-wide `all` events, or null (every
 * event) when `all` was asked for.
 */
export const resyncScopes = (requested: readonly string[]): string[] | null =>
  requested.includes('all') ? null : [...requested, 'all'];

/** Seed 004: `planning_keepalive` every 30 s while planning runs. */
export const PLANNING_KEEPALIVE_MS = 30_000;
/** A planning session silent for this long is considered abandoned: keepalives stop. */
export const PLANNING_STALE_MS = 60 * 60_000;

/** The keepalive event due at `now`, or null when planning is not running or has gone silent. */
export function planningKeepalive(
  s: OrchestratorState,
  now: number,
): { scope: Scope; type: 'planning_keepalive'; data: { timestamp: string; state: PlanningState } } | null {
  const planning = s.planning;
  if (!planning || !planningActive(s)) return null;
  if (now - Date.parse(planning.lastActivity) > PLANNING_STALE_MS) return null;
  return {
    scope: 'planning',
    type: 'planning_keepalive',
    data: { timestamp: new Date(now).toISOString(), state: planning.state },
  };
}
