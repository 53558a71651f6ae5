import { defineConfig } from 'vitest/config';
import base from '../vitest.config';

// `npm run bench:publish`: the orchestrator publish path, inside workerd like the tests, against the real Worker.
export default defineConfig(async (configEnv) => {
  const config = await (typeof base === 'function' ? base(configEnv) : base);
  return { ...config, test: { ...config.test, include: ['bench/orchestrator-publish.measure.ts'], testTimeout: 300_000 } };
});
