import { applyD1Migrations, env } from 'cloudflare:test';

// Real migrations, the same files `wrangler d1 migrations apply` runs. Idempotent: applied ones are skipped.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
