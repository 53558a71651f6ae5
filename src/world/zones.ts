import { createZone, type ZoneWrite } from '../db/zones';
import type { Floor } from '../domain/ring';
import { parseZoneDraft } from '../domain/zones';

/**
 * Zone creation shared by `POST /api/zones` and the socket's `zone_create`: one validator (src/domain/zones.ts),
 * one D1 write with the chunk-version bump. `defaultFloor` fills a missing `floor` (the seed's socket example has
 * none: the player's own floor is meant).
 */
export function createZoneFor(
  db: D1Database,
  who: { tenantId: string; userId: string },
  body: unknown,
  defaultFloor?: Floor,
): Promise<ZoneWrite> {
  const input =
    defaultFloor !== undefined && typeof body === 'object' && body !== null && !Array.isArray(body) && !('floor' in body)
      ? { ...body, floor: defaultFloor }
      : body;
  const draft = parseZoneDraft(input);
  return createZone(db, who.tenantId, Number(who.userId), draft, new Date().toISOString());
}
