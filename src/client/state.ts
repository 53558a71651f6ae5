/**
 * The connection state machine of seed 004 ("Reconnection States"), as a pure transition function so the
 * client and its tests agree on exactly which moves are legal.
 *
 *   offline ──connect──▶ connecting ──open──▶ connected
 *                          │   └──resync──▶ resyncing ──synced──▶ connected
 *                          └─drop─▶ reconnecting ──open/resync──▶ ...
 *   connected/resyncing ──drop──▶ reconnecting ──drop──▶ reconnecting (next attempt)
 *   connecting/reconnecting ──give_up──▶ offline;  any ──close──▶ offline
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'resyncing' | 'offline';

export type ConnectionInput =
  /** The user asked to connect. */
  | 'connect'
  /** A transport opened and there is nothing to catch up on. */
  | 'open'
  /** A transport opened and missed events are being replayed. */
  | 'resync'
  /** The replay is over. */
  | 'synced'
  /** The transport failed or closed unasked. */
  | 'drop'
  /** Attempts exhausted. */
  | 'give_up'
  /** The user disconnected. */
  | 'close';

const TABLE: Record<ConnectionState, Partial<Record<ConnectionInput, ConnectionState>>> = {
  offline: { connect: 'connecting', close: 'offline' },
  connecting: { open: 'connected', resync: 'resyncing', drop: 'reconnecting', give_up: 'offline', close: 'offline' },
  reconnecting: { open: 'connected', resync: 'resyncing', drop: 'reconnecting', give_up: 'offline', close: 'offline' },
  resyncing: { synced: 'connected', drop: 'reconnecting', close: 'offline' },
  // A new transport adopted while connected (probe back to WebSocket) may replay: connected -> resyncing.
  connected: { resync: 'resyncing', drop: 'reconnecting', close: 'offline' },
};

/** Pure: the next state, or null when `input` is not legal in `state`. */
export function transition(state: ConnectionState, input: ConnectionInput): ConnectionState | null {
  return TABLE[state][input] ?? null;
}

/** True when a transport is open (sends go straight out). */
export function isOpen(state: ConnectionState): boolean {
  return state === 'connected' || state === 'resyncing';
}
