import { defineConfig } from 'tsdown';

// The client SDK as a package: ESM + declaration files from src/client (the one source the demo and the tests
// use too), for browsers, Node >= 20 and Workers alike (platform neutral, no Node built-ins).
export default defineConfig({
  entry: { index: '../../src/client/index.ts' },
  cwd: import.meta.dirname,
  outDir: 'dist',
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  dts: true,
  sourcemap: false,
  clean: true,
});
