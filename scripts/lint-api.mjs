#!/usr/bin/env node
// `npm run lint:api` (run by .ci/run): starts the Worker with `npm run dev` on free ports, then checks what a
// newcomer reads first: the README's `curl -s …/openapi.json | head -c 300` prints JSON (no compression the client
// did not ask for), /openapi.json is clean under Redocly's recommended rules (redocly.yaml), /asyncapi.json has no
// error or warning from the AsyncAPI parser, and /docs serves its script itself. Closes with `api-docs: N passed,
// N failed`. Generic: whatever routes and channels the app has when it runs are what gets linted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { root, startWorker, stopServer } from './lib/worker.mjs';

const log = (...args) => console.log('[api-docs]', ...args);

/** A GET exactly as curl sends it: no Accept-Encoding unless given. */
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.end();
  });
}

const checks = [
  {
    name: "the README's `curl -s /openapi.json | head -c 300` prints JSON (no Accept-Encoding: plain body)",
    async run({ base }) {
      const res = await rawGet(`${base}/openapi.json`);
      if (res.headers['content-encoding'])
        throw new Error(`Content-Encoding: ${res.headers['content-encoding']} for a client that accepts none`);
      const head = res.body.subarray(0, 300).toString('utf8');
      if (!head.startsWith('{"openapi":"3.1.0"')) throw new Error(`first bytes: ${JSON.stringify(head.slice(0, 40))}`);
    },
  },
  {
    name: 'a client that accepts gzip gets gzip; one that accepts only deflate gets deflate',
    async run({ base }) {
      const gz = await rawGet(`${base}/openapi.json`, { 'Accept-Encoding': 'gzip' });
      if (gz.headers['content-encoding'] !== 'gzip' || gz.body[0] !== 0x1f)
        throw new Error(`gzip: ${gz.headers['content-encoding']}`);
      const df = await rawGet(`${base}/openapi.json`, { 'Accept-Encoding': 'deflate' });
      if (df.headers['content-encoding'] !== 'deflate') throw new Error(`deflate: ${df.headers['content-encoding']}`);
    },
  },
  {
    name: '/openapi.json: Redocly lint (recommended, redocly.yaml) reports no error and no warning',
    async run({ base, dir }) {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, (await rawGet(`${base}/openapi.json`)).body);
      const r = spawnSync(
        'npx',
        ['--no-install', 'redocly', 'lint', file, '--config', join(root, 'redocly.yaml'), '--format', 'stylish'],
        {
          cwd: root,
          encoding: 'utf8',
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        },
      );
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.status !== 0 || /\b(warning|error)\b/i.test(r.stdout))
        throw new Error(`redocly lint (exit ${r.status}):\n${out.slice(-3000)}`);
    },
  },
  {
    name: '/asyncapi.json: the AsyncAPI parser reports no error and no warning',
    async run({ base }) {
      const text = (await rawGet(`${base}/asyncapi.json`)).body.toString('utf8');
      const diagnostics = await new Parser().validate(text);
      // Severity: 0 error, 1 warning, 2 information, 3 hint.
      const problems = diagnostics.filter((d) => d.severity <= 1);
      if (problems.length) throw new Error(problems.map((d) => `${d.code} at ${d.path.join('/')}: ${d.message}`).join('\n'));
      const doc = JSON.parse(text);
      if (!doc.asyncapi.startsWith('3.') || Object.keys(doc.channels).length === 0)
        throw new Error('not an AsyncAPI 3 document with channels');
    },
  },
  {
    name: '/docs serves the reference page and its script from the Worker',
    async run({ base }) {
      const page = (await rawGet(`${base}/docs`)).body.toString('utf8');
      const src = /<script src="([^"]+)"/.exec(page)?.[1];
      if (!src?.startsWith('/docs/')) throw new Error(`script src ${src}`);
      const script = await rawGet(`${base}${src}`);
      if (script.status !== 200 || script.body.length < 100_000)
        throw new Error(`script: ${script.status}, ${script.body.length} bytes`);
    },
  },
];

let passed = 0;
let failed = 0;
const dir = mkdtempSync(join(tmpdir(), 'edgerooms-api-docs-'));
let worker;
try {
  worker = await startWorker();
  log(`Worker on ${worker.base}`);
  for (const check of checks) {
    try {
      await check.run({ base: worker.base, dir });
      passed++;
      log(`ok   ${check.name}`);
    } catch (err) {
      failed++;
      log(`FAIL ${check.name}\n${err?.message ?? err}`);
    }
  }
} catch (err) {
  console.error('[api-docs] setup failed:', err?.stack ?? err);
  failed = checks.length - passed;
} finally {
  await stopServer(worker?.server);
  rmSync(dir, { recursive: true, force: true });
}
console.log(`api-docs: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
