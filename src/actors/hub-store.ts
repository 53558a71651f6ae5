/**
 * A hub shard's SQLite: its connected sockets, room memberships, the packet log that connection-state recovery
 * replays and recovery sessions (the presence of the users whose home it is: `hub-presence-store.ts`).
 * Everything a client was told survives eviction; in-memory state is only the transports.
 */
import type { LoggedPacket } from '../domain/hub';

export interface SocketRow {
  socketId: string;
  sid: string;
  userId: string;
}

export interface RecoveryRow {
  pid: string;
  socketId: string;
  tenantId: string;
  userId: string;
  clientId: string;
  /** Log position when the socket connected: its personal and user packets after it are its own. */
  sinceSeq: number;
  sid: string | null;
  disconnectedAt: number | null;
  /** Shard the session was recovered on (this row is then only a forwarding pointer). */
  movedTo: number | null;
}

type Row = Record<string, SqlStorageValue>;

/** A room's members on this shard, as delivery reads them. */
export interface RoomMembers {
  /** Connected members with their Engine.IO session. */
  connected: SocketRow[];
  userIds: string[];
  /** Whether a detached member (a recovery session) waits: its packets must be logged. */
  detached: boolean;
}

interface MemberRow {
  socketId: string;
  userId: string;
  /** The member's session while connected. */
  sid: string | null;
}

/** Rooms (and users, and sockets' room lists) held in memory at most (caches: the rows in SQLite are the truth). */
const CACHED_ROOMS = 10_000;

export class HubStore {
  /**
   * Room members read from SQLite once and then kept in step with `join` and `leave`, so a delivery reads no
   * rows; any change to a socket as a whole (connect, detach, forget, hand-over, expiry) drops the whole cache.
   */
  private readonly members = new Map<string, { rows: Map<string, MemberRow>; view: RoomMembers | null }>();
  /** `roomsOf` per socket, in step with `join` and `leave` the same way. */
  private readonly socketRooms = new Map<string, string[]>();
  /** A user's connected sockets here and whether a recovery session of theirs waits (dropped with the rest). */
  private readonly users = new Map<string, { sockets: SocketRow[]; detached: boolean }>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_sockets (
      socket_id TEXT PRIMARY KEY, sid TEXT NOT NULL, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL)`);
    sql.exec('CREATE INDEX IF NOT EXISTS hub_sockets_user ON hub_sockets (tenant_id, user_id)');
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_members (
      tenant_id TEXT NOT NULL, room_id TEXT NOT NULL, socket_id TEXT NOT NULL, user_id TEXT NOT NULL,
      since_seq INTEGER NOT NULL, connected INTEGER NOT NULL, PRIMARY KEY (tenant_id, room_id, socket_id))`);
    sql.exec('CREATE INDEX IF NOT EXISTS hub_members_socket ON hub_members (socket_id)');
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, target TEXT NOT NULL,
      exclude TEXT, packet TEXT NOT NULL, at INTEGER NOT NULL)`);
    sql.exec('CREATE INDEX IF NOT EXISTS hub_log_target ON hub_log (tenant_id, target, seq)');
    sql.exec(`CREATE TABLE IF NOT EXISTS hub_recovery (
      pid TEXT PRIMARY KEY, socket_id TEXT NOT NULL, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,
      client_id TEXT NOT NULL, since_seq INTEGER NOT NULL, sid TEXT, disconnected_at INTEGER, moved_to INTEGER)`);
  }

  // ---- sockets and recovery sessions ----------------------------------------------------------------------

  /** Records a connected socket and its recovery session (a recovered session keeps its pid and socket id). */
  connect(row: Omit<RecoveryRow, 'disconnectedAt' | 'movedTo'>): void {
    this.dropCaches();
    this.sql.exec(
      'INSERT OR REPLACE INTO hub_sockets (socket_id, sid, tenant_id, user_id) VALUES (?, ?, ?, ?)',
      row.socketId,
      row.sid,
      row.tenantId,
      row.userId,
    );
    this.sql.exec(
      `INSERT OR REPLACE INTO hub_recovery (pid, socket_id, tenant_id, user_id, client_id, since_seq, sid, disconnected_at, moved_to)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
      row.pid,
      row.socketId,
      row.tenantId,
      row.userId,
      row.clientId,
      row.sinceSeq,
      row.sid,
    );
  }

  /** The socket dropped: it stays in its rooms (logged for, not delivered to) until recovered or expired. */
  detach(socketId: string, now: number): void {
    this.dropCaches();
    this.sql.exec('DELETE FROM hub_sockets WHERE socket_id = ?', socketId);
    this.sql.exec('UPDATE hub_members SET connected = 0 WHERE socket_id = ?', socketId);
    this.sql.exec(
      'UPDATE hub_recovery SET disconnected_at = ?, sid = NULL WHERE socket_id = ? AND moved_to IS NULL',
      now,
      socketId,
    );
  }

  /** Forgets a socket entirely (explicit disconnect: nothing to recover). */
  forget(socketId: string): void {
    this.dropCaches();
    this.sql.exec('DELETE FROM hub_sockets WHERE socket_id = ?', socketId);
    this.sql.exec('DELETE FROM hub_members WHERE socket_id = ?', socketId);
    this.sql.exec('DELETE FROM hub_recovery WHERE socket_id = ? AND moved_to IS NULL', socketId);
  }

  recovery(pid: string): RecoveryRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM hub_recovery WHERE pid = ?', pid).toArray()[0];
    if (!r) return null;
    return {
      pid: r.pid as string,
      socketId: r.socket_id as string,
      tenantId: r.tenant_id as string,
      userId: r.user_id as string,
      clientId: r.client_id as string,
      sinceSeq: r.since_seq as number,
      sid: (r.sid as string | null) ?? null,
      disconnectedAt: (r.disconnected_at as number | null) ?? null,
      movedTo: (r.moved_to as number | null) ?? null,
    };
  }

  /**
   * Hands a recovery session over: the packets its socket missed after `offset` (its rooms', its user's and its
   * own, in log order), its rooms; the rows become a forwarding pointer to `movedTo`.
   */
  take(row: RecoveryRow, offset: number, movedTo: number): { rooms: string[]; packets: LoggedPacket[] } {
    const memberships = this.sql
      .exec<{ room_id: string; since_seq: number }>(
        'SELECT room_id, since_seq FROM hub_members WHERE socket_id = ?',
        row.socketId,
      )
      .toArray();
    const from = Math.max(offset, row.sinceSeq);
    const packets: LoggedPacket[] = [];
    const seen = new Set<number>();
    const read = (target: string, after: number) => {
      for (const r of this.sql
        .exec<{ seq: number; packet: string; exclude: string | null }>(
          'SELECT seq, packet, exclude FROM hub_log WHERE tenant_id = ? AND target = ? AND seq > ? ORDER BY seq',
          row.tenantId,
          target,
          after,
        )
        .toArray()) {
        if (r.exclude === row.socketId || seen.has(r.seq)) continue;
        seen.add(r.seq);
        packets.push({ seq: r.seq, packet: JSON.parse(r.packet) as unknown[] });
      }
    };
    read(`s:${row.socketId}`, from);
    read(`u:${row.userId}`, from);
    for (const m of memberships) read(`r:${m.room_id}`, Math.max(offset, m.since_seq));
    packets.sort((a, b) => a.seq - b.seq);
    this.dropCaches();
    this.sql.exec('DELETE FROM hub_members WHERE socket_id = ?', row.socketId);
    this.sql.exec('DELETE FROM hub_sockets WHERE socket_id = ?', row.socketId);
    this.sql.exec('UPDATE hub_recovery SET moved_to = ?, sid = NULL WHERE pid = ?', movedTo, row.pid);
    return { rooms: memberships.map((m) => m.room_id), packets };
  }

  /**
   * A user's connected sockets here, and whether a recovery session of theirs waits here (its packets are then
   * logged). Cached per user until a socket connects, drops or leaves (read only).
   */
  userSockets(tenantId: string, userId: string): { sockets: readonly SocketRow[]; detached: boolean } {
    const key = roomKey(tenantId, userId);
    let cached = this.users.get(key);
    if (!cached) {
      const sockets = this.sql
        .exec<Row>('SELECT socket_id, sid, user_id FROM hub_sockets WHERE tenant_id = ? AND user_id = ?', tenantId, userId)
        .toArray()
        .map(toSocketRow);
      const detached =
        this.sql
          .exec(
            'SELECT 1 FROM hub_recovery WHERE tenant_id = ? AND user_id = ? AND disconnected_at IS NOT NULL AND moved_to IS NULL LIMIT 1',
            tenantId,
            userId,
          )
          .toArray().length > 0;
      if (this.users.size >= CACHED_ROOMS) this.users.clear();
      cached = { sockets, detached };
      this.users.set(key, cached);
    }
    return cached;
  }

  allSockets(): Array<SocketRow & { tenantId: string }> {
    return this.sql
      .exec<Row>('SELECT socket_id, sid, user_id, tenant_id FROM hub_sockets')
      .toArray()
      .map((r) => ({ ...toSocketRow(r), tenantId: r.tenant_id as string }));
  }

  // ---- rooms ----------------------------------------------------------------------------------------------

  /** Adds a connected socket (its session `sid`) to a room; false when it was there already. */
  join(tenantId: string, roomId: string, socketId: string, userId: string, sid: string, sinceSeq: number): boolean {
    const before = this.sql
      .exec('SELECT 1 FROM hub_members WHERE tenant_id = ? AND room_id = ? AND socket_id = ?', tenantId, roomId, socketId)
      .toArray().length;
    if (before) return false;
    this.sql.exec(
      'INSERT INTO hub_members (tenant_id, room_id, socket_id, user_id, since_seq, connected) VALUES (?, ?, ?, ?, ?, 1)',
      tenantId,
      roomId,
      socketId,
      userId,
      sinceSeq,
    );
    const cached = this.members.get(roomKey(tenantId, roomId));
    if (cached) {
      cached.rows.set(socketId, { socketId, userId, sid });
      cached.view = null;
    }
    this.socketRooms.delete(socketId);
    return true;
  }

  leave(tenantId: string, roomId: string, socketId: string): boolean {
    const had = this.sql
      .exec('SELECT 1 FROM hub_members WHERE tenant_id = ? AND room_id = ? AND socket_id = ?', tenantId, roomId, socketId)
      .toArray().length;
    if (had) {
      this.sql.exec('DELETE FROM hub_members WHERE tenant_id = ? AND room_id = ? AND socket_id = ?', tenantId, roomId, socketId);
      const cached = this.members.get(roomKey(tenantId, roomId));
      if (cached) {
        cached.rows.delete(socketId);
        cached.view = null;
      }
      this.socketRooms.delete(socketId);
    }
    return had > 0;
  }

  /** The rooms a socket is in, sorted (do not modify the array: it is cached). */
  roomsOf(socketId: string): readonly string[] {
    let rooms = this.socketRooms.get(socketId);
    if (!rooms) {
      rooms = this.sql
        .exec<{ room_id: string }>('SELECT room_id FROM hub_members WHERE socket_id = ? ORDER BY room_id', socketId)
        .toArray()
        .map((r) => r.room_id);
      if (this.socketRooms.size >= CACHED_ROOMS) this.socketRooms.clear();
      this.socketRooms.set(socketId, rooms);
    }
    return rooms;
  }

  /** Members of a room here: connected ones with their session, and whether any detached one waits (cached: read only). */
  roomMembers(tenantId: string, roomId: string): RoomMembers {
    const key = roomKey(tenantId, roomId);
    let cached = this.members.get(key);
    if (!cached) {
      const rows = new Map<string, MemberRow>();
      for (const r of this.sql
        .exec<Row>(
          `SELECT m.socket_id, m.user_id, m.connected, s.sid FROM hub_members m
           LEFT JOIN hub_sockets s ON s.socket_id = m.socket_id WHERE m.tenant_id = ? AND m.room_id = ?`,
          tenantId,
          roomId,
        )
        .toArray()) {
        const sid = r.connected === 1 && typeof r.sid === 'string' ? r.sid : null;
        rows.set(r.socket_id as string, { socketId: r.socket_id as string, userId: r.user_id as string, sid });
      }
      if (this.members.size >= CACHED_ROOMS) this.members.clear();
      cached = { rows, view: null };
      this.members.set(key, cached);
    }
    if (!cached.view) {
      const connected: SocketRow[] = [];
      const userIds = new Set<string>();
      let detached = false;
      for (const m of cached.rows.values()) {
        userIds.add(m.userId);
        if (m.sid !== null) connected.push({ socketId: m.socketId, sid: m.sid, userId: m.userId });
        else detached = true;
      }
      cached.view = { connected, userIds: [...userIds], detached };
    }
    return cached.view;
  }

  private dropCaches(): void {
    this.members.clear();
    this.socketRooms.clear();
    this.users.clear();
  }

  // ---- the packet log -------------------------------------------------------------------------------------

  append(tenantId: string, target: string, packet: unknown[], exclude: string | undefined, now: number): number {
    return this.sql
      .exec<{ seq: number }>(
        'INSERT INTO hub_log (tenant_id, target, exclude, packet, at) VALUES (?, ?, ?, ?, ?) RETURNING seq',
        tenantId,
        target,
        exclude ?? null,
        JSON.stringify(packet),
        now,
      )
      .one().seq;
  }

  headSeq(): number {
    const r = this.sql.exec<{ seq: number | null }>("SELECT seq FROM sqlite_sequence WHERE name = 'hub_log'").toArray()[0];
    return r?.seq ?? 0;
  }

  /** Drops what no recovery can need any more: sessions gone longer than `windowMs`, and older log rows. */
  expire(now: number, windowMs: number): { expired: RecoveryRow[] } {
    const cutoff = now - windowMs;
    const expired = this.sql
      .exec<Row>('SELECT pid FROM hub_recovery WHERE disconnected_at IS NOT NULL AND disconnected_at <= ?', cutoff)
      .toArray()
      .map((r) => this.recovery(r.pid as string))
      .filter((r): r is RecoveryRow => r !== null);
    if (expired.length > 0) this.dropCaches();
    for (const r of expired) {
      if (r.movedTo === null) this.sql.exec('DELETE FROM hub_members WHERE socket_id = ?', r.socketId);
      this.sql.exec('DELETE FROM hub_recovery WHERE pid = ?', r.pid);
    }
    this.sql.exec('DELETE FROM hub_log WHERE at <= ?', cutoff);
    return { expired };
  }

  hasDetached(): boolean {
    return this.sql.exec('SELECT 1 FROM hub_recovery WHERE disconnected_at IS NOT NULL LIMIT 1').toArray().length > 0;
  }
}

const roomKey = (tenantId: string, roomId: string): string => `${tenantId}\u0000${roomId}`;

function toSocketRow(r: Row): SocketRow {
  return { socketId: r.socket_id as string, sid: r.sid as string, userId: r.user_id as string };
}
