import type { Env } from './env';
import { createApp } from './http/app';
import { resolveVersion } from './http/versioning';

export { RateLimiter } from './actors/rate-limiter';
export { Room } from './actors/room';

const app = createApp();

export default {
  fetch(request, env, ctx) {
    const routed = resolveVersion(request);
    if (routed instanceof Response) return routed;
    return app.fetch(routed, env, ctx);
  },
} satisfies ExportedHandler<Env>;
