import { inArea, MAX_WATCHED } from '../domain/chunk-area';
import { type ChunkRef, formatChunkId, parseChunkId } from '../domain/ring';
import type { Chunk } from './chunk';
import type { PlayerFrame } from './chunk-calls';
import type { ChunkStore } from './chunk-store';

/**
 * Far chunks a player watches (seed 000: a requested chunk's `chunk_updated` follows the requester). The chunk a
 * player stands in remembers what they requested; each watched chunk outside its area keeps a pointer back to
 * it (`chunk_watchers`), so its `chunk_updated` is delivered to the player through the chunk they stand in.
 * Neighbours need no pointer: their updates reach the area anyway.
 */
export class FarWatches {
  constructor(
    private readonly store: ChunkStore,
    private readonly here: { chunkId: string; ref: ChunkRef },
    private readonly chunkActor: (chunkId: string) => DurableObjectStub<Chunk>,
    private readonly background: (work: Promise<unknown>) => void,
  ) {}

  /** After a `chunk_request`: remembers the chunks; those outside this chunk's area point back here. */
  remember(userId: string, refs: ChunkRef[], now: number): void {
    for (const ref of refs) {
      const id = formatChunkId(ref);
      const known = this.store.watch(userId, id, now, true);
      if (!known && !inArea(this.here.ref, ref)) this.background(this.point(userId, id, this.here.chunkId));
    }
    for (const id of this.store.trimWatching(userId, MAX_WATCHED)) this.background(this.point(userId, id, null));
  }

  /** A player handed off to this chunk brings their watches: far ones point here, new neighbours need none. */
  adopt(userId: string, watching: string[], now: number): void {
    const valid = watching.filter(isChunkId);
    for (const id of valid.slice(0, MAX_WATCHED)) this.store.watch(userId, id, now, false);
    this.background(
      Promise.all(valid.map((id) => this.point(userId, id, inArea(this.here.ref, parseChunkId(id)) ? null : this.here.chunkId))),
    );
  }

  /** This chunk changed: `chunk_updated` to each far watcher through the chunk they stand in; gone ones are dropped. */
  async fanOut(
    frames: PlayerFrame[],
    deliverHere: (users: string[], frames: PlayerFrame[]) => Promise<{ gone: string[] }>,
  ): Promise<void> {
    await Promise.all(
      [...this.store.watchersByChunk()].map(async ([watcher, users]) => {
        try {
          const { gone } =
            watcher === this.here.chunkId
              ? await deliverHere(users, frames)
              : await this.chunkActor(watcher).deliverToPlayers(users, frames);
          for (const u of gone) this.store.dropWatcher(u, watcher);
        } catch (err) {
          console.error(`chunk ${this.here.chunkId}: chunk_updated to watcher ${watcher} failed`, err);
        }
      }),
    );
  }

  private async point(userId: string, chunkId: string, watcher: string | null): Promise<void> {
    try {
      await this.chunkActor(chunkId).setWatcher(userId, watcher);
    } catch (err) {
      console.error(`chunk ${this.here.chunkId}: watching ${chunkId} failed`, err);
    }
  }
}

function isChunkId(id: string): boolean {
  try {
    parseChunkId(id);
    return true;
  } catch {
    return false;
  }
}
