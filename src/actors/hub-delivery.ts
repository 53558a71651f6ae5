import { CallBatcher } from '../core/call-batcher';
import { eventPacket, type SocketPacket } from '../dialects/socketio';
import { type Delivery, logTarget } from '../domain/hub';
import type { Env } from '../env';
import type { PreparedMessages } from './engineio-actor';
import type { HubStore, SocketRow } from './hub-store';
import { hubActor } from './keys';

/** What delivery needs from its shard: who it is, its sessions' sends, its storage. */
export interface DeliveryShard {
  readonly env: Env;
  readonly store: HubStore;
  index(): number;
  total(): number;
  /** Encodes a packet once for many sessions. */
  prepare(packet: SocketPacket): PreparedMessages;
  /** Sends prepared frames to socket `socketId` of session `sid`, if that session is live and still holds it. */
  send(sid: string, socketId: string, prepared: PreparedMessages): void;
  /** Resolves once this shard's writes so far are durable. */
  sync(): Promise<void>;
  /** A packet was logged: the log's expiry must be scheduled. */
  logged(): void;
}

/**
 * Delivery across a hub's shards: every shard delivers a room broadcast, direct message or presence change to its
 * own members (and logs it for its own recovery sessions). Calls to each peer are coalesced (one RPC in flight per
 * peer, the ones queued behind it go as one), and so are this shard's own: one batch's log rows are committed
 * together (one SQLite commit, awaited with `sync()`).
 */
export class HubDelivery {
  private readonly peers = new Map<number, CallBatcher<Delivery, string[]>>();
  private readonly local = new CallBatcher<Delivery, string[]>(async (deliveries) => {
    const reached = this.deliverAll(deliveries);
    await this.shard.sync();
    return reached;
  });

  constructor(private readonly shard: DeliveryShard) {}

  /** Delivers on every shard (each to its own members); the user ids of the members reached or waiting. */
  async fanout(delivery: Delivery): Promise<string[]> {
    const total = this.shard.total();
    const self = this.shard.index();
    const calls: Array<Promise<string[]>> = [];
    // Peers first: their calls leave before this shard's own log rows are written.
    for (let i = 0; i < total; i++) if (i !== self) calls.push(this.peer(i).submit(delivery));
    calls.push(this.local.submit(delivery));
    return [...new Set((await Promise.all(calls)).flat())];
  }

  private peer(index: number): CallBatcher<Delivery, string[]> {
    let batcher = this.peers.get(index);
    if (!batcher) {
      // A fresh handle per call: a handle whose call threw may stay broken.
      batcher = new CallBatcher((deliveries) => hubActor(this.shard.env, index).deliverAll(deliveries));
      this.peers.set(index, batcher);
    }
    return batcher;
  }

  /** `deliver` for each delivery, in order (a peer's coalesced batch). */
  deliverAll(deliveries: Delivery[]): string[][] {
    return deliveries.map((d) => this.deliver(d));
  }

  /** Delivers one packet to this shard's matching sockets (logging it first when asked); the user ids reached or waiting. */
  deliver(delivery: Delivery): string[] {
    const { store } = this.shard;
    const { tenantId, target } = delivery;
    let sockets: ReadonlyArray<SocketRow> = [];
    let userIds: string[] = [];
    let waiting = false;
    if ('room' in target) {
      const members = store.roomMembers(tenantId, target.room);
      sockets = members.connected;
      userIds = members.userIds;
      waiting = members.detached;
    } else if ('userId' in target) {
      const here = store.userSockets(tenantId, target.userId);
      sockets = here.sockets;
      waiting = here.detached;
      if (sockets.length || waiting) userIds = [target.userId];
    } else {
      const seen = new Set<string>();
      const reached: SocketRow[] = [];
      for (const room of target.rooms) {
        for (const s of store.roomMembers(tenantId, room).connected) {
          if (s.userId === target.excludeUserId || seen.has(s.socketId)) continue;
          seen.add(s.socketId);
          reached.push(s);
        }
      }
      sockets = reached;
    }
    if (sockets.length === 0 && !waiting) return userIds;
    let args = delivery.packet.slice(1);
    const key = delivery.store ? logTarget(target) : null;
    if (key) {
      const seq = store.append(tenantId, key, delivery.packet, delivery.exclude, Date.now());
      args = [...args, String(seq)];
      this.shard.logged();
    }
    const prepared = this.shard.prepare(eventPacket('/', String(delivery.packet[0]), args));
    for (const s of sockets) if (s.socketId !== delivery.exclude) this.shard.send(s.sid, s.socketId, prepared);
    return userIds;
  }
}
