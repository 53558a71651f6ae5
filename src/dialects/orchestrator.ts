import { z } from '@hono/zod-openapi';
import type { Connection, Dialect, DialectApi } from '../core/dialect';
import type { EventFilter } from '../core/event-log';
import type { EventRef, LoggedEvent, ResyncResult } from '../core/protocol';
import { ApiError, zodDetails, zodMessage } from '../errors';

/**
 * Seed 004's orchestrator stream as a dialect over the actor core: frames `{type, payload, timestamp, eventId,
 * sequence, scope}`, `connected`, `ping`/`pong`, `resync`/`resync_response`, and the seed's error event.
 * The state per scope is derived from the events by the pure reducer below; the Room actor stores it.
 */

export const DIALECT = 'orchestrator';

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

/** One published event, as `POST /api/orchestrator/events` takes it. */
export const PublishItem = z
  .object({
    type: z.enum(EVENT_TYPES as [OrchestratorEventType, ...OrchestratorEventType[]]),
    payload: z.unknown(),
  })
  .openapi('OrchestratorPublishItem');
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
export function reduce(state: OrchestratorState, event: { type: string; data: unknown; timestamp: string }): OrchestratorState {
  const p = (event.data ?? {}) as Record<string, unknown>;
  const s: OrchestratorState = structuredClone(state);
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
  return s;
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

// ---- client frames -------------------------------------------------------------------------------------------

export const PingFrame = z.object({
  type: z.literal('ping'),
  payload: z.object({ timestamp: z.union([z.string().max(100), z.number()]).optional() }).optional(),
  /** Seed 004 puts the timestamp in `payload`; a top-level one (the envelope's own field) is echoed too. */
  timestamp: z.union([z.string().max(100), z.number()]).optional(),
});

export const ResyncFrame = z.object({
  type: z.literal('resync'),
  lastEventId: z.string().max(100).nullable().optional(),
  lastSequence: z.number().int().min(0).optional(),
  lastEventTimestamp: z.string().max(100).optional(),
  requestedScopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).optional(),
});

const now = () => new Date().toISOString();

/** Seed 004's event frame: the logged event with `payload` for its data. */
export function eventFrame(e: LoggedEvent) {
  return { type: e.type, payload: e.data, timestamp: e.timestamp, eventId: e.eventId, sequence: e.sequence, scope: e.scope };
}

export const orchestratorDialect: Dialect = {
  name: DIALECT,
  limits: { messagesPerMinute: 100, maxMessageBytes: 64 * 1024, idleTimeoutMs: 120_000 },

  connected(api: DialectApi, conn: Connection) {
    return {
      type: 'connected',
      payload: {
        connectionId: conn.id,
        clientsConnected: api.clientCount(DIALECT),
        // Seed 004's proposed fix: the client learns where the log stands, so its first resync is exact.
        lastEventId: api.latestEventId(),
        sequence: api.latestSequence(),
        epoch: api.epoch(),
      },
      timestamp: now(),
    };
  },

  resyncFrame(api: DialectApi, conn: Connection, result: ResyncResult, scopes?: string[]) {
    return {
      type: 'resync_response',
      payload: {
        connectionId: conn.id,
        serverTimestamp: now(),
        state: result.truncated ? result.snapshot : api.snapshot(DIALECT, scopes),
        missedEvents: result.events.map(eventFrame),
        truncated: result.truncated,
        lastEventId: api.latestEventId(),
        sequence: result.latestSequence,
      },
      timestamp: now(),
    };
  },

  handle(api: DialectApi, conn: Connection, frame: unknown) {
    const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
    if (typeof type !== 'string') throw new ApiError('INVALID_REQUEST', 'A message is an object with a string "type"');
    if (type === 'ping') {
      const ping = PingFrame.safeParse(frame);
      if (!ping.success) throw invalid(ping.error);
      conn.send({
        type: 'pong',
        payload: { timestamp: ping.data.payload?.timestamp ?? ping.data.timestamp ?? now() },
        timestamp: now(),
      });
      return;
    }
    if (type === 'resync') {
      const resync = ResyncFrame.safeParse(frame);
      if (!resync.success) throw invalid(resync.error);
      const scopes: string[] = resync.data.requestedScopes ?? ['all'];
      const ref: EventRef = {
        ...(resync.data.lastEventId ? { lastEventId: resync.data.lastEventId } : {}),
        ...(resync.data.lastSequence !== undefined ? { lastSequence: resync.data.lastSequence } : {}),
        ...(resync.data.lastEventTimestamp ? { lastEventTimestamp: resync.data.lastEventTimestamp } : {}),
      };
      // Missed events of the requested scopes (system-wide `all` events always), all of them for `all`.
      const filter: EventFilter = scopes.includes('all') ? {} : { scopes: [...scopes, 'all'] };
      conn.send(orchestratorDialect.resyncFrame(api, conn, api.resync(conn, ref, { scopes, filter }), scopes));
      return;
    }
    throw new ApiError('INVALID_REQUEST', `Unknown message type "${type.slice(0, 64)}"`, {
      details: { type: type.slice(0, 64), supported: ['ping', 'resync'] },
    });
  },

  renderEvent(event: LoggedEvent) {
    return eventFrame(event);
  },

  renderError(error) {
    return {
      type: 'error',
      payload: { message: error.message, code: error.code, ...(error.details ? { details: error.details } : {}) },
      timestamp: now(),
    };
  },

  frameName(frame: unknown) {
    return String((frame as { type?: unknown }).type ?? 'message');
  },
};

function invalid(error: z.ZodError): ApiError {
  const details = zodDetails(error);
  return new ApiError('INVALID_REQUEST', `Invalid message: ${zodMessage(error)}`, {
    details,
  });
}
