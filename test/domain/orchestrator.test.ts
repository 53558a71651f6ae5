import { describe, expect, it } from 'vitest';
import {
  initialState,
  PLANNING_STALE_MS,
  planningActive,
  planningKeepalive,
  reduce,
  resyncScopes,
  scopeOf,
  validatePublish,
  view,
} from '../../src/domain/orchestrator';
import { ApiError } from '../../src/errors';

const at = (ms: number) => new Date(ms).toISOString();
const T0 = Date.parse('2026-01-01T10:00:00.000Z');

describe('orchestrator rules', () => {
  it('validates payloads per event type and gives each its scope', () => {
    expect(validatePublish([{ type: 'repo_changed', payload: { workingDir: '/src' } }])).toEqual([
      { type: 'repo_changed', scope: 'config', payload: { workingDir: '/src' } },
    ]);
    const refused = (items: Array<{ type: string; payload: unknown }>) => {
      try {
        validatePublish(items);
      } catch (e) {
        if (e instanceof ApiError) return [e.code, e.details];
        throw e;
      }
      throw new Error('expected an ApiError');
    };
    expect(refused([])).toEqual(['INVALID_REQUEST', { field: 'events' }]);
    expect(refused([{ type: 'battle_start', payload: { taskId: 't' } }])).toMatchObject([
      'INVALID_REQUEST',
      { index: 0, type: 'battle_start' },
    ]);
    expect(refused([{ type: 'teleport', payload: {} }])).toEqual(['INVALID_REQUEST', { index: 0, field: 'type' }]);
    expect(refused([{ type: 'planning_output', payload: { output: 'x'.repeat(60_001) } }])[0]).toBe('INVALID_REQUEST');
  });

  it('scopes resync: the requested scopes plus system-wide events, or everything for "all"', () => {
    expect(resyncScopes(['battle'])).toEqual(['battle', 'all']);
    expect(resyncScopes(['planning', 'prd'])).toEqual(['planning', 'prd', 'all']);
    expect(resyncScopes(['battle', 'all'])).toBeNull();
  });

  it('keeps planning alive while it runs, and not once it completed or went silent', () => {
    expect(planningKeepalive(initialState(), T0)).toBeNull();
    const planning = reduce(initialState(), { type: 'planning_question', data: { question: 'Q?' }, timestamp: at(T0) });
    expect(planningKeepalive(planning, T0 + 30_000)).toEqual({
      scope: 'planning',
      type: 'planning_keepalive',
      data: { timestamp: at(T0 + 30_000), state: 'waiting_input' },
    });
    expect(planningKeepalive(planning, T0 + PLANNING_STALE_MS + 1)).toBeNull();
    const done = reduce(planning, { type: 'planning_completed', data: { prd: {} }, timestamp: at(T0 + 1) });
    expect(planningKeepalive(done, T0 + 30_000)).toBeNull();
  });
});

describe('orchestrator state', () => {
  const ev = (type: string, data: unknown) => ({ type, data, timestamp: '2026-01-01T00:00:00.000Z' });
  it('derives battle, planning, prd and config from the events', () => {
    let s = initialState();
    s = reduce(s, ev('planning_output', { output: 'Hel' }));
    s = reduce(s, ev('planning_output', { output: 'lo' }));
    expect(planningActive(s)).toBe(true);
    s = reduce(s, ev('planning_question', { question: 'Q?' }));
    expect(s.planning).toMatchObject({ state: 'waiting_input', output: 'Hello', questions: ['Q?'] });
    s = reduce(s, ev('planning_completed', { prd: { t: 1 } }));
    expect(planningActive(s)).toBe(false);
    s = reduce(s, ev('battle_start', { taskId: 'T', task: {} }));
    s = reduce(s, ev('await_approval', { taskId: 'T', iteration: 2, summary: 's' }));
    expect(s.battle).toMatchObject({ status: 'awaiting_approval', iteration: 2 });
    s = reduce(s, ev('approval_received', { taskId: 'T', approved: true }));
    s = reduce(s, ev('feedback_result', { taskId: 'T', loop: 'lint', result: { passed: true, output: '', duration: 1 } }));
    s = reduce(s, ev('battle_complete', { taskId: 'T', battle: { ok: true } }));
    expect(s.battle).toMatchObject({ status: 'completed', feedbackResults: { lint: { passed: true } } });
    const only = view(s, ['battle'], 3);
    expect(only).toHaveProperty('activeBattle');
    expect(only).not.toHaveProperty('planningSession');
    expect(view(s, ['all'], 0)).toMatchObject({ prd: { t: 1 }, planningSession: { state: 'completed' } });
    expect(scopeOf('repo_changed')).toBe('config');
    expect(scopeOf('error')).toBe('all');
  });
});
