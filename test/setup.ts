import { applyD1Migrations, env, evictAllDurableObjects } from 'cloudflare:test';
import { afterAll } from 'vitest';

// Real migrations, the same files `wrangler d1 migrations apply` runs. Idempotent: applied ones are skipped.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Work an actor started for a test but still runs after it (a Chunk's `waitUntil` far watches after a move, a
// write-behind flush) must end before the file's environment closes, or it asks the closing runner for a module
// ("EnvironmentTeardownError: Closing rpc while "resolve" was pending"). Eviction waits for in-flight work to drain.
afterAll(() => evictAllDurableObjects());
