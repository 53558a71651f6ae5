/**
 * D1 `actor_metrics` (migrations 0012, 0016): every reporting actor's last samples, one row per actor. Reports
 * carry absolute values, so a row replaced twice with the same report changes nothing.
 */
import type { Sample } from '../core/metrics';

/** An actor's samples, replacing its previous report. */
export function saveActorMetrics(db: D1Database, actor: string, samples: Sample[], now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO actor_metrics (actor, samples, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (actor) DO UPDATE SET samples = excluded.samples, updated_at = excluded.updated_at`,
    )
    .bind(actor, JSON.stringify(samples), now);
}

/** Every actor's last report, or (with `since`, ms since the epoch) those reported at or after it. */
export async function readActorMetrics(db: D1Database, since?: number): Promise<Sample[][]> {
  const stmt =
    since === undefined
      ? db.prepare('SELECT samples FROM actor_metrics')
      : db.prepare('SELECT samples FROM actor_metrics WHERE updated_at >= ?1').bind(since);
  const { results } = await stmt.all<{ samples: string }>();
  return results.map((r) => JSON.parse(r.samples) as Sample[]);
}
