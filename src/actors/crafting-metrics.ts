import type { Sample } from '../core/metrics';
import { SESSION_DIALECT, UDP_DIALECT } from '../dialects/crafting';
import type { SessionStatus } from '../domain/crafting';

/**
 * A Crafting actor's gauges now, among them its footprint (the seed's "memory per session"): the session's state,
 * the sync streams' memory and the per-connection bookkeeping, in bytes of their JSON, and its SQLite file size.
 */
export function sessionGauges(g: {
  status: SessionStatus | undefined;
  stateBytes: number;
  sessionSockets: number;
  udpSockets: number;
  peers: number;
  syncBytes: number;
  connectionBytes: number;
  storageBytes: number;
}): Sample[] {
  const active = g.status === 'running' || g.status === 'paused' ? 1 : 0;
  return [
    { name: 'edgerooms_ws_connections', labels: { endpoint: SESSION_DIALECT }, value: g.sessionSockets },
    { name: 'edgerooms_ws_connections', labels: { endpoint: UDP_DIALECT }, value: g.udpSockets },
    { name: 'edgerooms_crafting_udp_peers', labels: {}, value: g.peers },
    { name: 'edgerooms_crafting_active_sessions', labels: {}, value: active },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'session' }, value: g.stateBytes },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'sync' }, value: g.syncBytes },
    { name: 'edgerooms_crafting_state_bytes', labels: { part: 'connections' }, value: g.connectionBytes },
    { name: 'edgerooms_crafting_storage_bytes', labels: {}, value: g.storageBytes },
  ];
}

/** Per-connection bookkeeping in bytes: the JSON of every socket's attachment (identity, dialect, topics). */
export function connectionBytes(sockets: WebSocket[]): number {
  let n = 0;
  for (const ws of sockets) n += JSON.stringify(ws.deserializeAttachment() ?? null).length;
  return n;
}
