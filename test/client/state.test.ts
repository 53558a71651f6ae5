import { describe, expect, it } from 'vitest';
import { type ConnectionInput, type ConnectionState, isOpen, transition } from '../../src/client';

const STATES: ConnectionState[] = ['connecting', 'connected', 'reconnecting', 'resyncing', 'offline'];
const INPUTS: ConnectionInput[] = ['connect', 'open', 'resync', 'synced', 'drop', 'give_up', 'close'];

describe('connection state machine (seed 004)', () => {
  it('follows the life of a connection that drops and resyncs', () => {
    const path: ConnectionInput[] = ['connect', 'open', 'drop', 'drop', 'resync', 'synced', 'drop', 'give_up', 'connect'];
    const seen: ConnectionState[] = [];
    let state: ConnectionState = 'offline';
    for (const input of path) {
      const next = transition(state, input);
      expect(next, `${state} --${input}`).not.toBeNull();
      state = next as ConnectionState;
      seen.push(state);
    }
    expect(seen).toEqual([
      'connecting',
      'connected',
      'reconnecting',
      'reconnecting',
      'resyncing',
      'connected',
      'reconnecting',
      'offline',
      'connecting',
    ]);
  });

  it('allows exactly the legal moves and refuses every other one', () => {
    const legal: Record<string, ConnectionState> = {
      'offline connect': 'connecting',
      'offline close': 'offline',
      'connecting open': 'connected',
      'connecting resync': 'resyncing',
      'connecting drop': 'reconnecting',
      'connecting give_up': 'offline',
      'connecting close': 'offline',
      'reconnecting open': 'connected',
      'reconnecting resync': 'resyncing',
      'reconnecting drop': 'reconnecting',
      'reconnecting give_up': 'offline',
      'reconnecting close': 'offline',
      'resyncing synced': 'connected',
      'resyncing drop': 'reconnecting',
      'resyncing close': 'offline',
      'connected resync': 'resyncing',
      'connected drop': 'reconnecting',
      'connected close': 'offline',
    };
    for (const state of STATES) {
      for (const input of INPUTS) {
        expect(transition(state, input), `${state} --${input}`).toBe(legal[`${state} ${input}`] ?? null);
      }
    }
  });

  it('refuses the moves a buggy client would try', () => {
    expect(transition('offline', 'open')).toBeNull();
    expect(transition('connected', 'connect')).toBeNull();
    expect(transition('connecting', 'synced')).toBeNull();
    expect(transition('resyncing', 'give_up')).toBeNull();
    expect(transition('offline', 'drop')).toBeNull();
  });

  it('counts a transport as open while connected or resyncing only', () => {
    expect(STATES.filter(isOpen)).toEqual(['connected', 'resyncing']);
  });
});
