/** Connection tickets (migration 0013): stored by hash, taken once. */

export interface TicketRow {
  ticketHash: string;
  tenantId: string;
  userId: number;
  /** The verified identity the ticket stands for, as JSON. */
  identity: string;
  expiresAt: string;
}

/** Stores a ticket and prunes expired ones in one batch. */
export async function insertTicket(db: D1Database, row: TicketRow, now: string): Promise<void> {
  await db.batch([
    db.prepare('DELETE FROM connection_tickets WHERE expires_at <= ?1').bind(now),
    db
      .prepare(
        'INSERT INTO connection_tickets (ticket_hash, tenant_id, user_id, identity, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)',
      )
      .bind(row.ticketHash, row.tenantId, row.userId, row.identity, row.expiresAt),
  ]);
}

/** Takes a ticket: deletes it and answers its identity JSON if it was there and unexpired. Atomic: one winner. */
export async function takeTicket(db: D1Database, ticketHash: string, now: string): Promise<string | null> {
  const row = await db
    .prepare('DELETE FROM connection_tickets WHERE ticket_hash = ?1 RETURNING identity, expires_at')
    .bind(ticketHash)
    .first<{ identity: string; expires_at: string }>();
  if (!row || row.expires_at <= now) return null;
  return row.identity;
}
