/**
 * Coalesces calls to one peer: the first item goes at once; items submitted while that call is in flight go
 * together in the next call, in order. Under light load every item travels alone (no added latency); under load
 * one call carries many, so the per-call cost (an RPC hop between actors) is paid per batch, not per item.
 */
export class CallBatcher<I, O> {
  private queue: Array<{ item: I; resolve: (out: O) => void; reject: (err: unknown) => void }> = [];
  private inFlight = false;

  constructor(
    /** Answers the items in order, one output per item. */
    private readonly call: (items: I[]) => Promise<O[]>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const out = await this.call(batch.map((b) => b.item));
          if (out.length !== batch.length) throw new Error(`batched call answered ${out.length} of ${batch.length} items`);
          for (let i = 0; i < batch.length; i++) batch[i]?.resolve(out[i] as O);
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}
