// Scenario 8 (seed 003's hub against Socket.IO 4) as Markdown: the figures side by side, ratios to Socket.IO and
// the issue's targets (fan-out and ack round trip ≥ 1× Socket.IO; round trip p99 at 1,000 msg/s under 5 ms).

const fmt = (x) => (x === null || x === undefined ? '–' : String(x));
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? (a / b).toFixed(2) : '–');
const why = (r) =>
  r === undefined ? 'not selected' : r?.notRun ? `not run: ${r.notRun}` : r?.error ? `failed: ${r.error}` : null;

export function hubMarkdown(results) {
  const e = results.edgerooms;
  const s = results.socketio;
  const lines = ['## 8. Hub (seed 003) against Socket.IO 4: the same socket.io-client clients', ''];
  for (const [name, r] of [
    ['EdgeRooms', e],
    ['Socket.IO 4', s],
  ]) {
    const w = why(r);
    if (w) lines.push(`${name}: ${w}`, '');
  }
  if (why(e) || why(s)) return lines.join('\n');
  const row = (label, a, b, higherIsBetter, target = '') => {
    const r = higherIsBetter ? ratio(a, b) : ratio(b, a);
    return `| ${label} | ${fmt(a)} | ${fmt(b)} | ${r === '–' ? r : `${r}×`} | ${target} |`;
  };
  const rtE = e.roundTrip?.at1000 ?? {};
  const rtS = s.roundTrip?.at1000 ?? {};
  lines.push(
    '| figure | EdgeRooms | Socket.IO 4 | EdgeRooms as a multiple of Socket.IO (higher is better) | target |',
    '| --- | --- | --- | --- | --- |',
    row('connects/s (token verified, `connected` received)', e.connect.perSec, s.connect.perSec, true),
    row('ack round trip one at a time, p50 ms', e.roundTrip?.idle?.p50, s.roundTrip?.idle?.p50, false),
    row('ack round trip at 1,000 msg/s, p50 ms', rtE.p50, rtS.p50, false, '≥ 1×'),
    row(
      'ack round trip at 1,000 msg/s, p99 ms',
      rtE.p99,
      rtS.p99,
      false,
      `≥ 1×; EdgeRooms < 5 ms: ${rtE.p99 < 5 ? 'met' : 'not met'}`,
    ),
    row(
      'room of 100: deliveries/s (best step ≤ 1% missing, p99 ≤ 1 s)',
      e.fanOut100?.bestDeliveredPerSec,
      s.fanOut100?.bestDeliveredPerSec,
      true,
      '≥ 1×',
    ),
    row('room of 100: p99 ms at that step', e.fanOut100?.bestP99, s.fanOut100?.bestP99, false),
    row(
      `room of ${e.fanOut1000?.members}: deliveries/s`,
      e.fanOut1000?.bestDeliveredPerSec,
      s.fanOut1000?.bestDeliveredPerSec,
      true,
      '≥ 1×',
    ),
    row(`room of ${e.fanOut1000?.members}: p99 ms at that step`, e.fanOut1000?.bestP99, s.fanOut1000?.bestP99, false),
    row('room of 100 filled: ms until the last join ack', e.fanOut100?.joinMs, s.fanOut100?.joinMs, false),
    row(`room of ${e.fanOut1000?.members ?? 1000} filled: ms`, e.fanOut1000?.joinMs, s.fanOut1000?.joinMs, false),
    row('RSS per idle socket, KiB (all server processes)', e.memory?.perIdleSocketKiB, s.memory?.perIdleSocketKiB, false),
    '',
    ...['roundTrip', 'fanOut100', 'fanOut1000'].flatMap((k) =>
      [e, s].filter((r) => r[k]?.error).map((r) => `${r === e ? 'EdgeRooms' : 'Socket.IO'} ${k} failed: ${r[k].error}.`),
    ),
    `Round trip at 1,000/s: achieved ${fmt(rtE.achieved)} / ${fmt(rtS.achieved)} msg/s, errors ${fmt(rtE.errors)} / ${fmt(rtS.errors)}, lost ${fmt(rtE.lost)} / ${fmt(rtS.lost)}. Every fan-out step is in \`latest.json\` (\`results.hub\`).`,
  );
  return lines.join('\n');
}
