#!/usr/bin/env node
/**
 * Keeps docs/ARCHITECTURE.md true on every `npm run check`: every Durable Object binding of wrangler.toml and
 * wrangler.conformance.toml is in its table with its class, every class is exported by its Worker's entry, and every
 * repository path the architecture document and src/core/README.md name exists.
 *
 * Usage: node scripts/check-docs.mjs [root]   (exit 1 and one line per problem)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const read = (path) => readFileSync(join(root, path), 'utf8');
const architecture = read('docs/ARCHITECTURE.md');
const problems = [];

const WORKERS = [
  { config: 'wrangler.toml', entry: 'src/index.ts' },
  { config: 'wrangler.conformance.toml', entry: 'src/conformance/index.ts' },
];
for (const { config, entry } of WORKERS) {
  const toml = read(config);
  const exported = read(entry);
  for (const m of toml.matchAll(/\[\[durable_objects\.bindings\]\]\s*\nname\s*=\s*"(\w+)"\s*\nclass_name\s*=\s*"(\w+)"/g)) {
    const [, binding, className] = m;
    if (!architecture.includes(`\`${binding}\``)) problems.push(`${config}: binding ${binding} is not in docs/ARCHITECTURE.md`);
    if (!architecture.includes(`\`${className}\``)) problems.push(`${config}: class ${className} is not in docs/ARCHITECTURE.md`);
    if (!new RegExp(`export\\s*\\{[^}]*\\b${className}\\b`).test(exported) && !exported.includes(`class ${className} `))
      problems.push(`${config}: class ${className} is not exported by ${entry}`);
  }
}

/** Paths a document names (`src/...`, `test/...`, `scripts/...`, `docs/...`), but for examples of what is gone. */
for (const doc of ['docs/ARCHITECTURE.md', 'src/core/README.md']) {
  for (const m of read(doc).matchAll(/\b((?:src|test|scripts|docs|migrations|bench|packages)\/[\w./-]+)/g)) {
    const path = m[1].replace(/[.]+$/, '');
    if (path.includes('zz-violation')) continue;
    if (!existsSync(join(root, path)) && !existsSync(join(root, `${path}.ts`)))
      problems.push(`${doc} names ${path}, which does not exist`);
  }
}

if (problems.length) {
  console.error(`Architecture document out of date (${problems.length}):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('Architecture document matches the code.');
