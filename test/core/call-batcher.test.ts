import { describe, expect, it } from 'vitest';
import { CallBatcher } from '../../src/core/call-batcher';

/** A call whose answer the test releases by hand, recording the batches it was given. */
function manualCall() {
  const batches: number[][] = [];
  const releases: Array<(fail?: Error) => void> = [];
  const call = (items: number[]) => {
    batches.push(items);
    return new Promise<string[]>((resolve, reject) => {
      releases.push((fail) => (fail ? reject(fail) : resolve(items.map((i) => `r${i}`))));
    });
  };
  return { batches, releases, call };
}

describe('CallBatcher', () => {
  it('sends the first item at once and the ones queued behind an in-flight call together, in order', async () => {
    const m = manualCall();
    const batcher = new CallBatcher(m.call);
    const first = batcher.submit(1);
    expect(m.batches).toEqual([[1]]); // no waiting when nothing is in flight
    const queued = [batcher.submit(2), batcher.submit(3), batcher.submit(4)];
    expect(m.batches).toEqual([[1]]);
    m.releases[0]?.();
    expect(await first).toBe('r1');
    await Promise.resolve();
    expect(m.batches).toEqual([[1], [2, 3, 4]]);
    m.releases[1]?.();
    expect(await Promise.all(queued)).toEqual(['r2', 'r3', 'r4']);
  });

  it('caps a batch at maxBatch items', async () => {
    const m = manualCall();
    const batcher = new CallBatcher(m.call, 2);
    const all = [1, 2, 3, 4, 5].map((i) => batcher.submit(i));
    for (let k = 0; k < 3; k++) {
      await Promise.resolve();
      m.releases[k]?.();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(m.batches).toEqual([[1], [2, 3], [4, 5]]);
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('a failed call rejects only its own batch; the next batch still goes', async () => {
    const m = manualCall();
    const batcher = new CallBatcher(m.call);
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    m.releases[0]?.(new Error('peer gone'));
    await expect(first).rejects.toThrow('peer gone');
    await new Promise((r) => setTimeout(r, 0));
    m.releases[1]?.();
    expect(await second).toBe('r2');
  });

  it('rejects a batch whose answer does not have one output per item', async () => {
    const batcher = new CallBatcher<number, string>(async () => ['only one']);
    const a = batcher.submit(1);
    await expect(a).resolves.toBe('only one');
    const wrong = new CallBatcher<number, string>(async () => []);
    await expect(wrong.submit(1)).rejects.toThrow('answered 0 of 1 items');
  });
});
