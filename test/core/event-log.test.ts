import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/core/event-log';
import { formatEventId } from '../../src/core/protocol';
import { Scheduler } from '../../src/core/scheduler';
import { freshTenant } from '../support/sockets';

// The log and scheduler run on a real actor's SQLite; a collaboration-room key keeps the Room's own log untouched.
const stub = () => env.ROOM.getByName(`${freshTenant()}:core-test`);

describe('EventLog', () => {
  it('numbers events monotonically, keeps a ring, and locates references', async () => {
    await runInDurableObject(stub(), (_i, state) => {
      state.storage.sql.exec('DROP TABLE IF EXISTS _core_events');
      state.storage.sql.exec("DELETE FROM _core_meta WHERE key LIKE 'log.%'");
      const log = new EventLog(state.storage.sql, 3);
      for (let i = 1; i <= 5; i++) expect(log.append({ scope: 's', type: 't', data: { i } }).sequence).toBe(i);
      expect(log.oldestSequence).toBe(3);
      expect(log.locate({ lastSequence: 2 })).toEqual({ kind: 'ok', after: 2 }); // 3 is still there
      expect(log.locate({ lastSequence: 1 }).kind).toBe('gone');
      expect(log.locate({ lastSequence: 9 }).kind).toBe('unknown');
      expect(log.locate({ lastEventId: formatEventId('other', 4) }).kind).toBe('epoch');
      expect(log.locate({}).kind).toBe('none');
      expect(log.read(2, 10).map((e) => e.data)).toEqual([{ i: 3 }, { i: 4 }, { i: 5 }]);
      expect(log.resync({ lastSequence: 4 }, () => 'snap')).toMatchObject({ truncated: false, latestSequence: 5 });
      expect(log.resync({ lastSequence: 2 }, () => 'snap', 2)).toMatchObject({ truncated: true, snapshot: 'snap', events: [] });

      // A new instance (after a restart) continues the sequence and keeps the epoch.
      const again = new EventLog(state.storage.sql, 3);
      expect(again.epoch).toBe(log.epoch);
      expect(again.append({ scope: 's', type: 't', data: null }).sequence).toBe(6);
      // A reset starts a new epoch; the sequence still never goes back.
      const epoch = again.epoch;
      again.reset();
      expect(again.epoch).not.toBe(epoch);
      expect(again.append({ scope: 's', type: 't', data: null }).sequence).toBe(7);
      expect(again.locate({ lastEventId: formatEventId(epoch, 6) }).kind).toBe('epoch');
    });
  });

  it('locates by timestamp as the seed fallback', async () => {
    await runInDurableObject(stub(), (_i, state) => {
      const log = new EventLog(state.storage.sql, 100);
      const base = log.latestSequence;
      log.append({ scope: 's', type: 't', data: 1 }, Date.parse('2026-01-01T00:00:00Z'));
      log.append({ scope: 's', type: 't', data: 2 }, Date.parse('2026-01-01T00:00:10Z'));
      expect(log.locate({ lastEventTimestamp: '2026-01-01T00:00:05Z' })).toEqual({ kind: 'ok', after: base + 1 });
      expect(log.locate({ lastEventTimestamp: 'yesterday' }).kind).toBe('unknown');
    });
  });
});

describe('Scheduler', () => {
  it('multiplexes named timers on the one alarm', async () => {
    await runInDurableObject(stub(), async (_i, state) => {
      const timers = new Scheduler(state.storage.sql, state.storage);
      const t1 = Date.now() + 1_000_000;
      const t2 = Date.now() + 2_000_000;
      await timers.schedule('b', t2);
      await timers.schedule('a', t1);
      expect(await state.storage.getAlarm()).toBe(t1);
      await timers.scheduleNoLaterThan('a', t1 + 500); // later: unchanged
      expect(timers.at('a')).toBe(t1);
      expect(timers.takeDue(t1 + 1)).toEqual(['a']);
      await timers.sync(true);
      expect(await state.storage.getAlarm()).toBe(t2);
      await timers.cancel('b');
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });
});
