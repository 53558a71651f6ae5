import { describe, expect, it } from 'vitest';
import { heartbeatWindow, planHeartbeat } from '../../src/domain/engineio-heartbeat';

const DEFAULTS = { pingInterval: 25_000, pingTimeout: 20_000 };

describe('Engine.IO heartbeat plan', () => {
  it('pings a session pingInterval after its open, then sweeps again at its pong deadline', () => {
    expect(planHeartbeat([{ sid: 'a', openedAt: 0 }], 10_000, DEFAULTS)).toEqual({ ping: [], timedOut: [], nextAt: 25_000 });
    expect(planHeartbeat([{ sid: 'a', openedAt: 0 }], 25_000, DEFAULTS)).toEqual({
      ping: ['a'],
      timedOut: [],
      nextAt: 45_000,
    });
  });

  it('ends a session whose pong is pingTimeout late, and only then', () => {
    const waiting = { sid: 'a', openedAt: 0, lastPingAt: 25_000, awaitingPongSince: 25_000 };
    expect(planHeartbeat([waiting], 44_999, DEFAULTS).timedOut).toEqual([]);
    expect(planHeartbeat([waiting], 45_000, DEFAULTS)).toEqual({ ping: [], timedOut: ['a'], nextAt: null });
  });

  it('has nothing to do without sessions', () => {
    expect(planHeartbeat([], 1_000, DEFAULTS)).toEqual({ ping: [], timedOut: [], nextAt: null });
  });

  it('batches: 1,000 sessions opened 100 ms apart are swept a few times per interval, each pinged within the window', () => {
    const window = heartbeatWindow(DEFAULTS);
    const sessions = Array.from({ length: 1_000 }, (_, i) => ({
      sid: String(i),
      openedAt: i * 100,
      lastPingAt: undefined as number | undefined,
      pings: [] as number[],
    }));
    const bySid = new Map(sessions.map((s) => [s.sid, s]));
    // Simulated time (no clock): sweep when the plan says, every client pongs at once.
    let now = 0;
    let sweeps = 0;
    while (now < 300_000) {
      const plan = planHeartbeat(
        sessions.map((s) => ({ sid: s.sid, openedAt: s.openedAt, lastPingAt: s.lastPingAt })),
        now,
        DEFAULTS,
      );
      expect(plan.timedOut).toEqual([]);
      for (const sid of plan.ping) {
        const s = bySid.get(sid);
        if (!s) throw new Error(`unknown session ${sid}`);
        s.lastPingAt = now;
        s.pings.push(now);
      }
      sweeps++;
      if (plan.nextAt === null) break;
      expect(plan.nextAt - now).toBeGreaterThanOrEqual(window);
      now = plan.nextAt;
    }
    // One sweep per session would be ~1,000 per interval; batched it is at most interval / window per interval.
    expect(sweeps).toBeLessThanOrEqual((300_000 / DEFAULTS.pingInterval) * (DEFAULTS.pingInterval / window) + 1);
    for (const s of sessions) {
      expect(s.pings.length).toBeGreaterThan(0);
      const gaps = s.pings.map((p, i) => p - (i === 0 ? s.openedAt : (s.pings[i - 1] ?? 0)));
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(DEFAULTS.pingInterval - window);
        expect(gap).toBeLessThanOrEqual(DEFAULTS.pingInterval + window);
      }
    }
  });
});
