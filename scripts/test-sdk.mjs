#!/usr/bin/env node
// `npm run test:sdk` (run by .ci/run): the client SDK as an outsider gets it. Builds packages/client with tsdown,
// packs it, installs the tarball into a scratch project offline (its dependency and `ws` packed from this
// project's node_modules), type-checks the examples (packages/client/examples) under
// `moduleResolution` `nodenext` and `bundler` with the library's declarations checked too, then runs the example
// against the Worker (`npm run dev` on free ports) on Node 22's built-in WebSocket, on Node >= 20 with `ws`, in
// Chromium and in workerd. Closes with `sdk: N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { build } from 'esbuild';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium } from './lib/chromium.mjs';
import { root, startWorker, stopServer } from './lib/worker.mjs';

const log = (...args) => console.log('[sdk]', ...args);
const pkgDir = join(root, 'packages/client');
const examples = join(pkgDir, 'examples');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (exit ${r.status}):\n${`${r.stdout}\n${r.stderr}`.slice(-3000)}`);
  return r.stdout;
}

/** A Node 20.x or 21.x binary on PATH other than the one running this (npm scripts run on Node 22). */
function olderNode() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const bin = join(dir, 'node');
    if (!dir || dir.includes('node_modules') || !existsSync(bin)) continue;
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (/^v2[01]\./.test(v)) return { bin, version: v };
  }
  return undefined;
}

const tsconfig = (options, files) =>
  JSON.stringify(
    { compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, target: 'es2022', ...options }, files },
    null,
    2,
  );

const scratch = mkdtempSync(join(tmpdir(), 'edgerooms-sdk-'));
const state = {};
const checks = [
  {
    name: 'tsdown builds dist/index.js and dist/index.d.ts; npm pack ships dist and package.json only',
    run() {
      run(process.execPath, [join(root, 'node_modules/tsdown/dist/run.mjs'), '-c', 'tsdown.config.ts'], { cwd: pkgDir });
      const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: pkgDir }));
      const files = packed.files.map((f) => f.path).sort();
      for (const f of ['dist/index.js', 'dist/index.d.ts', 'package.json'])
        if (!files.includes(f)) throw new Error(`${f} missing: ${files}`);
      const stray = files.filter((f) => !/^(dist\/|package\.json$|README\.md$)/.test(f));
      if (stray.length) throw new Error(`unexpected files in the tarball: ${stray}`);
      state.tarball = join(scratch, packed.filename);
    },
  },
  {
    name: 'the tarball installs offline into a scratch project (ws and the rest packed from node_modules)',
    run() {
      const app = join(scratch, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sdk-scratch', private: true, type: 'module' }));
      for (const f of ['scenario.ts', 'node.ts', 'browser.ts', 'worker.ts']) copyFileSync(join(examples, f), join(app, f));
      // The scratch project's other packages come from this project's node_modules, packed as they are: no
      // registry and no cache entry needed (the SDK's own dependency included, so npm finds every range met).
      const deps = join(scratch, 'deps');
      mkdirSync(deps);
      const local = ['ws', '@types/ws', '@types/node', 'undici-types', '@msgpack/msgpack'].map((name) => {
        const [packed] = JSON.parse(
          run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', deps, join(root, 'node_modules', name)], {
            cwd: deps,
          }),
        );
        return join(deps, packed.filename);
      });
      run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', state.tarball, ...local], { cwd: app });
      state.app = app;
    },
  },
  {
    name: 'plain Node imports it (ESM through exports, no TypeScript involved)',
    run() {
      const out = run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const m = await import('@edgerooms/client'); console.log(typeof m.createClient, typeof m.roomsDialect)",
        ],
        { cwd: state.app },
      );
      if (out.trim() !== 'function object') throw new Error(out);
    },
  },
  {
    name: 'type-checks under moduleResolution nodenext (Node example, with ws)',
    run() {
      writeFileSync(
        join(state.app, 'tsconfig.nodenext.json'),
        tsconfig({ module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'], types: ['node'] }, ['node.ts']),
      );
      run(process.execPath, [tsc, '-p', 'tsconfig.nodenext.json'], { cwd: state.app });
    },
  },
  {
    name: 'type-checks under moduleResolution bundler (browser and Worker examples)',
    run() {
      writeFileSync(
        join(state.app, 'tsconfig.bundler.json'),
        tsconfig({ module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: [] }, [
          'browser.ts',
          'worker.ts',
        ]),
      );
      run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], { cwd: state.app });
    },
  },
  {
    name: "runs on Node 22's built-in WebSocket against the Worker",
    async run({ base, token }) {
      await compileNode();
      const out = JSON.parse(
        run(process.execPath, [join(state.app, 'out/node.js'), base, token, 'builtin'], { cwd: state.app, timeout: 30_000 }),
      );
      if (out.text !== 'hello from the SDK') throw new Error(JSON.stringify(out));
    },
  },
  {
    name: 'runs on Node >= 20 with ws against the Worker',
    async run({ base, token }) {
      await compileNode();
      const older = olderNode();
      // Without an older Node on PATH, `ws` is still exercised, on this Node.
      const bin = older?.bin ?? process.execPath;
      const out = JSON.parse(run(bin, [join(state.app, 'out/node.js'), base, token, 'ws'], { cwd: state.app, timeout: 30_000 }));
      if (out.text !== 'hello from the SDK') throw new Error(JSON.stringify(out));
      log(`  (${out.runtime})`);
    },
  },
  {
    name: 'runs in Chromium (bundled from the scratch project) against the Worker',
    async run({ base, token }) {
      const bundle = await build({
        entryPoints: [join(state.app, 'browser.ts')],
        absWorkingDir: state.app,
        bundle: true,
        format: 'iife',
        platform: 'browser',
        target: 'es2022',
        write: false,
        logLevel: 'error',
      });
      ensureChromium(log);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/health`);
        await page.addScriptTag({ content: bundle.outputFiles[0].text });
        const text = await page.evaluate((t) => window.sdkCheck(t), token);
        if (text !== 'hello from the SDK') throw new Error(text);
      } finally {
        await browser.close();
      }
    },
  },
  {
    name: 'runs in workerd (a Worker bundling the package, Miniflare) against the Worker',
    async run({ base, token }) {
      const bundle = await build({
        entryPoints: [join(state.app, 'worker.ts')],
        absWorkingDir: state.app,
        bundle: true,
        format: 'esm',
        platform: 'neutral',
        conditions: ['workerd', 'worker', 'browser'],
        mainFields: ['browser', 'module', 'main'],
        target: 'es2022',
        write: false,
        logLevel: 'error',
      });
      // Miniflare (wrangler's local runtime): v4 options, converted where the installed major wants its new shape.
      const miniflare = await import('miniflare');
      const v4 = { modules: true, script: bundle.outputFiles[0].text, compatibilityDate: '2026-10-01' };
      const mf = new miniflare.Miniflare(miniflare.convertV4MiniflareOptions ? miniflare.convertV4MiniflareOptions(v4) : v4);
      try {
        const res = await mf.dispatchFetch('http://sdk.check/', { method: 'POST', body: JSON.stringify({ base, token }) });
        const out = await res.text();
        if (res.status !== 200 || JSON.parse(out).text !== 'hello from the SDK') throw new Error(`${res.status} ${out}`);
      } finally {
        await mf.dispose();
      }
    },
  },
];

/** The Node example compiled as a consumer would: esbuild, with the package and ws left for Node to resolve. */
async function compileNode() {
  if (state.nodeCompiled) return;
  await build({
    entryPoints: [join(state.app, 'node.ts')],
    absWorkingDir: state.app,
    bundle: true,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    target: 'node20',
    outdir: join(state.app, 'out'),
    logLevel: 'error',
  });
  state.nodeCompiled = true;
}

async function register(base) {
  const name = `sdk_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const res = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: name, email: `${name}@example.com`, password: 'SecurePass123!' }),
  });
  if (!res.ok) throw new Error(`register: ${res.status} ${await res.text()}`);
  return (await res.json()).access_token;
}

let passed = 0;
let failed = 0;
let worker;
try {
  for (const check of checks) {
    try {
      if (check.run.length > 0 && !worker) {
        worker = await startWorker();
        worker.token = await register(worker.base);
        log(`Worker on ${worker.base}`);
      }
      await check.run({ base: worker?.base, token: worker?.token });
      passed++;
      log(`ok   ${check.name}`);
    } catch (err) {
      failed++;
      log(`FAIL ${check.name}\n${err?.stack ?? err}`);
    }
  }
} finally {
  await stopServer(worker?.server);
  rmSync(scratch, { recursive: true, force: true });
  rmSync(join(pkgDir, 'dist'), { recursive: true, force: true });
}
console.log(`sdk: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
