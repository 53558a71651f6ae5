/**
 * Which transport to try next. Only failures to establish a transport count (a WebSocket that never opened,
 * an SSE request that never streamed); a transport that opened and later dropped is retried as is.
 * Pure, so the order WebSocket -> SSE -> polling and the thresholds are tested without a network.
 */
export type TransportKind = 'websocket' | 'sse' | 'polling';

export interface FallbackState {
  transport: TransportKind;
  /** Consecutive failures to establish `transport`. */
  failures: number;
}

export interface FallbackThresholds {
  /** Failed establishments of a transport before moving to the next one (default 2 each). */
  websocket?: number;
  sse?: number;
  polling?: number;
}

export const DEFAULT_FALLBACK_THRESHOLD = 2;

/** Pure: the state after `transport` failed to establish. Stays on the last transport of `order` once there. */
export function afterFailure(
  state: FallbackState,
  order: readonly TransportKind[],
  thresholds: FallbackThresholds = {},
): FallbackState {
  const failures = state.failures + 1;
  const limit = thresholds[state.transport] ?? DEFAULT_FALLBACK_THRESHOLD;
  const index = order.indexOf(state.transport);
  const next = order[index + 1];
  if (failures >= limit && next !== undefined) return { transport: next, failures: 0 };
  return { transport: state.transport, failures };
}

/** Pure: the state after `transport` opened. */
export function afterOpen(transport: TransportKind): FallbackState {
  return { transport, failures: 0 };
}
