import type { Env } from './env';
import { createApp } from './http/app';
import { rewriteVersionedPath } from './http/versioning';

export { Chunk } from './actors/chunk';
export { Crafting } from './actors/crafting';
export { CraftingQueue } from './actors/crafting-queue';
export { EventBus } from './actors/event-bus';
export { Hub } from './actors/hub';
export { Race } from './actors/race';
export { RateLimiter } from './actors/rate-limiter';
export { Reconciliation } from './actors/reconciliation';
export { Room } from './actors/room';

const app = createApp();

export default {
  fetch(request, env, ctx) {
    return app.fetch(rewriteVersionedPath(request), env, ctx);
  },
} satisfies ExportedHandler<Env>;
