import { env } from 'cloudflare:test';
import { it } from 'vitest';
import { orchestratorActor } from '../src/actors/keys';
import type { ActorIdentity } from '../src/core/dialect';
import { uniqueTenant } from '../test/support/api';

/**
 * Measures, inside workerd: how fast one orchestrator actor logs, applies and queues published events (RPC, no
 * sockets, so only the publish path counts: log append, state update and save, write-behind row), in batches of
 * 1, 10 and 100. Prints a table; asserts nothing about speed. `npm run bench:publish`.
 */

const progress = (i: number) => ({
  type: 'progress_update',
  payload: { taskId: 'task-1', progress: { step: i, of: 1000, note: 'x'.repeat(200), files: ['a.ts', 'b.ts', 'c.ts'] } },
});

it('measures the orchestrator publish path', async () => {
  const rows: string[] = ['| batch | events/s | calls/s |', '| --- | --- | --- |'];
  for (const batch of [1, 10, 100]) {
    const tenantId = uniqueTenant();
    const identity: ActorIdentity = { userId: 'bench-service', tenantId, role: 'service', username: 'bench' };
    const room = orchestratorActor(env, tenantId);
    // A state of a realistic size: a started battle with a task and a planning output.
    await room.publishOrchestrator(identity, [
      { type: 'battle_start', payload: { taskId: 'task-1', task: { title: 't', body: 'y'.repeat(4000) } } },
      { type: 'planning_output', payload: { output: 'z'.repeat(8000) } },
    ]);
    const items = Array.from({ length: batch }, (_, i) => progress(i));
    let events = 0;
    const started = performance.now();
    while (performance.now() - started < 3000) {
      const r = await room.publishOrchestrator(identity, items);
      if (!r.ok) throw new Error(JSON.stringify(r));
      events += batch;
    }
    const seconds = (performance.now() - started) / 1000;
    rows.push(`| ${batch} | ${Math.round(events / seconds)} | ${Math.round(events / batch / seconds)} |`);
  }
  console.log(`\norchestrator publish path (RPC, no sockets)\n${rows.join('\n')}\n`);
});
