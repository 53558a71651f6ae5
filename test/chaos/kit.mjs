// The chaos run's kit (scripts/chaos.mjs): HTTP, WebSocket and SSE clients against a running Worker, the checks
// every actor shares (exactly once, no sequence reused, resume by WebSocket resync, SSE and polling), and the burst's
// lanes (a random number of acks that arms the kill, the pace and caps after it). Actors are in ./actors.mjs.
import WebSocket from 'ws';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
const WAIT_MS = 15_000;
/** Each actor's acknowledged operations before the kill, per round: a random number between the two. */
const TARGET_MIN = 8;
const TARGET_MAX = 24;
/**
 * Past its target an actor keeps going (so it is mid-burst when the slowest one arms the kill), paced by PACE_MS
 * between ops, up to a cap per round that keeps it inside the exact limits: 100 room requests a minute per user,
 * 100 Socket.IO events a minute per connection, and 1,000 requests a minute from this one IP for everything sent
 * over HTTP (orchestrator, room and race HTTP frames, event bus, crafting, setup and checks together). The chunk and
 * crafting caps also keep a round inside one resync frame (100 events), so that it can be read back whole.
 */
const CAPS = { orchestrator: 100, room: 200, chunk: 80, race: 120, hub: 150, 'event bus': 60, crafting: 40 };
const PACE_MS = 100;

/** Everything the actors use, bound to the Worker at `base`; `results` counts the checks. */
export function chaosKit(base) {
  const wsBase = base.replace('http', 'ws');
  const results = { passed: 0, failed: 0 };
  const check = (ok, what) => {
    if (ok) results.passed++;
    else results.failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  };
  const note = (what) => console.log(`note ${what}`);

  // ---- HTTP, WebSocket and SSE clients ---------------------------------------------------------------------------

  async function http(method, path, { token, body, headers = {} } = {}) {
    const r = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }
  const get = (path, token) => http('GET', path, { token });
  const post = (path, token, body, headers) => http('POST', path, { token, body, headers });

  /** A JSON WebSocket that records every frame; `until(pred)` waits for one (already arrived or to come). */
  function openSocket(path, token) {
    const sep = path.includes('?') ? '&' : '?';
    const ws = new WebSocket(`${wsBase}${path}${sep}token=${token}`);
    const s = { ws, frames: [], waiters: new Set(), closed: false };
    ws.on('message', (m) => {
      let f;
      try {
        f = JSON.parse(String(m));
      } catch {
        return;
      }
      s.frames.push(f);
      for (const w of [...s.waiters]) if (w.pred(f)) w.done(f);
    });
    const end = () => {
      s.closed = true;
      for (const w of [...s.waiters]) w.fail(new Error('socket closed'));
    };
    ws.on('close', end);
    ws.on('error', end);
    s.until = (pred, ms = WAIT_MS) =>
      new Promise((resolve, reject) => {
        const seen = s.frames.find(pred);
        if (seen) return resolve(seen);
        if (s.closed) return reject(new Error('socket closed'));
        const w = {
          pred,
          done: (f) => {
            clearTimeout(w.timer);
            s.waiters.delete(w);
            resolve(f);
          },
          fail: (e) => {
            clearTimeout(w.timer);
            s.waiters.delete(w);
            reject(e);
          },
        };
        w.timer = setTimeout(() => w.fail(new Error('timed out')), ms);
        s.waiters.add(w);
      });
    s.send = (f) => ws.send(JSON.stringify(f));
    s.close = () => {
      try {
        ws.close();
      } catch {}
    };
    return s;
  }

  /** The ids (`id:` lines) of an SSE stream resumed after `lastEventId`, until `count` arrived or it stalls. */
  async function sseIds(path, token, lastEventId, count) {
    const ids = [];
    try {
      const res = await fetch(`${base}${path}`, {
        headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': lastEventId },
        signal: AbortSignal.timeout(WAIT_MS),
      });
      const reader = res.body.getReader();
      let text = '';
      while (ids.length < count) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        const parts = text.split('\n\n');
        text = parts.pop();
        for (const p of parts) {
          const id = /^id: (.+)$/m.exec(p)?.[1];
          if (id) ids.push(id);
        }
      }
      await reader.cancel();
    } catch {
      // timed out: what arrived is the answer
    }
    return ids;
  }

  /** Every event of a core log from the start, by polling (`path` answers `{events, hasMore, nextEventId}`). */
  async function pollAll(path, token) {
    const all = [];
    let r = await get(`${path}?lastSequence=0&limit=100`, token);
    for (;;) {
      if (!Array.isArray(r.body?.events)) throw new Error(`polling ${path} failed: ${JSON.stringify(r.body).slice(0, 200)}`);
      all.push(...r.body.events);
      if (!r.body.hasMore || !r.body.nextEventId) return all;
      r = await get(`${path}?lastEventId=${r.body.nextEventId}&limit=100`, token);
    }
  }

  // ---- checks shared by every actor ------------------------------------------------------------------------------

  /**
   * `record`: the durable record read back (events with `eventId`, `sequence`); `keyOf` an event's op key (or null);
   * `acked`: key -> what the ack said; `unanswered`: keys of ops that got no answer and were not retried.
   */
  function checkRecord(label, record, keyOf, acked, unanswered, opts = {}) {
    const count = new Map();
    for (const e of record) {
      const k = keyOf(e);
      if (k !== null && k !== undefined) count.set(k, (count.get(k) ?? 0) + 1);
    }
    const lost = [...acked.keys()].filter((k) => !count.has(k));
    const doubled = [...count].filter(([, n]) => n > 1);
    const late = [...unanswered].filter((k) => count.has(k)).length;
    check(
      lost.length === 0,
      `${label}: every acknowledged ${opts.what ?? 'op'} is there (${acked.size} acknowledged, ${lost.length} lost${lost.length ? `: ${lost.slice(0, 3).join(', ')}` : ''}; ${late} of ${unanswered.size} unanswered committed anyway)`,
    );
    check(
      doubled.length === 0,
      `${label}: nothing twice (${doubled.length} duplicated${doubled.length ? `: ${doubled[0][0]}` : ''})`,
    );
    const seqs = record.map((e) => opts.sequenceOf?.(e) ?? e.sequence).filter((s) => s !== undefined);
    const ids = record.map((e) => e.eventId).filter(Boolean);
    check(
      new Set(seqs).size === seqs.length && new Set(ids).size === ids.length,
      `${label}: no ${opts.sequenceName ?? 'sequence'} used twice (${seqs.length} ${opts.unit ?? 'events'})`,
    );
    if (opts.ackedSequence) {
      const wrong = [...acked].filter(([k, a]) => record.find((e) => keyOf(e) === k)?.sequence !== a.sequence).length;
      check(wrong === 0, `${label}: each event keeps the sequence it was acknowledged with (${wrong} moved)`);
    }
  }

  /** Resume from the middle of `events` by WebSocket resync, SSE and polling: exactly the events after it. */
  async function checkResume(label, events, token, { wsPath, wsEvents, ssePath, pollPath }) {
    if (events.length < 2) {
      check(false, `${label}: too few events to resume from (${events.length})`);
      return;
    }
    // Within the one-frame replay limit (100), so the resync answers events, not a snapshot.
    const mid = events[Math.max(0, events.length - 60)];
    const expected = events.filter((e) => e.sequence > mid.sequence).map((e) => e.eventId);
    const sep = wsPath.includes('?') ? '&' : '?';
    const s = openSocket(`${wsPath}${sep}lastEventId=${encodeURIComponent(mid.eventId)}`, token);
    let wsIds = [];
    try {
      const frame = await s.until((f) => wsEvents(f) !== null);
      wsIds = wsEvents(frame).map((e) => e.eventId);
    } catch {}
    s.close();
    // Events logged after the record was read (a presence grace ending, a keepalive) may follow: compare the prefix.
    const same = (got) => JSON.stringify(got.slice(0, expected.length)) === JSON.stringify(expected);
    check(same(wsIds), `${label}: WebSocket resync resumes with nothing missing (${wsIds.length} of ${expected.length} events)`);
    if (ssePath) {
      const got = await sseIds(ssePath, token, mid.eventId, expected.length);
      check(
        same(got),
        `${label}: SSE resumes from Last-Event-ID with nothing missing (${got.length} of ${expected.length} events)`,
      );
    }
    if (pollPath) {
      const polled = (await pollAll(pollPath, token)).filter((e) => e.sequence > mid.sequence).map((e) => e.eventId);
      check(same(polled), `${label}: polling resumes with nothing missing (${polled.length} of ${expected.length} events)`);
    }
  }

  /** One resync on a fresh socket (`query`: `lastEventId=…` or `lastSequence=…`): its frame, or null. */
  async function resyncOnce(open, query) {
    const s = open(query);
    try {
      return await s.until((f) => f.type === 'resync');
    } catch {
      return null;
    } finally {
      s.close();
    }
  }

  /**
   * For actors whose only stream is the WebSocket (chunk, crafting queue): a watcher connected before the burst
   * (`startSequence` from its `connected` frame) and saw events live until the kill. After the restart it resumes by
   * resync from the last event it saw (nothing may be missing in between), and the round is read back whole by a
   * resync from `startSequence`: that read-back must hold exactly what was seen live plus what the resume replayed.
   * `open(query)` opens the watcher's socket with that query.
   */
  async function watcherRecord(label, live, startSequence, open) {
    const seen = live.filter((f) => f.eventId);
    const last = seen[seen.length - 1];
    const resumed = last ? await resyncOnce(open, `lastEventId=${encodeURIComponent(last.eventId)}`) : null;
    const missed = resumed?.data?.events ?? [];
    check(
      resumed !== null && !resumed.data.truncated,
      `${label}: the watcher resumes by WebSocket resync after the restart (${missed.length} missed events replayed)`,
    );
    const joined = [...seen, ...missed];
    const whole = await resyncOnce(open, `lastSequence=${startSequence}`);
    if (!whole || whole.data.truncated) {
      // Past the one-frame replay limit (100): the live record plus the resume is what there is to check.
      note(`${label}: the round's ${joined.length} events exceed one resync frame; checked as seen live plus resumed`);
      return joined;
    }
    const readBack = whole.data.events;
    check(
      JSON.stringify(readBack.map((e) => e.eventId)) === JSON.stringify(joined.map((e) => e.eventId)),
      `${label}: the log read back after the restart is exactly what was delivered (${readBack.length} events)`,
    );
    return readBack;
  }

  // ---- the burst: every actor at once, the kill after a random number of acks per actor --------------------------

  /** One actor's share of a round: acks counted, the target that arms the kill, the cap that paces it. */
  function lane(name) {
    const target = rand(TARGET_MIN, TARGET_MAX);
    const l = { name, target, cap: CAPS[name], acked: 0, stopped: false };
    l.reached = new Promise((resolve) => {
      l.arrive = resolve;
    });
    /** After each ack: counts it; past the target, paces; at the cap, waits for the kill. */
    l.tick = async () => {
      l.acked++;
      if (l.acked >= l.target) l.arrive();
      if (l.acked >= l.cap) while (!l.stopped) await sleep(50);
      else if (l.acked >= l.target) await sleep(PACE_MS);
    };
    return l;
  }

  /** Runs `op` until the kill; `op` answers 'acked', 'refused' or throws (no answer: the runtime went away). */
  function loop(l, op) {
    return async () => {
      while (!l.stopped) {
        let outcome;
        try {
          outcome = await op();
        } catch {
          return;
        }
        if (outcome === 'acked') await l.tick();
        else if (outcome === 'refused') await sleep(100);
      }
    };
  }

  /** Sends one request on a socket and waits for its answer (`match(frame)` true for it); no answer: throws. */
  async function request(s, frame, match) {
    if (s.closed) throw new Error('socket closed');
    const answer = s.until(match);
    s.send(frame);
    return answer;
  }

  let opCounter = 0;
  const nextKey = (prefix) => `${prefix}-${++opCounter}`;

  return {
    base,
    results,
    check,
    note,
    http,
    get,
    post,
    openSocket,
    sseIds,
    pollAll,
    checkRecord,
    checkResume,
    resyncOnce,
    watcherRecord,
    lane,
    loop,
    request,
    nextKey,
  };
}
