#!/usr/bin/env node
// `npm test`: `vitest run` (arguments passed on), with its output as it comes, that also fails when the run
// printed `Closing rpc while "…" was pending`. Vitest prints that EnvironmentTeardownError when work a test left
// in flight (a socket close, a background call into an actor) reaches the runtime as the test file ends, and the
// run still ends green without this check (issue 14).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const TEARDOWN = /Closing rpc while "[^"]*" was pending/;
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const child = spawn(process.execPath, [vitest, 'run', ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'pipe'],
  env: { ...process.env, ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}) },
});

let teardown = null;
const check = (line) => {
  if (!teardown && TEARDOWN.test(line)) teardown = stripVTControlCharacters(line).trim();
};
// Lines are scanned whole: a chunk may end mid-line.
const tails = [];
const scan = (out) => {
  const tail = { rest: '' };
  tails.push(tail);
  return (chunk) => {
    out.write(chunk);
    const lines = (tail.rest + chunk.toString('utf8')).split('\n');
    tail.rest = lines.pop() ?? '';
    lines.forEach(check);
  };
};
child.stdout.on('data', scan(process.stdout));
child.stderr.on('data', scan(process.stderr));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));

child.on('close', (code, signal) => {
  for (const tail of tails) check(tail.rest);
  if (teardown) {
    console.error(`\n[test] a test left work in flight when its file ended: ${teardown}`);
    console.error(
      '[test] end it in the test (close and await sockets, await background calls): see test/support/open-sockets.ts',
    );
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
