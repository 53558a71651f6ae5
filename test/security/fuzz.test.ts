import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { collabRoomKey, orchestratorKey } from '../../src/actors/keys';
import { decodeFrame } from '../../src/core/codec';
import { nextIp, type Session, tenantAdmin, uniqueTenant } from '../support/api';

/**
 * Property-based fuzzing (fast-check): hostile bodies on every REST route that takes one (read from the
 * OpenAPI document, so a new route is fuzzed too) and hostile frames on every dialect's decoder. Never a 500,
 * never a crash, and refused input changes nothing. Run counts stay small: the machine is shared.
 */
const RUNS = 12;

/** Hostile JSON: deep, wide, odd numbers, unicode, prototype keys. */
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  fc.constantFrom(
    '__proto__',
    { __proto__: { admin: true } },
    { constructor: { prototype: { role: 'admin' } } },
    Number.MAX_SAFE_INTEGER,
    -0,
    1e308,
    '\u0000\ud800',
    'x'.repeat(5000),
  ),
  fc.integer({ min: 30, max: 3000 }).map((n) => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  }),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 20 }),
);

let tenant: string;
let admin: Session;
beforeAll(async () => {
  tenant = uniqueTenant();
  admin = await tenantAdmin(tenant);
});

async function routesWithBodies(): Promise<Array<{ method: string; path: string }>> {
  const doc = await (await SELF.fetch('https://edge.test/openapi.json')).json<{
    paths: Record<string, Record<string, unknown>>;
  }>();
  const out: Array<{ method: string; path: string }> = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      if (['post', 'put', 'patch'].includes(method))
        out.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, '1') });
    }
  }
  return out;
}

describe('fuzz: REST bodies', () => {
  it('never answers 500 to a hostile body on any route that takes one', async () => {
    const routes = await routesWithBodies();
    expect(routes.length).toBeGreaterThan(15);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), hostile, async ({ method, path }, body) => {
        const res = await SELF.fetch(`https://edge.test${path}`, {
          method,
          headers: {
            'Content-Type': 'application/json',
            Authorization: `Bearer ${admin.access_token}`,
            'CF-Connecting-IP': nextIp(),
          },
          body: JSON.stringify(body),
        });
        const text = await res.text();
        expect(res.status, `${method} ${path} → ${text.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: RUNS * 4 },
    );
  });
});

describe('fuzz: frame decoders', () => {
  it('decodeFrame never throws on arbitrary text or bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 2000 }), fc.uint8Array({ maxLength: 2000 })), (input) => {
        const decoded = decodeFrame(typeof input === 'string' ? input : input.buffer);
        expect(typeof decoded.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('every dialect answers hostile HTTP-sent frames without SERVER_ERROR, and refused frames publish nothing', async () => {
    const targets = [
      { stub: env.ROOM.getByName(collabRoomKey(tenant, 'fuzz')), dialect: 'collab' },
      { stub: env.ROOM.getByName(orchestratorKey(tenant)), dialect: 'orchestrator' },
    ];
    const who = { userId: String(admin.user_id), tenantId: tenant, role: 'admin' as const, username: admin.username };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), hostile, async ({ stub, dialect }, frame) => {
        const cursor = async () =>
          ((await stub.poll(who, dialect, { limit: 1 })) as unknown as { nextEventId: string | null }).nextEventId;
        const before = await cursor();
        const body = JSON.stringify(frame) ?? 'null';
        const sent = (await stub.sendFrame(who, dialect, body)) as { frames: unknown[] };
        const text = JSON.stringify(sent.frames);
        expect(text).not.toContain('SERVER_ERROR');
        const after = await cursor();
        const refused = sent.frames.length > 0 && /"error"/.test(text) && !/"response"/.test(text);
        if (refused) expect(after).toBe(before);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
