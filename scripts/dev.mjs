#!/usr/bin/env node
// `npm run dev [-- wrangler dev args]`: local secrets, migrated local D1, then `wrangler dev`.
// No account and no network: everything runs in workerd with state under .wrangler/.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };
const wrangler = join(root, 'node_modules', '.bin', 'wrangler');

if (!existsSync(join(root, '.dev.vars'))) {
  copyFileSync(join(root, '.dev.vars.example'), join(root, '.dev.vars'));
  console.log('[dev] created .dev.vars from .dev.vars.example (local secrets; the admin login is in it)');
}

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local'], { cwd: root, env, stdio: 'inherit' });
if (migrate.status !== 0) {
  console.error('[dev] applying local D1 migrations failed');
  process.exit(migrate.status ?? 1);
}

const child = spawn(wrangler, ['dev', '--local', ...process.argv.slice(2)], { cwd: root, env, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
