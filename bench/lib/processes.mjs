// Child processes of the run: each in its own process group so the whole tree (wrangler -> workerd) can be
// stopped at the end, found by group for memory readings, and never outlives the harness.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from './util.mjs';

const children = new Set();
/** The cores every server under test runs on (`taskset -c` list), or null: set once by run.mjs. */
let serverCores = null;

/** From now on each server is started under `taskset -c cores` (the harness pins itself to the other cores). */
export function pinServersTo(cores) {
  serverCores = cores;
}

/** Spawns `cmd args` detached (own process group), output appended to `log` (a writable stream). */
export function spawnGroup(cmd, args, { cwd, env, log, ipc = false }) {
  // taskset execs the command: the pid (and so the process group) is the server's own.
  if (serverCores !== null) [cmd, args] = ['taskset', ['-c', serverCores, cmd, ...args]];
  const child = spawn(cmd, args, {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** SIGTERM to the group, SIGKILL after `graceMs` if anything is left. */
export async function stopGroup(child, graceMs = 5000) {
  if (!child || child.pid === undefined) return;
  const alive = () => groupPids(child.pid).length > 0;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(100);
  if (alive()) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone between the check and the kill
    }
  }
}

/** Last resort on an abrupt exit: SIGKILL every group still known. */
export function killAllGroupsSync() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Pids of the processes in process group `pgid`, with their command lines. */
export function groupProcesses(pgid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start at the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(entry), cmdline });
    } catch {
      // exited while listing
    }
  }
  return out;
}

export const groupPids = (pgid) => groupProcesses(pgid).map((p) => p.pid);

let clockTicks = null;
/** CPU seconds (user + system, all threads) used so far by `pid`, from /proc/<pid>/stat; 0 when it is gone. */
export function cpuSeconds(pid) {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by every process of group `pgid`: read before and after a step, the difference is its cost. */
export const groupCpuSeconds = (pgid) => groupPids(pgid).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
