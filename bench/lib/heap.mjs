// The Worker isolate's V8 heap, read over the inspector (Chrome DevTools Protocol) after a full garbage
// collection: what EdgeRooms' own JavaScript keeps alive, apart from the runtime's native memory (RSS).
import WebSocket from 'ws';
import { withTimeout } from './util.mjs';

/** The inspector target of the project's Worker (`core:user:<name>` in workerd under Miniflare). */
async function workerTarget(inspectorPort) {
  const res = await fetch(`http://127.0.0.1:${inspectorPort}/json/list`, { signal: AbortSignal.timeout(5000) });
  const targets = await res.json();
  const target = targets.find((t) => String(t.id).startsWith('core:user:')) ?? null;
  if (!target?.webSocketDebuggerUrl) throw new Error(`no Worker isolate among the inspector's targets on ${inspectorPort}`);
  return target.webSocketDebuggerUrl;
}

/**
 * `{ usedBytes, totalBytes, embedderBytes, backingStoreBytes }` of the Worker's isolate after `HeapProfiler.collectGarbage`
 * (usedBytes: live JS objects; embedderBytes: workerd's own objects V8 accounts; backingStoreBytes: ArrayBuffers).
 */
export async function isolateHeap(inspectorPort) {
  const url = await workerTarget(inspectorPort);
  const ws = new WebSocket(url);
  let next = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const wait = pending.get(msg.id);
    if (!wait) return;
    pending.delete(msg.id);
    if (msg.error) wait.reject(new Error(`${msg.error.message} (CDP)`));
    else wait.resolve(msg.result);
  });
  const call = (method, params) =>
    withTimeout(
      new Promise((resolve, reject) => {
        const id = ++next;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
      30_000,
      `inspector ${method}`,
    );
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
      10_000,
      'inspector connect',
    );
    await call('HeapProfiler.enable');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    await call('HeapProfiler.disable');
    return {
      usedBytes: usage.usedSize,
      totalBytes: usage.totalSize,
      embedderBytes: usage.embedderHeapUsedSize ?? null,
      backingStoreBytes: usage.backingStorageSize ?? null,
    };
  } finally {
    ws.terminate();
  }
}
