import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Every test runs inside workerd through Miniflare, against the real Worker in wrangler.toml,
// with the real D1 migrations applied in test/setup.ts.
export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            JWT_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
            ADMIN_USERNAME: 'admin',
            ADMIN_PASSWORD: 'Test-Admin-Pass-1',
            METRICS_TOKEN: 'test-metrics-token-0123456789abcdef',
          },
        },
      }),
    ],
    test: {
      include: ['test/**/*.test.ts'],
      exclude: ['test/e2e/**', 'node_modules/**'],
      setupFiles: ['./test/setup.ts'],
      testTimeout: 20_000,
      hookTimeout: 30_000,
    },
  };
});
