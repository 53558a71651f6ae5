import { describe, expect, it } from 'vitest';
import { afterFailure, afterOpen, type FallbackState, type TransportKind } from '../../src/client';

const ORDER: TransportKind[] = ['websocket', 'sse', 'polling'];

describe('transport fallback policy', () => {
  it('moves WebSocket -> SSE -> polling after the threshold of failed establishments, then stays', () => {
    let state: FallbackState = afterOpen('websocket');
    const trail: string[] = [];
    for (let i = 0; i < 7; i++) {
      state = afterFailure(state, ORDER);
      trail.push(`${state.transport}:${state.failures}`);
    }
    expect(trail).toEqual(['websocket:1', 'sse:0', 'sse:1', 'polling:0', 'polling:1', 'polling:2', 'polling:3']);
  });

  it('honours per-transport thresholds and a shorter order', () => {
    const thresholds = { websocket: 1, sse: 3 };
    let state = afterFailure(afterOpen('websocket'), ORDER, thresholds);
    expect(state).toEqual({ transport: 'sse', failures: 0 });
    state = afterFailure(afterFailure(state, ORDER, thresholds), ORDER, thresholds);
    expect(state).toEqual({ transport: 'sse', failures: 2 });
    expect(afterFailure(state, ORDER, thresholds)).toEqual({ transport: 'polling', failures: 0 });
    expect(afterFailure({ transport: 'websocket', failures: 5 }, ['websocket'])).toEqual({ transport: 'websocket', failures: 6 });
  });

  it('resets the count when a transport opens', () => {
    expect(afterOpen('sse')).toEqual({ transport: 'sse', failures: 0 });
  });
});
