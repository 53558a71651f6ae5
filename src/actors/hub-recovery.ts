import { eventPacket, type SocketPacket } from '../dialects/socketio';
import { RECOVERY_WINDOW_MS, type RecoveryAnswer, recoveryOffset, shardOfId } from '../domain/hub';
import type { HubStore } from './hub-store';

/** A recovery session taken over: its socket, rooms and missed packets, and whether it was this shard's. */
export type Recovered = Extract<RecoveryAnswer, { kind: 'ok' }> & { local: boolean };

/** What recovery needs from its shard. */
export interface RecoveryShard {
  readonly store: HubStore;
  index(): number;
  total(): number;
  /** Asks shard `index` (this one included) to hand recovery session `pid` over. */
  take(index: number, pid: string, offset: number, tenantId: string, userId: string): Promise<RecoveryAnswer>;
  /** Whether Engine.IO session `sid` is live on this instance. */
  live(sid: string): boolean;
}

/**
 * Connection-state recovery across shards: a reconnecting client names its recovery session (`pid`, which starts
 * with the shard that created it); the session is found where it is now (a moved one leaves a forwarding
 * pointer), handed over with the packets its socket missed, and replayed here in log order.
 */
export class HubRecovery {
  constructor(private readonly shard: RecoveryShard) {}

  /** Finds the recovery session `pid` on whichever shard holds it now, and takes it over. */
  async find(who: { tenantId: string; userId: string }, pid: string, offset: unknown): Promise<Recovered | null> {
    const total = this.shard.total();
    let index = shardOfId(pid, total);
    const after = recoveryOffset(offset);
    for (let hop = 0; index !== null && hop < total; hop++) {
      const answer = await this.shard.take(index, pid, after, who.tenantId, who.userId);
      if (answer.kind === 'ok') return { ...answer, local: index === this.shard.index() };
      if (answer.kind === 'none') return null;
      index = answer.to;
    }
    return null;
  }

  /** Hands recovery session `pid` over to shard `to`, if it is this tenant's and user's and still in its window. */
  take(pid: string, offset: number, tenantId: string, userId: string, to: number): RecoveryAnswer {
    const { store } = this.shard;
    const row = store.recovery(pid);
    if (!row) return { kind: 'none' };
    if (row.movedTo !== null) return row.movedTo === this.shard.index() ? { kind: 'none' } : { kind: 'moved', to: row.movedTo };
    if (row.tenantId !== tenantId || row.userId !== userId) return { kind: 'none' };
    if (row.disconnectedAt === null) {
      // Still listed as connected: only a session this instance lost (eviction) may be taken over.
      if (row.sid && this.shard.live(row.sid)) return { kind: 'none' };
    } else if (Date.now() - row.disconnectedAt > RECOVERY_WINDOW_MS) {
      return { kind: 'none' };
    }
    const { rooms, packets } = store.take(row, offset, to);
    return { kind: 'ok', socketId: row.socketId, clientId: row.clientId, rooms, packets };
  }

  /** The missed packets as sent, each with its offset; packets from another shard are logged again here first. */
  replay(recovered: Recovered, tenantId: string, socketId: string, now: number): SocketPacket[] {
    return recovered.packets.map((p) => {
      // Offsets are this shard's from now on.
      const seq = recovered.local ? p.seq : this.shard.store.append(tenantId, `s:${socketId}`, p.packet, undefined, now);
      return eventPacket('/', String(p.packet[0]), [...p.packet.slice(1), String(seq)]);
    });
  }
}
