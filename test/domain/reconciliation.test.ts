import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalSha256 } from '../../src/domain/canonical-json';
import { applyOperation, type Entity, type Operation, type Policy } from '../../src/domain/reconciliation';
import { compareClocks, mergeClocks } from '../../src/domain/vector-clock';

const NOW = '2026-01-30T12:00:00.000Z';
let n = 0;
const op = (o: Partial<Operation> & Pick<Operation, 'operationType' | 'vectorClock'>): Operation => ({
  operationId: `op-${n++}`,
  clientId: 'c',
  tenantId: 't',
  entityType: 'document',
  entityId: 'doc-1',
  timestamp: '2026-01-30T12:00:00Z',
  ...o,
});

/** Applies operations in order from nothing, as the actor does; answers the final entity. */
function run(
  ops: Operation[],
  policy: Policy = 'last-writer-wins',
): { entity: Entity | null; statuses: string[]; conflicts: string[] } {
  let entity: Entity | null = null;
  let version = 0;
  const statuses: string[] = [];
  const conflicts: string[] = [];
  for (const o of ops) {
    const out = applyOperation(entity, o, policy, version + 1, NOW);
    if (out.entity) {
      entity = out.entity;
      version++;
    }
    statuses.push(out.status);
    conflicts.push(...out.conflicts.map((c) => `${c.type}:${c.fields.join(',')}:${c.resolution.winner}`));
  }
  return { entity, statuses, conflicts };
}

const create = op({
  operationType: 'CREATE',
  clientId: 'a',
  vectorClock: { a: 1 },
  payload: { title: 'T', body: 'B', tags: [] },
});

describe('canonical JSON (RFC 8785) and its checksum', () => {
  it('sorts keys, drops whitespace and is the same whatever order keys were written in', async () => {
    const one = { b: 1, a: [1, 'x', { d: null, c: true }] };
    const two = { a: [1, 'x', { c: true, d: null }], b: 1 };
    expect(canonicalJson(one)).toBe('{"a":[1,"x",{"c":true,"d":null}],"b":1}');
    expect(canonicalJson(two)).toBe(canonicalJson(one));
    // sha256 of the text above, computed outside the Worker (node:crypto).
    expect(await canonicalSha256(one)).toBe('88538364c2be8d0a2e850b74cd2f8a88747a017c5f379f6811e11fe452c660eb');
    expect(await canonicalSha256({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it('writes numbers and strings as RFC 8785 does, sorts by UTF-16 code units, and refuses what JSON cannot hold', () => {
    expect(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'é\n"'])).toBe('[1e+21,0.1,0,1.5e-7,"é\\n\\""]');
    // RFC 8785 §3.2.3's order: "\r" < "a" < U+20AC < U+1F600 (U+D83D U+DE00) < U+FB33.
    expect(canonicalJson({ '\ufb33': 5, '\ud83d\ude00': 3, '\u20ac': 1, '\r': 2, a: 4 })).toBe(
      '{"\\r":2,"a":4,"\u20ac":1,"\ud83d\ude00":3,"\ufb33":5}',
    );
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ x: () => 1 })).toThrow(TypeError);
  });
});

describe('vector clocks', () => {
  it('orders clocks: before, after, equal, concurrent; merge is the pointwise max', () => {
    expect(compareClocks({ a: 1 }, { a: 2 })).toBe('before');
    expect(compareClocks({ a: 2, b: 1 }, { a: 2 })).toBe('after');
    expect(compareClocks({ a: 1, b: 0 }, { a: 1 })).toBe('equal');
    expect(compareClocks({ a: 2 }, { b: 1 })).toBe('concurrent');
    expect(mergeClocks({ a: 2, b: 1 }, { b: 3, c: 1 })).toEqual({ a: 2, b: 3, c: 1 });
  });
});

describe('applyOperation', () => {
  it('applies a create, then an update that descends from it', () => {
    const r = run([create, op({ operationType: 'UPDATE', clientId: 'a', vectorClock: { a: 2 }, payload: { title: 'T2' } })]);
    expect(r.statuses).toEqual(['applied', 'applied']);
    expect(r.entity).toMatchObject({ data: { title: 'T2', body: 'B' }, vectorClock: { a: 2 }, version: 2 });
  });

  it('calls an older operation STALE_OPERATION and keeps the server state', () => {
    const r = run([
      create,
      op({ operationType: 'UPDATE', clientId: 'a', vectorClock: { a: 3 }, payload: { title: 'new' } }),
      op({ operationType: 'UPDATE', clientId: 'a', vectorClock: { a: 2 }, payload: { title: 'old' } }),
    ]);
    expect(r.statuses).toEqual(['applied', 'applied', 'rejected']);
    expect(r.conflicts).toEqual(['STALE_OPERATION:title:server']);
    expect(r.entity?.data.title).toBe('new');
  });

  it('merges concurrent updates of disjoint fields without a conflict', () => {
    const r = run([
      create,
      op({ operationType: 'UPDATE', clientId: 'a', vectorClock: { a: 2 }, payload: { title: 'from a' } }),
      op({ operationType: 'UPDATE', clientId: 'b', vectorClock: { a: 1, b: 1 }, payload: { body: 'from b' } }),
    ]);
    expect(r.statuses).toEqual(['applied', 'applied', 'merged']);
    expect(r.conflicts).toEqual([]);
    expect(r.entity).toMatchObject({ data: { title: 'from a', body: 'from b' }, vectorClock: { a: 2, b: 1 } });
  });

  it('last-writer-wins gives the same data whatever order concurrent updates arrive in', () => {
    const fromA = op({
      operationType: 'UPDATE',
      clientId: 'a',
      vectorClock: { a: 2 },
      timestamp: '2026-01-30T12:00:05Z',
      payload: { title: 'A', body: 'A' },
    });
    const fromB = op({
      operationType: 'UPDATE',
      clientId: 'b',
      vectorClock: { a: 1, b: 1 },
      timestamp: '2026-01-30T12:00:09Z',
      payload: { title: 'B', tags: ['b'] },
    });
    const sameTime = op({
      operationType: 'UPDATE',
      clientId: 'c',
      vectorClock: { a: 1, c: 1 },
      timestamp: '2026-01-30T12:00:09Z',
      payload: { title: 'C' },
    });
    const orders = [
      [create, fromA, fromB, sameTime],
      [create, sameTime, fromB, fromA],
      [create, fromB, sameTime, fromA],
    ];
    const results = orders.map((ops) => run(ops).entity);
    for (const e of results)
      expect(e).toMatchObject({ data: { title: 'C', body: 'A', tags: ['b'] }, vectorClock: { a: 2, b: 1, c: 1 } });
    expect(run(orders[0] as Operation[]).conflicts).toEqual(['CONCURRENT_UPDATE:title:client', 'CONCURRENT_UPDATE:title:client']);
  });

  it('follows the entity type policy on overlapping fields: server-wins, client-wins, manual', () => {
    const late = op({
      operationType: 'UPDATE',
      clientId: 'b',
      vectorClock: { a: 1, b: 1 },
      timestamp: '2026-01-30T13:00:00Z',
      payload: { title: 'B' },
    });
    const first = op({
      operationType: 'UPDATE',
      clientId: 'a',
      vectorClock: { a: 2 },
      timestamp: '2026-01-30T12:00:00Z',
      payload: { title: 'A' },
    });
    expect(run([create, first, late], 'server-wins').entity?.data.title).toBe('A');
    expect(run([create, first, late], 'server-wins').conflicts).toEqual(['CONCURRENT_UPDATE:title:server']);
    expect(run([create, late, first], 'client-wins').entity?.data.title).toBe('A');
    const manual = run([create, first, late], 'manual');
    expect(manual.entity?.data.title).toBe('A');
    expect(manual.statuses[2]).toBe('rejected');
    expect(manual.conflicts).toEqual(['CONCURRENT_UPDATE:title:none']);
  });

  it('names updates after a delete, creates of an existing entity, deletes of a concurrently modified one, and unknown entities', () => {
    const del = op({ operationType: 'DELETE', clientId: 'a', vectorClock: { a: 2 }, timestamp: '2026-01-30T12:00:05Z' });
    const afterDelete = run([
      create,
      del,
      op({
        operationType: 'UPDATE',
        clientId: 'b',
        vectorClock: { a: 1, b: 1 },
        timestamp: '2026-01-30T12:00:01Z',
        payload: { title: 'x' },
      }),
    ]);
    expect(afterDelete.conflicts).toEqual(['UPDATE_AFTER_DELETE:title:server']);
    expect(afterDelete.entity?.deleted).toBe(true);

    const twice = run([
      create,
      op({
        operationType: 'CREATE',
        clientId: 'b',
        vectorClock: { b: 1 },
        timestamp: '2026-01-30T11:00:00Z',
        payload: { title: 'dup' },
      }),
    ]);
    expect(twice.conflicts).toEqual(['CREATE_EXISTING::server']);
    expect(twice.entity?.data.title).toBe('T');

    const raced = run([
      create,
      op({
        operationType: 'UPDATE',
        clientId: 'a',
        vectorClock: { a: 2 },
        timestamp: '2026-01-30T12:00:10Z',
        payload: { title: 'edited' },
      }),
      op({ operationType: 'DELETE', clientId: 'b', vectorClock: { a: 1, b: 1 }, timestamp: '2026-01-30T12:00:01Z' }),
    ]);
    expect(raced.conflicts).toEqual(['DELETE_MODIFIED::server']);
    expect(raced.entity).toMatchObject({ deleted: false, data: { title: 'edited' } });

    const missing = run([op({ operationType: 'UPDATE', vectorClock: { a: 1 }, payload: { x: 1 } })]);
    expect(missing).toMatchObject({ entity: null, statuses: ['rejected'], conflicts: ['ENTITY_NOT_FOUND::server'] });
  });
});
