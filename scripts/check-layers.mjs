#!/usr/bin/env node
/**
 * The layer rules of src/, checked on every `npm run check`. Layers point one way:
 *
 *   errors.ts   the one error type            imports nothing of src
 *   domain/     pure rules                    errors.ts only; no Workers API, no Hono
 *   core/       the actor runtime             no http, actors, dialects, world
 *   dialects/   wire formats                  no http, actors
 *   world/, db/, auth/  services beside core  no http, actors
 *   actors/     Durable Objects (thin shells) anything but http
 *   http/       Hono routes                   anything
 *   client/     the browser library           itself and the wire protocol (core/protocol.ts) only
 *   web/        the demo page                 itself and client/ only
 *
 * and across them: only http/ and actors/ import actors/ (src/env.ts may import actor classes as types, for
 * the bindings); nothing outside http/ imports http/. src/index.ts is the Worker's entry and wires everything;
 * src/conformance/ is the entry of the protocol conformance Worker (wrangler.conformance.toml), likewise.
 *
 * "No Workers API in domain" is checked twice: here (no `cloudflare:*` or other package import but zod, no
 * Workers type named), and by `tsc -p tsconfig.domain.json` in `npm run check`, which type-checks src/domain
 * without @cloudflare/workers-types, against ES2024 and the few web-standard globals of
 * scripts/domain/web-platform.d.ts: any other global (a Workers type, fetch, WebSocket, timers) fails there.
 *
 * Usage: node scripts/check-layers.mjs [root]   (exit 1 and one line per broken rule)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const src = join(root, 'src');

/** The layer of a file under src/: its top folder, or the file itself for src/*.ts. */
const layerOf = (file) => {
  const [top] = relative(src, file).split(/[\\/]/);
  return top.replace(/\.tsx?$/, '');
};

const RULES = {
  errors: { only: [], why: 'errors.ts is below every layer' },
  domain: { only: ['domain', 'errors'], why: 'domain is pure rules (it may import src/errors.ts only)' },
  core: { not: ['http', 'actors', 'dialects', 'world'], why: 'core is the actor runtime every actor shares' },
  dialects: { not: ['http', 'actors'], why: 'dialects are wire formats only' },
  world: { not: ['http', 'actors'], why: 'world services sit beside core, below actors and http' },
  db: { not: ['http', 'actors'], why: 'db sits beside core, below actors and http' },
  auth: { not: ['http', 'actors'], why: 'auth sits beside core, below actors and http' },
  actors: { not: ['http'], why: 'actors are reached by http, never the other way' },
  client: { only: ['client', 'core/protocol'], why: 'client is the browser library: itself and the wire protocol' },
  web: { only: ['web', 'client'], why: 'web is the demo page: itself and the client' },
  env: { only: ['actors'], typeOnly: true, why: 'env.ts names the bindings: actor classes as types only' },
};

/** Packages the pure domain may use: no Workers API (cloudflare:*), no Hono. */
const DOMAIN_PACKAGES = new Set(['zod']);
/** Workers runtime types that have no place in pure rules. */
const WORKERS_API =
  /\b(D1Database|D1Result|D1PreparedStatement|DurableObject\w*|WebSocketPair|ExecutionContext|KVNamespace|R2Bucket|HTMLRewriter|ScheduledController)\b/;

function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'generated' && name !== 'node_modules') yield* sourceFiles(path);
    } else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) yield path;
  }
}

const stripComments = (code) =>
  code.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/** Static imports, re-exports and dynamic imports, with their line and whether they import types only. */
function importsOf(code) {
  const found = [];
  const re =
    /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(re)) {
    const spec = m[4] ?? m[5] ?? m[6];
    const at = m.index + m[0].search(/\S/);
    const line = code.slice(0, at).split('\n').length;
    const typeOnly =
      Boolean(m[2]) ||
      (m[3] !== undefined &&
        /^\{[^}]*\}$/.test(m[3].trim()) &&
        m[3]
          .replace(/[{}\s]/g, '')
          .split(',')
          .filter(Boolean)
          .every((n) => n.startsWith('type ')));
    found.push({ spec, line, typeOnly });
  }
  return found;
}

/** Where a relative import lands: a layer, and for core/client the file too (`core/protocol`). */
function targetOf(file, spec) {
  const abs = resolve(dirname(file), spec);
  const rel = relative(src, abs).split(/[\\/]/);
  if (rel[0] === '..') return null;
  return { layer: rel[0].replace(/\.tsx?$/, ''), path: rel.join('/').replace(/\.tsx?$/, '') };
}

const problems = [];
for (const file of sourceFiles(src)) {
  const layer = layerOf(file);
  if (layer === 'index' || layer === 'conformance') continue; // Worker entries wire every layer together
  const code = stripComments(readFileSync(file, 'utf8'));
  const here = relative(root, file);
  const rule = RULES[layer];
  for (const { spec, line, typeOnly } of importsOf(code)) {
    const at = `${here}:${line}`;
    if (!spec.startsWith('.')) {
      if (layer === 'domain' && !DOMAIN_PACKAGES.has(spec))
        problems.push(`${at} imports '${spec}': domain is pure rules (packages allowed: ${[...DOMAIN_PACKAGES].join(', ')})`);
      continue;
    }
    const target = targetOf(file, spec);
    if (!target || target.layer === layer) continue;
    const name = `src/${target.path}`;
    if (target.layer === 'http' && layer !== 'http') {
      problems.push(`${at} imports ${name}: nothing outside src/http imports src/http (move what it needs below http)`);
      continue;
    }
    if (target.layer === 'actors' && !(layer === 'env' && typeOnly)) {
      if (layer !== 'http' && layer !== 'actors') {
        problems.push(`${at} imports ${name}: only http and actors reach actors (${rule?.why ?? layer})`);
        continue;
      }
    }
    if (!rule) continue;
    const allowed = rule.only ? rule.only.some((l) => target.layer === l || target.path === l) : !rule.not.includes(target.layer);
    if (!allowed || (rule.typeOnly && !typeOnly)) problems.push(`${at} imports ${name}: ${rule.why}`);
  }
  if (layer === 'domain' && WORKERS_API.test(code)) {
    const line = code.split('\n').findIndex((l) => WORKERS_API.test(l)) + 1;
    problems.push(`${here}:${line} uses ${code.match(WORKERS_API)[0]}: domain is pure rules, no Workers API`);
  }
}

if (problems.length) {
  console.error(`Layer rules broken (${problems.length}); see scripts/check-layers.mjs for the rules:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('Layer rules hold.');
