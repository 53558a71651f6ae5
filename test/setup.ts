import { applyD1Migrations, env } from 'cloudflare:test';
import { afterAll, afterEach } from 'vitest';
import { settleFile, settleSockets, trackAcceptedSockets } from './support/open-sockets';

// Real migrations, the same files `wrangler d1 migrations apply` runs. Idempotent: applied ones are skipped.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// No test ends with a socket close still on its way to an actor (see test/support/open-sockets.ts).
trackAcceptedSockets();
afterEach(() => settleSockets());
afterAll(() => settleFile());
