// Turns a run's JSON into the Markdown table, the issue's targets verdicts and the SVG chart.
import { hubMarkdown } from './hub-report.mjs';

const TARGETS = ['edgerooms', 'ws', 'socketio'];
const LABELS = { edgerooms: 'EdgeRooms', ws: 'ws (bare Node)', socketio: 'Socket.IO 4' };

/** EdgeRooms' label names the runtime it ran on (npm start, or wrangler dev: the dev loop). */
function labelsOf(run) {
  const edge = run.targets?.find((t) => t.name === 'edgerooms')?.label;
  if (edge) LABELS.edgerooms = edge;
}
const COLORS = { edgerooms: '#f38020', ws: '#2b6cb0', socketio: '#2f855a' };

const fmt = (x, digits = 2) =>
  x === null || x === undefined ? '–' : typeof x === 'number' ? String(Number(x.toFixed(digits))) : String(x);
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? `${(a / b).toFixed(2)}×` : '–');
const kib = (bytes) => (bytes === null || bytes === undefined ? '–' : `${(bytes / 1024).toFixed(1)} KiB`);

/** Why a scenario has no figures for a target: not selected, not run (with the reason), or failed. */
function absent(r) {
  if (r === undefined) return 'not selected';
  if (r?.notRun) return `not run: ${r.notRun}`;
  if (r?.skipped) return `n/a: ${r.skipped}`;
  if (r?.error) return `failed: ${r.error}`;
  return null;
}

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function rowOrAbsent(name, r, cells, width) {
  const why = absent(r);
  if (why) return [LABELS[name], why, ...Array(width - 2).fill('')];
  return [LABELS[name], ...cells(r)];
}

export function targetsVerdicts(results, quick) {
  const out = [];
  const rt = results.roundTrip?.edgerooms?.at1000;
  if (rt?.p99 !== undefined) {
    out.push({
      target: 'Round trip p99 < 5 ms at 1,000 msg/s',
      value: `${fmt(rt.p99)} ms`,
      met: rt.p99 !== null && rt.p99 < 5 && rt.lost === 0 && rt.errors === 0,
    });
  }
  const conn = results.connections?.edgerooms;
  if (conn?.attempted) {
    out.push({
      target: '10,000 concurrent connections held',
      value: `${conn.heldAfterIdle ?? conn.held} of ${conn.attempted}${quick ? ' (quick run: 1,000 attempted)' : ''}${conn.cappedBy ? ` (capped by the ${conn.cappedBy})` : ''}`,
      met: !quick && (conn.heldAfterIdle ?? conn.held) >= 10_000,
    });
    const per = conn.memory.bytesPerExtraConnectionAfterIdle ?? conn.memory.bytesPerExtraConnection;
    out.push({
      target: 'Under 10 KB runtime memory per idle connection (per further socket)',
      value: kib(per),
      met: per !== null && per < 10_000,
    });
    const heap = conn.isolateHeap?.bytesPerExtraConnectionAfterIdle ?? conn.isolateHeap?.bytesPerExtraConnection;
    if (typeof heap === 'number') {
      out.push({ target: "Project's JS heap per idle socket under 2 KB (issue 15)", value: `${heap} B`, met: heap < 2048 });
    }
  }
  const rest = results.rest?.edgerooms;
  if (typeof rest?.ratioToHonoNode === 'number') {
    out.push({
      target: 'Authenticated GET ≥ 0.5× Hono on Node, p99 no worse (issue 15)',
      value: `${rest.mean.requestsPerSecond} vs ${rest.honoNode.mean.requestsPerSecond} req/s (${rest.ratioToHonoNode}×), p99 ${rest.mean.p99} vs ${rest.honoNode.mean.p99} ms`,
      met: rest.ratioToHonoNode >= 0.5 && rest.mean.p99 <= rest.honoNode.mean.p99,
    });
  }
  for (const size of ['100', '1000']) {
    const e = results.fanOut?.edgerooms?.[size]?.maxDeliveredPerSecond;
    const s = results.fanOut?.socketio?.[size]?.maxDeliveredPerSecond;
    const w = results.fanOut?.ws?.[size]?.maxDeliveredPerSecond;
    if (typeof e === 'number' && typeof s === 'number') {
      out.push({ target: `Fan-out (${size} clients) ≥ Socket.IO`, value: `${e} vs ${s} msg/s`, met: e >= s });
    }
    if (typeof e === 'number' && typeof w === 'number') {
      out.push({ target: `Fan-out (${size} clients) ≥ ½ bare ws`, value: `${e} vs ${w} msg/s`, met: e >= w / 2 });
    }
  }
  return out;
}

export function markdown(run) {
  labelsOf(run);
  const r = run.results;
  const m = run.machine;
  const parts = [
    `# EdgeRooms benchmark: ${run.mode} run, ${run.startedAt}`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}. Node ${m.node}, workerd ${m.workerd}, wrangler ${m.wrangler}, ws ${m.ws}, Socket.IO ${m.socketio}. ` +
      `Load average at start: ${m.loadAverageAtStart.join(' / ')}. Run took ${run.durationSeconds} s.`,
    '',
    ...run.notes.map((n) => `- ${n}`),
    '',
  ];

  const verdicts = targetsVerdicts(r, run.mode === 'quick');
  if (verdicts.length) {
    parts.push(
      '## Targets (issues 6 and 15)',
      '',
      table(
        ['target', 'measured', 'met'],
        verdicts.map((v) => [v.target, v.value, v.met ? 'yes' : 'no']),
      ),
      '',
    );
  }

  if (r.roundTrip) {
    const rows = [];
    for (const name of TARGETS) {
      const x = r.roundTrip[name];
      rows.push(
        rowOrAbsent(
          name,
          x,
          (v) => [
            `${fmt(v.idle.p50)} / ${fmt(v.idle.p99)} / ${fmt(v.idle.max)}`,
            `${fmt(v.at1000.p50)} / ${fmt(v.at1000.p99)} / ${fmt(v.at1000.max)}`,
            `${v.at1000.achieved}`,
            `${v.at1000.lost + v.idle.lost} / ${v.at1000.errors + v.idle.errors}`,
            ratio(v.at1000.p99, r.roundTrip.ws?.at1000?.p99),
            ratio(v.at1000.p99, r.roundTrip.socketio?.at1000?.p99),
            fmt(v.at1000.cpuMicrosPerRoundTrip),
          ],
          8,
        ),
      );
      if (name === 'edgerooms' && x?.autoAt1000) {
        rows.push([
          'EdgeRooms, runtime auto-response `ping`',
          `${fmt(x.autoIdle.p50)} / ${fmt(x.autoIdle.p99)} / ${fmt(x.autoIdle.max)}`,
          `${fmt(x.autoAt1000.p50)} / ${fmt(x.autoAt1000.p99)} / ${fmt(x.autoAt1000.max)}`,
          `${x.autoAt1000.achieved}`,
          `${x.autoAt1000.lost + x.autoIdle.lost} / ${x.autoAt1000.errors + x.autoIdle.errors}`,
          ratio(x.autoAt1000.p99, r.roundTrip.ws?.at1000?.p99),
          ratio(x.autoAt1000.p99, r.roundTrip.socketio?.at1000?.p99),
          fmt(x.autoAt1000.cpuMicrosPerRoundTrip),
        ]);
      }
    }
    parts.push(
      '## 1. Round trip (ms)',
      '',
      table(
        [
          'server',
          'idle p50 / p99 / max',
          'at 1,000 msg/s p50 / p99 / max',
          'achieved msg/s',
          'lost / error frames',
          'p99 ÷ ws',
          'p99 ÷ Socket.IO',
          'server CPU µs per round trip at 1,000/s',
        ],
        rows,
      ),
      '',
    );
  }

  if (r.fanOut) {
    const rows = [];
    for (const size of ['100', '1000']) {
      // EdgeRooms twice: one frame per event, then (`<size>:batched`) one frame per published batch.
      const series = TARGETS.flatMap((name) => [
        [name, size, LABELS[name]],
        ...(r.fanOut[name]?.[`${size}:batched`] ? [[name, `${size}:batched`, `${LABELS[name]}, batched frames`]] : []),
      ]);
      for (const [name, key, label] of series) {
        const x = r.fanOut[name];
        const why = absent(x);
        if (why) {
          rows.push([`${size}`, label, why, '', '', '', '', '', '']);
          continue;
        }
        const room = x[key];
        const last = room.steps.filter((s) => !s.stopped).at(-1);
        const stop = room.steps.find((s) => s.stopped);
        rows.push([
          size,
          label,
          String(room.maxDeliveredPerSecond),
          last ? `${last.rate}/s: ${fmt(last.p50)} / ${fmt(last.p99)}` : '–',
          fmt(last?.cpuMicrosPerDelivered),
          stop
            ? `${stop.rate}/s (loss ${(stop.loss * 100).toFixed(1)}%, p99 ${fmt(stop.p99)} ms)`
            : 'none within the rates tried',
          ratio(room.maxDeliveredPerSecond, r.fanOut.ws?.[size]?.maxDeliveredPerSecond),
          ratio(room.maxDeliveredPerSecond, r.fanOut.socketio?.[size]?.maxDeliveredPerSecond),
          String(room.connectSeconds),
        ]);
      }
    }
    parts.push(
      '## 2. Fan-out, one room, one publisher, 100-byte events',
      '',
      table(
        [
          'clients',
          'server',
          'max delivered msg/s (no stop)',
          'at that rate p50 / p99 ms',
          'server CPU µs per delivered msg',
          'stopped at',
          '÷ ws',
          '÷ Socket.IO',
          'connect s',
        ],
        rows,
      ),
      '',
      "Every step of every series is in `latest.json` (`results.fanOut`, with each step's server CPU); the chart plots them.",
      '',
    );
  }

  if (r.connections) {
    const rows = TARGETS.map((name) =>
      rowOrAbsent(
        name,
        r.connections[name],
        (v) => [
          `${v.connected} / ${v.attempted}${v.cappedBy ? ` (cap: ${v.cappedBy})` : ''}${v.failed ? ` (${v.failed} failed: ${v.firstFailure})` : ''}`,
          String(v.connectsPerSecond),
          `${v.held}${v.memory.afterIdle ? ` → ${v.heldAfterIdle}` : ''}`,
          v.memory.before.processes.map((p) => `${p.role} ${Math.round((p.rssKiB ?? 0) / 1024)}`).join(', '),
          (v.memory.afterIdle ?? v.memory.after).processes
            .map((p) => `${p.role} ${Math.round((p.rssKiB ?? 0) / 1024)}`)
            .join(', '),
          kib(v.memory.bytesPerRoom),
          `${kib(v.memory.bytesPerExtraConnection)}${v.memory.afterIdle ? ` → ${kib(v.memory.bytesPerExtraConnectionAfterIdle)}` : ''}`,
          `${kib(v.memory.bytesPerConnection)}${v.memory.afterIdle ? ` → ${kib(v.memory.bytesPerConnectionAfterIdle)}` : ''}`,
        ],
        9,
      ),
    );
    parts.push(
      '## 3. Many connections across 100 rooms',
      '',
      table(
        [
          'server',
          'connected',
          'connects/s',
          'held (→ after 15 s idle)',
          'RSS before MiB',
          'RSS after MiB',
          'per room (first socket)',
          'per further socket (→ after idle)',
          'all ÷ sockets (→ after idle)',
        ],
        rows,
      ),
      '',
    );
    const h = r.connections.edgerooms?.isolateHeap;
    if (h) {
      const mib = (x) => (typeof x?.usedBytes === 'number' ? (x.usedBytes / 2 ** 20).toFixed(1) : '–');
      parts.push(
        `EdgeRooms' own share: the Worker isolate's V8 heap after a forced GC (inspector \`Runtime.getHeapUsage\`, this scenario only) was ` +
          `${mib(h.before)} MiB before, ${mib(h.rooms)} MiB with one socket per room, ${mib(h.after)} MiB with all` +
          `${h.afterIdle ? ` and ${mib(h.afterIdle)} MiB after 15 s idle` : ''}: ${fmt(h.bytesPerRoom, 0)} B per room, ` +
          `${fmt(h.bytesPerExtraConnection, 0)} B per further socket${h.afterIdle ? ` (${fmt(h.bytesPerExtraConnectionAfterIdle, 0)} B idle)` : ''}. ` +
          "The rest of the RSS per socket is the runtime's native connection state; on Cloudflare hibernated sockets are held by the platform, not by the isolate.",
        '',
      );
    }
  }

  if (r.resync) {
    const rows = TARGETS.map((name) =>
      rowOrAbsent(
        name,
        r.resync[name],
        (v) => [
          `${v.n} of ${v.repeats}${v.failures ? ` (${v.failures} failed: ${v.firstFailure})` : ''}`,
          `${fmt(v.p50)} / ${fmt(v.p99)} / ${fmt(v.max)}`,
          ratio(v.p50, r.resync.ws?.p50),
          ratio(v.p50, r.resync.socketio?.p50),
        ],
        5,
      ),
    );
    parts.push(
      '## 4. Resync after 100 missed events (ms, reconnect to caught up)',
      '',
      table(['server', 'runs', 'p50 / p99 / max', 'p50 ÷ ws', 'p50 ÷ Socket.IO'], rows),
      '',
    );
  }

  if (r.rest) {
    const v = r.rest.edgerooms;
    const why = absent(v);
    const row = (label, path, x, ratioCell) => [
      label,
      `GET ${path}`,
      x.connections,
      x.requestsPerSecond,
      x.p50,
      x.p99,
      x.max,
      fmt(x.cpuMillisPerRequest, 3),
      `${x.non2xx} ${JSON.stringify(x.statuses)}`,
      x.errors,
      ratioCell,
    ];
    const rows = [];
    if (!why) {
      const node = v.honoNode;
      const nodeRuns = node?.runs ?? [];
      (v.runs ?? [v]).forEach((x, i) => {
        rows.push(row(LABELS.edgerooms, v.path, x, ratio(x.requestsPerSecond, nodeRuns[i]?.requestsPerSecond)));
        if (nodeRuns[i]) rows.push(row('Hono on Node (node:sqlite)', node.path, nodeRuns[i], '1×'));
      });
      if (node?.error) rows.push(['Hono on Node (node:sqlite)', `failed: ${node.error}`, ...Array(9).fill('')]);
    }
    parts.push(
      '## 5. REST: authenticated GET under load (autocannon)',
      '',
      why
        ? `EdgeRooms: ${why}`
        : table(
            [
              'server',
              'route',
              'connections',
              'req/s',
              'p50 ms',
              'p99 ms',
              'max ms',
              'server CPU ms/req',
              'non-2xx',
              'errors',
              '÷ Hono on Node',
            ],
            rows,
          ),
      '',
      'The baseline (`bench/servers/rest-node.mjs`) does what the route does (the same JWT verify with jose, the same revocation and ' +
        "player reads, on a snapshot of EdgeRooms' own D1 file) on Hono with `@hono/node-server` and `node:sqlite`, without a rate " +
        `limiter; the same autocannon clients and ${v?.users ?? 'the same'} users, runs alternated.`,
      '',
    );
  }

  if (r.crafting) {
    const v = r.crafting.edgerooms;
    const why = absent(v);
    parts.push('## 7. Crafting sync (seed 002): 20 Hz sessions, material pushes, footprint', '');
    if (why) parts.push(`EdgeRooms: ${why}`, '');
    else {
      const b = v.bandwidth;
      const m = v.memory;
      parts.push(
        table(
          ['figure', 'measured', 'target'],
          [
            ['sessions (running) / binary watchers', `${v.sessions} (${v.running}) / ${v.watchers}`, ''],
            [
              'delivery, material push → watcher packet, p50 / p99 / max',
              `${fmt(v.delivery.p50)} / ${fmt(v.delivery.p99)} / ${fmt(v.delivery.max)} ms (n ${v.delivery.n}, ${v.delivery.failures} failed)`,
              'p99 < 5 ms',
            ],
            ...(v.delivery.server
              ? [
                  [
                    'of which the server: push sent → packet sent (header timestamp, ms clock), p50 / p99',
                    `${fmt(v.delivery.server.p50)} / ${fmt(v.delivery.server.p99)} ms`,
                    '',
                  ],
                ]
              : []),
            [
              'bandwidth per session, WebSocket, 20 Hz deltas',
              `${b.wsBytesPerSecondPerSession} B/s (${b.wsPacketsPerSecondPerSession} packets/s)`,
              '< 50 KB/s',
            ],
            [
              'packet bytes (40-byte header included): delta / keyframe (ratio); bodies',
              `${b.meanDeltaPacketBytes} / ${b.meanKeyframePacketBytes} (${b.deltaToKeyframeRatio}); ${b.deltaBodyBytes} / ${b.keyframeBodyBytes}`,
              '',
            ],
            [
              'HTTP datagrams, 20 exchanges/s: deltas / full state every packet (ratio)',
              `${b.httpDeltaBytesPerSecondAt20Hz} / ${b.httpFullStateBytesPerSecondAt20Hz} B/s (${b.httpDeltaToFullRatio}); the loop reached ${b.httpAchievedHz.delta} / ${b.httpAchievedHz.full} Hz`,
              '',
            ],
            [
              'actor state per active session: session + sync + connections',
              `${m.stateBytesPerSession.session} + ${m.stateBytesPerSession.sync} + ${m.stateBytesPerSession.connections} = ${m.stateBytesPerSession.total} B`,
              '< 10 KB',
            ],
            ['SQLite per session actor', `${m.sqliteBytesPerSession} B`, ''],
            ['workerd RSS growth per session + watcher (both processes)', `${m.rssGrowthPerSessionKiB} KiB`, ''],
          ],
        ),
        '',
        ...(v.concurrent
          ? [
              `Concurrent sessions (unfinished, no sockets; holdSessions in bench/scenarios/crafting.mjs): ${v.concurrent.created} of ${v.concurrent.requested} created in ${v.concurrent.seconds} s (${v.concurrent.sessionsPerSecond}/s), sample read back unfinished ${v.concurrent.sampleUnfinished}; workerd RSS +${v.concurrent.rssGrowthPerSessionKiB} KiB per session; open files ${v.concurrent.openFiles.before} → peak ${v.concurrent.openFiles.peak} → ${v.concurrent.openFiles.after}; SQLite on disk ${v.concurrent.sqliteDiskBytesPerSession} B per session; ${v.concurrent.failures} failed${v.concurrent.firstFailures.length ? ` (${v.concurrent.firstFailures.join('; ')})` : ''}.`,
              '',
            ]
          : []),
        ...(v.delivery.firstFailures?.length ? ['', `First delivery failures: ${v.delivery.firstFailures.join('; ')}.`] : []),
        '',
      );
    }
  }

  if (r.earthRing) {
    const rows = TARGETS.map((name) =>
      rowOrAbsent(
        name,
        r.earthRing[name],
        (v) => [
          `${v.players} × ${v.hz} Hz, ${v.seconds} s`,
          `${(v.deliveryRate * 100).toFixed(1)}%`,
          String(v.deliveredPerSecond),
          `${fmt(v.p50)} / ${fmt(v.p99)} / ${fmt(v.max)}`,
        ],
        5,
      ),
    );
    parts.push(
      '## 6. EarthRing: 200 players in one chunk, player_move → player_moved',
      '',
      table(['server', 'load', 'delivered', 'player_moved/s', 'p50 / p99 / max ms'], rows),
      '',
    );
  }
  if (r.hub) parts.push(hubMarkdown(r.hub), '');
  return `${parts.join('\n')}\n`;
}

/** Scenario 2 as a chart: p99 end-to-end latency against delivered messages/s, log-log, one line per server and room size. */
export function svgChart(run) {
  labelsOf(run);
  const series = [];
  for (const name of TARGETS) {
    const x = run.results.fanOut?.[name];
    if (!x || absent(x)) continue;
    for (const size of ['100', '1000']) {
      const points = (x[size]?.steps ?? [])
        .filter((s) => s.p99 !== null && s.deliveredPerSecond > 0)
        .map((s) => [s.deliveredPerSecond, s.p99, s.stopped]);
      if (points.length) series.push({ name, size, points });
    }
  }
  const W = 760;
  const H = 460;
  const L = 70;
  const R = 190;
  const T = 40;
  const B = 55;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.floor(Math.log10(Math.max(1, Math.min(...xs, 1e3))));
  const x1 = Math.ceil(Math.log10(Math.max(...xs, 1e4)));
  const y0 = Math.floor(Math.log10(Math.max(0.1, Math.min(...ys, 1))));
  const y1 = Math.ceil(Math.log10(Math.max(...ys, 10)));
  const px = (v) => L + ((Math.log10(v) - x0) / (x1 - x0)) * (W - L - R);
  const py = (v) => H - B - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / (y1 - y0)) * (H - T - B);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="22" font-size="15" font-weight="600">Fan-out: p99 end-to-end latency vs delivered messages/s (${run.mode} run, ${run.startedAt.slice(0, 10)})</text>`,
  ];
  for (let e = x0; e <= x1; e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${x}" y="${H - B + 16}" text-anchor="middle">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${L - 6}" y="${y + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#4a5568"/>`);
  out.push(
    `<text x="${(L + W - R) / 2}" y="${H - 14}" text-anchor="middle">delivered messages/s (all subscribers, log scale)</text>`,
  );
  out.push(
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">p99 latency, ms (log scale)</text>`,
  );
  series.forEach((s, i) => {
    const dash = s.size === '1000' ? ' stroke-dasharray="6 4"' : '';
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${COLORS[s.name]}" stroke-width="2"${dash}/>`);
    for (const p of s.points) {
      const shape = p[2]
        ? `<rect x="${(px(p[0]) - 4).toFixed(1)}" y="${(py(p[1]) - 4).toFixed(1)}" width="8" height="8" fill="#fff" stroke="${COLORS[s.name]}" stroke-width="2"/>`
        : `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3.5" fill="${COLORS[s.name]}"/>`;
      out.push(shape);
    }
    const ly = T + 10 + i * 20;
    out.push(
      `<line x1="${W - R + 15}" y1="${ly}" x2="${W - R + 45}" y2="${ly}" stroke="${COLORS[s.name]}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${W - R + 52}" y="${ly + 4}">${LABELS[s.name]}, ${s.size} clients</text>`);
  });
  const ly = T + 10 + series.length * 20 + 10;
  out.push(`<rect x="${W - R + 26}" y="${ly - 4}" width="8" height="8" fill="#fff" stroke="#4a5568" stroke-width="2"/>`);
  out.push(`<text x="${W - R + 52}" y="${ly + 4}">step that stopped the series</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
