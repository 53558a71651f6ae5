// The chaos run's actors (scripts/chaos.mjs), one per realtime actor type. Each has `setup(round)` before the burst,
// `clients` (loops until the kill), `down()` after the kill, `retry()` after the restart (publishes with a key that
// got no answer), `verify(round)`, and `unanswered` (ops in flight at the kill). Checks and clients: ./kit.mjs.
import { io } from 'socket.io-client';
import { sleep } from './kit.mjs';

const WAIT_MS = 15_000;

/** Every actor of one run: `admin` and `users` (four players) as logged in by the runner. */
export function chaosActors(kit, admin, users) {
  const {
    base,
    check,
    note,
    get,
    post,
    openSocket,
    pollAll,
    checkRecord,
    checkResume,
    watcherRecord,
    lane,
    loop,
    request,
    nextKey,
  } = kit;

  function orchestratorActor() {
    const acked = new Map();
    const unanswered = new Set();
    const a = { name: 'orchestrator', acked, unanswered };
    const publish = (key) =>
      post(
        '/api/orchestrator/events',
        admin.token,
        { type: 'planning_output', payload: { output: key } },
        { 'Idempotency-Key': key },
      );
    a.setup = async (round) => {
      a.lane = lane('orchestrator');
      const once = async () => {
        const key = nextKey(`orch-r${round}`);
        unanswered.add(key);
        const r = await publish(key);
        if (r.status !== 201) {
          unanswered.delete(key);
          return 'refused';
        }
        acked.set(key, { eventId: r.body.eventId, sequence: r.body.sequence });
        unanswered.delete(key);
        return 'acked';
      };
      a.clients = [loop(a.lane, once), loop(a.lane, once)];
    };
    a.down = () => {};
    a.retry = async () => {
      for (const key of [...unanswered]) {
        const r = await publish(key);
        if (r.status === 201) {
          acked.set(key, { eventId: r.body.eventId, sequence: r.body.sequence });
          unanswered.delete(key);
        }
      }
    };
    a.verify = async (round) => {
      const label = `round ${round} orchestrator`;
      const [someKey, first] = [...acked][Math.floor(Math.random() * acked.size)] ?? [];
      if (someKey) {
        const again = await publish(someKey);
        check(
          again.body?.eventId === first.eventId && again.body?.sequence === first.sequence,
          `${label}: a retried Idempotency-Key answers its first answer`,
        );
      }
      const events = await pollAll('/api/orchestrator/events', admin.token);
      checkRecord(label, events, (e) => e.payload?.output, acked, unanswered, { what: 'event', ackedSequence: true });
      await checkResume(label, events, admin.token, {
        wsPath: '/ws/orchestrator',
        wsEvents: (f) => (f.type === 'resync_response' ? (f.payload?.missedEvents ?? []) : null),
        ssePath: '/sse/orchestrator',
        pollPath: '/api/orchestrator/events',
      });
    };
    return a;
  }

  /** Seed 001: a fresh room a round (its per-user budgets start full); two users on /ws/rooms, two over HTTP frames. */
  function roomActor() {
    const a = { name: 'room' };
    const frame = (method, params, id) => ({ type: 'request', id, method, params });
    a.setup = async (round) => {
      a.lane = lane('room');
      a.room = `chaos-${round}-${Date.now().toString(36)}`;
      a.acked = new Map();
      a.unanswered = new Set();
      a.httpAcked = new Map();
      a.sockets = [];
      const [u1, u2, u3, u4] = users;
      for (const u of [u1, u2]) {
        const s = openSocket(`/ws/rooms/${a.room}`, u.token);
        await s.until((f) => f.method === 'connected');
        const joined = await request(s, frame('room.join', {}, 'join'), (f) => f.id === 'join');
        if (joined.type !== 'response') throw new Error(`room.join failed: ${JSON.stringify(joined)}`);
        a.sockets.push(s);
      }
      for (const u of [u3, u4]) {
        const r = await post(`/api/rooms/${a.room}/messages`, u.token, frame('room.join', {}, 'join'));
        if (r.status !== 200) throw new Error(`room.join over HTTP failed: ${JSON.stringify(r)}`);
      }
      const wsClient = (s, c) => {
        let n = 0;
        return async () => {
          n++;
          const id = `${c}-${n}`;
          if (n % 2) {
            const key = nextKey(`room-r${round}-chat`);
            a.unanswered.add(key);
            const r = await request(s, frame('chat.send', { text: key }, id), (f) => f.id === id);
            a.unanswered.delete(key);
            if (r.type !== 'response') return 'refused';
            a.acked.set(key, { id: r.data.id });
            return 'acked';
          }
          const r = await request(
            s,
            frame(
              'canvas.shape',
              {
                tool: 'rectangle',
                points: [
                  { x: n, y: c },
                  { x: n + 10, y: c + 10 },
                ],
                color: '#336699',
                size: 2,
              },
              id,
            ),
            (f) => f.id === id,
          );
          if (r.type !== 'response') return 'refused';
          a.acked.set(`op:${r.data.id}`, { id: r.data.id });
          return 'acked';
        };
      };
      a.pending = new Map(); // HTTP frames in flight at the kill: retried with their key
      const httpClient = (u) => async () => {
        const key = nextKey(`room-r${round}-http`);
        a.unanswered.add(key);
        a.pending.set(key, u);
        const r = await post(`/api/rooms/${a.room}/messages`, u.token, frame('chat.send', { text: key }, key), {
          'Idempotency-Key': key,
        });
        a.pending.delete(key);
        a.unanswered.delete(key);
        const answer = Array.isArray(r.body) ? r.body.find((f) => f.id === key) : null;
        if (r.status !== 200 || answer?.type !== 'response') return 'refused';
        a.acked.set(key, { id: answer.data.id });
        a.httpAcked.set(key, { user: u, body: r.body });
        return 'acked';
      };
      a.clients = [
        loop(a.lane, wsClient(a.sockets[0], 1)),
        loop(a.lane, wsClient(a.sockets[1], 2)),
        loop(a.lane, httpClient(u3)),
        loop(a.lane, httpClient(u4)),
      ];
    };
    a.down = () => {
      for (const s of a.sockets) s.close();
    };
    a.retry = async () => {
      for (const [key, u] of a.pending) {
        const r = await post(`/api/rooms/${a.room}/messages`, u.token, frame('chat.send', { text: key }, key), {
          'Idempotency-Key': key,
        });
        const answer = Array.isArray(r.body) ? r.body.find((f) => f.id === key) : null;
        if (r.status === 200 && answer?.type === 'response') {
          a.acked.set(key, { id: answer.data.id });
          a.unanswered.delete(key);
        }
      }
    };
    a.verify = async (round) => {
      const label = `round ${round} room`;
      const [someKey, first] = [...a.httpAcked][Math.floor(Math.random() * a.httpAcked.size)] ?? [];
      if (someKey) {
        const again = await post(
          `/api/rooms/${a.room}/messages`,
          first.user.token,
          frame('chat.send', { text: someKey }, someKey),
          {
            'Idempotency-Key': someKey,
          },
        );
        check(
          JSON.stringify(again.body) === JSON.stringify(first.body),
          `${label}: a retried HTTP frame (same Idempotency-Key) answers its first answer`,
        );
      }
      const poll = `/api/rooms/${a.room}/events`;
      const events = await pollAll(poll, users[0].token);
      const keyOf = (e) =>
        e.method === 'chat_message' ? e.data.text : e.method === 'draw' && e.data?.op?.id ? `op:${e.data.op.id}` : null;
      checkRecord(label, events, keyOf, a.acked, a.unanswered, { what: 'chat message or canvas op' });
      const chats = [...a.acked].filter(([k]) => !k.startsWith('op:'));
      const wrongId = chats.filter(([k, v]) => events.find((e) => keyOf(e) === k)?.data.id !== v.id).length;
      check(wrongId === 0, `${label}: each chat answer names the message it wrote (${wrongId} of ${chats.length} differ)`);
      await checkResume(label, events, users[0].token, {
        wsPath: `/ws/rooms/${a.room}`,
        wsEvents: (f) => (f.method === 'resync' ? f.data.events : null),
        ssePath: `/sse?room=${a.room}`,
        pollPath: poll,
      });
    };
    return a;
  }

  /** Seed 000's /ws: two players move around chunk 0_0 (and one places a zone) while a third watches live. */
  function chunkActor() {
    const a = { name: 'chunk' };
    a.setup = async (round) => {
      a.lane = lane('chunk');
      a.acked = new Map();
      a.unanswered = new Set();
      a.zones = new Map();
      a.zoneUnanswered = new Set();
      const [u1, u2, u3] = users;
      a.watcher = openSocket('/ws', u3.token);
      a.startSequence = (await a.watcher.until((f) => f.type === 'connected')).data.sequence;
      a.movers = [];
      for (const u of [u1, u2]) {
        const s = openSocket('/ws', u.token);
        await s.until((f) => f.type === 'connected');
        a.movers.push(s);
      }
      const mover = (s, m) => {
        let n = 0;
        return async () => {
          n++;
          const id = n;
          if (m === 1 && n === 5) {
            // One zone a round (10 a minute per user): a D1 row, read back by REST.
            const name = `chaos-zone-r${round}`;
            const x = 150 * round;
            const half = 20;
            const geometry = {
              type: 'Polygon',
              coordinates: [
                [
                  [x - half, 300 - half],
                  [x + half, 300 - half],
                  [x + half, 300 + half],
                  [x - half, 300 + half],
                  [x - half, 300 - half],
                ],
              ],
            };
            a.zoneUnanswered.add(name);
            const r = await request(
              s,
              { type: 'zone_create', id, data: { name, zone_type: 'residential', geometry } },
              (f) => f.id === id,
            );
            a.zoneUnanswered.delete(name);
            if (r.type !== 'zone_created') return 'refused';
            a.zones.set(name, r.data.id);
            return 'acked';
          }
          // Each move goes to its own spot inside chunk 0_0, so the spot names the move.
          const position = { x: 100 + n * 2, y: 40 * m + round };
          const key = `${position.x}:${position.y}`;
          a.unanswered.add(key);
          const r = await request(s, { type: 'player_move', id, data: { position, floor: 0, rotation: 0 } }, (f) => f.id === id);
          a.unanswered.delete(key);
          if (r.type !== 'player_move_ack') return 'refused';
          a.acked.set(key, true);
          return 'acked';
        };
      };
      a.clients = a.movers.map((s, m) => loop(a.lane, mover(s, m)));
    };
    a.down = () => {
      for (const s of [...a.movers, a.watcher]) s.close();
    };
    a.retry = async () => {};
    a.verify = async (round) => {
      const label = `round ${round} chunk`;
      const record = await watcherRecord(label, a.watcher.frames, a.startSequence, (query) =>
        openSocket(`/ws?${query}`, users[2].token),
      );
      const keyOf = (e) => (e.type === 'player_moved' ? `${e.data.position.x}:${e.data.position.y}` : null);
      checkRecord(label, record, keyOf, a.acked, a.unanswered, { what: 'player move' });
      const area = await get('/api/zones/area?x_min=0&x_max=1000&y_min=0&y_max=600&floor=0', users[1].token);
      const zones = Array.isArray(area.body) ? area.body : (area.body?.zones ?? area.body?.features ?? []);
      const named = (name) => zones.filter((z) => (z.name ?? z.properties?.name) === name).length;
      for (const [name] of a.zones) check(named(name) === 1, `${label}: the acknowledged zone is in D1 once (${named(name)})`);
      for (const name of a.zoneUnanswered) check(named(name) <= 1, `${label}: the unanswered zone is in D1 at most once`);
    };
    return a;
  }

  /** Seed 000 races: a fresh race a round; one racer over /ws/racing, one over HTTP frames with Idempotency-Key. */
  function raceActor() {
    const a = { name: 'race' };
    a.setup = async (round) => {
      a.lane = lane('race');
      a.acked = new Map();
      a.unanswered = new Set();
      a.pending = new Set();
      const [u1, u2, u3] = users;
      const created = await post('/api/racing/events', u3.token, {
        name: `Chaos race ${round}`,
        start_point: { x: 12345, y: 100 },
        end_point: { x: 15678, y: 200 },
        checkpoints: [{ x: 14000, y: 150 }],
        floor: 0,
        route_generation: 'auto',
        properties: { vehicle_type: 'sports_car', laps: 1 },
      });
      if (created.status !== 201) throw new Error(`creating a race failed: ${JSON.stringify(created)}`);
      a.id = created.body.id;
      const [x0, y0] = created.body.route_geometry.coordinates[0];
      for (const u of [u1, u2]) {
        const j = await post(`/api/racing/events/${a.id}/join`, u.token);
        if (j.status !== 200) throw new Error(`joining the race failed: ${JSON.stringify(j)}`);
      }
      const s = await post(`/api/racing/events/${a.id}/start`, u3.token);
      if (s.status !== 200) throw new Error(`starting the race failed: ${JSON.stringify(s)}`);
      a.socket = openSocket(`/ws/racing/${a.id}`, u1.token);
      await a.socket.until((f) => f.type === 'connected');
      // Each update a millimetre further along (well inside the position jitter): the position names the update.
      const update = (u, n) => ({
        type: 'racing_update',
        id: n,
        data: {
          event_id: a.id,
          position: { x: x0 + n * 0.001 + (u === u2 ? 0.0005 : 0), y: y0 },
          speed: 0,
          checkpoint_reached: 0,
        },
      });
      a.update = update;
      let n1 = 0;
      const wsRacer = async () => {
        const f = update(u1, ++n1);
        const key = `${u1.id}:${f.data.position.x}`;
        a.unanswered.add(key);
        const r = await request(
          a.socket,
          f,
          (g) =>
            (g.type === 'error' && g.id === f.id) ||
            (g.type === 'racing_update' &&
              g.data.players?.[0]?.player_id === Number(u1.id) &&
              g.data.players[0].position.x === f.data.position.x),
        );
        a.unanswered.delete(key);
        if (r.type !== 'racing_update') return 'refused';
        a.acked.set(key, { sequence: r.sequence });
        return 'acked';
      };
      let n2 = 0;
      const httpRacer = async () => {
        const f = update(u2, ++n2);
        const key = `${u2.id}:${f.data.position.x}`;
        a.unanswered.add(key);
        a.pending.add(n2);
        const r = await post(`/api/racing/events/${a.id}/messages`, u2.token, f, { 'Idempotency-Key': `race-${a.id}-${n2}` });
        a.pending.delete(n2);
        a.unanswered.delete(key);
        if (r.status !== 200 || !Array.isArray(r.body) || r.body.some((g) => g.type === 'error')) return 'refused';
        a.acked.set(key, {});
        return 'acked';
      };
      a.clients = [loop(a.lane, wsRacer), loop(a.lane, httpRacer)];
    };
    a.down = () => a.socket.close();
    a.retry = async () => {
      const u2 = users[1];
      for (const n of a.pending) {
        const f = a.update(u2, n);
        const key = `${u2.id}:${f.data.position.x}`;
        const r = await post(`/api/racing/events/${a.id}/messages`, u2.token, f, { 'Idempotency-Key': `race-${a.id}-${n}` });
        if (r.status === 200 && Array.isArray(r.body) && !r.body.some((g) => g.type === 'error')) a.acked.set(key, {});
        a.unanswered.delete(key);
      }
      a.pending.clear();
    };
    a.verify = async (round) => {
      const label = `round ${round} race`;
      const poll = `/api/racing/events/${a.id}/events`;
      const events = await pollAll(poll, users[2].token);
      const keyOf = (e) => (e.type === 'racing_update' ? `${e.data.players[0].player_id}:${e.data.players[0].position.x}` : null);
      checkRecord(label, events, keyOf, a.acked, a.unanswered, { what: 'racing_update' });
      const wsAcked = [...a.acked].filter(([, v]) => v.sequence !== undefined);
      const moved = wsAcked.filter(([k, v]) => events.find((e) => keyOf(e) === k)?.sequence !== v.sequence).length;
      check(
        moved === 0,
        `${label}: each update keeps the sequence its sender saw (${wsAcked.length} over WebSocket, ${moved} moved)`,
      );
      await checkResume(label, events, users[2].token, {
        wsPath: `/ws/racing/${a.id}`,
        wsEvents: (f) => (f.type === 'resync' ? f.data.events : null),
        ssePath: `/sse/racing/${a.id}`,
        pollPath: poll,
      });
    };
    return a;
  }

  /**
   * Seed 003's hub: two senders emit class B and class C messages with acks into a room; a member records what it
   * receives and rides the kill out with Socket.IO connection-state recovery. Class A and presence are live only.
   */
  function hubActor() {
    const a = { name: 'hub' };
    const connect = (u, reconnection) =>
      io(base, {
        auth: { token: u.token },
        transports: ['websocket'],
        reconnection,
        reconnectionDelay: 500,
        reconnectionDelayMax: 1000,
        timeout: WAIT_MS,
      });
    const connected = (socket) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('Socket.IO connect timed out')), WAIT_MS);
        socket.once('connected', (c) => {
          clearTimeout(t);
          resolve(c);
        });
        socket.once('connect_error', (e) => {
          clearTimeout(t);
          reject(e);
        });
      });
    const emitAck = (socket, event, data) =>
      new Promise((resolve, reject) => {
        if (!socket.connected) return reject(new Error('disconnected'));
        const gone = () => reject(new Error('disconnected'));
        socket.once('disconnect', gone);
        socket.emit(event, data, (answer) => {
          socket.off('disconnect', gone);
          resolve(answer);
        });
      });
    a.setup = async (round) => {
      a.lane = lane('hub');
      a.roomId = `chaos-hub-${round}`;
      a.ackedB = new Map();
      a.ackedC = new Map();
      a.unanswered = new Set();
      const [u1, , u3, u4] = users;
      a.receiver = connect(u1, true);
      await connected(a.receiver);
      a.received = [];
      a.receiver.on('message', (m) => a.received.push(m));
      await emitAck(a.receiver, 'join_room', { roomId: a.roomId });
      a.senders = [];
      for (const u of [u3, u4]) {
        const s = connect(u, false);
        await connected(s);
        await emitAck(s, 'join_room', { roomId: a.roomId });
        a.senders.push(s);
      }
      const sender = (s) => {
        let n = 0;
        return async () => {
          n++;
          const cls = n % 2 ? 'CLASS_C' : 'CLASS_B';
          const key = nextKey(`hub-r${round}`);
          a.unanswered.add(key);
          const [answer] = [].concat(
            await emitAck(s, 'message', { type: 'chaos', interactionClass: cls, roomId: a.roomId, payload: key }),
          );
          a.unanswered.delete(key);
          if (typeof answer?.messageId !== 'string') return 'refused';
          (cls === 'CLASS_B' ? a.ackedB : a.ackedC).set(answer.messageId, key);
          return 'acked';
        };
      };
      a.clients = a.senders.map((s) => loop(a.lane, sender(s)));
    };
    a.down = () => {
      for (const s of a.senders) s.disconnect();
    };
    a.retry = async () => {};
    a.verify = async (round) => {
      const label = `round ${round} hub`;
      // The receiver reconnects by itself; recovery replays the class C (and B) messages it missed.
      const deadline = Date.now() + 30_000;
      while (!a.receiver.connected && Date.now() < deadline) await sleep(200);
      check(
        a.receiver.connected && a.receiver.recovered === true,
        `${label}: the room member reconnects with its session recovered`,
      );
      const want = [...a.ackedC.keys()];
      for (let i = 0; i < 50 && !want.every((id) => a.received.some((m) => m.messageId === id)); i++) await sleep(200);
      const record = a.received.map((m) => ({ messageId: m.messageId, eventId: undefined }));
      checkRecord(label, record, (m) => (a.ackedC.has(m.messageId) ? m.messageId : null), a.ackedC, new Set(), {
        what: 'class C message (live + recovered)',
        sequenceName: 'message id',
        sequenceOf: (m) => m.messageId,
        unit: 'messages',
      });
      a.receiver.disconnect();
      // Class B: in the tenant's event bus before the ack; the member reads each once by polling.
      const polled = [];
      let cursor = '';
      for (let page = 0; page < 10; page++) {
        const r = await get(`/api/events/poll?limit=500${cursor ? `&lastEventId=${cursor}` : ''}`, users[0].token);
        if (!Array.isArray(r.body?.events))
          throw new Error(`polling the event bus failed: ${JSON.stringify(r.body).slice(0, 200)}`);
        polled.push(...r.body.events);
        if (!r.body.hasMore) break;
        cursor = r.body.nextEventId;
      }
      checkRecord(label, polled, (e) => (a.ackedB.has(e.eventId) ? e.eventId : null), a.ackedB, new Set(), {
        what: 'class B message (event bus poll)',
        sequenceName: 'event id',
        sequenceOf: (e) => e.eventId,
        unit: 'events',
      });
      note(`${label}: class A messages and presence are live only by design (not stored, not recovered): not checked`);
    };
    return a;
  }

  /** Seed 003's event bus: batches published by the admin, idempotent on eventId; every retry answers its position. */
  function busActor() {
    const a = { name: 'event bus', acked: new Map(), unanswered: new Set(), pending: [] };
    const publish = (batch) =>
      post('/api/events', admin.token, {
        events: batch.map((eventId) => ({ eventId, eventType: 'chaos.tick', payload: { eventId } })),
      });
    a.setup = async (round) => {
      a.lane = lane('event bus');
      const once = async () => {
        const batch = [nextKey(`bus-r${round}`), nextKey(`bus-r${round}`)];
        for (const id of batch) a.unanswered.add(id);
        a.pending.push(batch);
        const r = await publish(batch);
        a.pending.splice(a.pending.indexOf(batch), 1);
        for (const id of batch) a.unanswered.delete(id);
        if (r.status !== 200 && r.status !== 201) return 'refused';
        for (const e of r.body.events) a.acked.set(e.event.eventId, { position: e.position });
        return 'acked';
      };
      a.clients = [loop(a.lane, once), loop(a.lane, once)];
    };
    a.down = () => {};
    a.retry = async () => {
      for (const batch of a.pending.splice(0)) {
        const r = await publish(batch);
        if (r.status !== 200 && r.status !== 201) continue;
        for (const e of r.body.events) {
          a.acked.set(e.event.eventId, { position: e.position });
          a.unanswered.delete(e.event.eventId);
        }
      }
    };
    a.verify = async (round) => {
      const label = `round ${round} event bus`;
      const [someId, first] = [...a.acked][Math.floor(Math.random() * a.acked.size)] ?? [];
      if (someId) {
        const again = await publish([someId]);
        const e = again.body?.events?.[0];
        check(
          e?.duplicate === true && e.position === first.position,
          `${label}: a republished eventId answers its first position`,
        );
      }
      const polled = [];
      let cursor = '';
      for (let page = 0; page < 20; page++) {
        const r = await get(`/api/events/poll?limit=500${cursor ? `&lastEventId=${cursor}` : ''}`, admin.token);
        if (!Array.isArray(r.body?.events))
          throw new Error(`polling the event bus failed: ${JSON.stringify(r.body).slice(0, 200)}`);
        polled.push(...r.body.events);
        if (!r.body.hasMore) break;
        cursor = r.body.nextEventId;
      }
      const ours = polled.filter((e) => e.eventType === 'chaos.tick');
      checkRecord(label, ours, (e) => e.eventId, a.acked, a.unanswered, {
        what: 'event',
        sequenceName: 'event id',
        sequenceOf: (e) => e.eventId,
      });
      const positions = [...a.acked.values()].map((v) => v.position);
      check(
        new Set(positions).size === positions.length,
        `${label}: no stream position acknowledged twice (${positions.length})`,
      );
      note(`${label}: the bus is read by polling (and consumer groups); it has no WebSocket or SSE of its own`);
    };
    return a;
  }

  /** Seed 002: material grants to a player's CraftingQueue (watched live on /ws/queue), and one crafting session a round. */
  function craftingActor() {
    const a = { name: 'crafting' };
    a.setup = async (round) => {
      a.lane = lane('crafting');
      a.acked = new Map();
      a.unanswered = new Set();
      a.sessions = new Map();
      a.sessionUnanswered = 0;
      const player = users[3];
      a.watcher = openSocket(`/ws/queue/${player.id}`, player.token);
      a.startSequence = (await a.watcher.until((f) => f.type === 'connected')).data.sequence;
      let n = 0;
      const grant = async () => {
        n++;
        if (n === 3) {
          a.sessionUnanswered++;
          const r = await post('/api/crafting/sessions', player.token, { recipeId: 'plank', quantity: 1 });
          a.sessionUnanswered--;
          if (r.status !== 201) return 'refused';
          a.sessions.set(r.body.id, true);
          return 'acked';
        }
        const key = nextKey(`craft-r${round}`);
        a.unanswered.add(key);
        const r = await post(`/api/crafting/materials/${player.id}`, admin.token, { changes: { herb: 1 }, reason: key });
        a.unanswered.delete(key);
        if (r.status !== 200) return 'refused';
        a.acked.set(key, { version: r.body.version });
        return 'acked';
      };
      a.clients = [loop(a.lane, grant), loop(a.lane, grant)];
    };
    a.down = () => a.watcher.close();
    a.retry = async () => {};
    a.verify = async (round) => {
      const label = `round ${round} crafting`;
      const player = users[3];
      const record = await watcherRecord(label, a.watcher.frames, a.startSequence, (query) =>
        openSocket(`/ws/queue/${player.id}?${query}`, player.token),
      );
      const grants = record.filter((e) => e.type === 'material_update');
      checkRecord(label, record, (e) => (e.type === 'material_update' ? e.data.reason : null), a.acked, a.unanswered, {
        what: 'material grant',
      });
      const wrongVersion = [...a.acked].filter(([k, v]) => grants.find((e) => e.data.reason === k)?.data.version !== v.version);
      check(
        wrongVersion.length === 0,
        `${label}: each grant's answer names the materials version it wrote (${wrongVersion.length} of ${a.acked.size} differ)`,
      );
      const versions = grants.map((e) => e.data.version);
      check(new Set(versions).size === versions.length, `${label}: no materials version used twice (${versions.length} updates)`);
      for (const id of a.sessions.keys()) {
        const s = await get(`/api/crafting/sessions/${id}`, player.token);
        check(s.status === 200, `${label}: the acknowledged crafting session is there (${s.status} ${s.body?.status ?? ''})`);
      }
      if (a.sessions.size === 0) note(`${label}: no crafting session was acknowledged this round`);
      note(`${label}: the queue's stream is WebSocket only (resync); crafting progress ticks are not logged by design`);
    };
    return a;
  }

  return [orchestratorActor(), roomActor(), chunkActor(), raceActor(), hubActor(), busActor(), craftingActor()];
}
