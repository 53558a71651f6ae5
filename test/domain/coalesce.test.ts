import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/domain/coalesce';

/** A clock that only moves when told: `tick()` runs every timer scheduled so far. */
function manualClock() {
  let timers: Array<() => void> = [];
  return {
    schedule: (run: () => void) => {
      timers.push(run);
    },
    tick: async () => {
      const due = timers;
      timers = [];
      for (const run of due) run();
      await new Promise((r) => setTimeout(r, 0));
    },
    get pending() {
      return timers.length;
    },
  };
}

function setup() {
  const clock = manualClock();
  const sent: string[] = [];
  const errors: unknown[] = [];
  const c = new Coalescer<string>(
    100,
    clock.schedule,
    async (item) => {
      if (item === 'boom') throw new Error('send failed');
      sent.push(item);
    },
    (err) => errors.push(err),
  );
  return { clock, sent, errors, c };
}

describe('Coalescer (class A, latest wins per key)', () => {
  it('sends a lone item at once and closes its window with nothing more to send', async () => {
    const { clock, sent, c } = setup();
    const first = c.offer('k', 'a');
    expect(first.outcome).toBe('sent');
    await first.done;
    expect(sent).toEqual(['a']);
    await clock.tick();
    expect(sent).toEqual(['a']);
    expect(c.open).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('a burst within one window goes out as its first and its latest item, in order', async () => {
    const { clock, sent, c } = setup();
    expect(c.offer('k', '1').outcome).toBe('sent');
    expect(c.offer('k', '2').outcome).toBe('held');
    expect(c.offer('k', '3').outcome).toBe('replaced');
    expect(c.offer('k', '4').outcome).toBe('replaced');
    await clock.tick();
    expect(sent).toEqual(['1', '4']);
    expect(c.dropped).toBe(2);
    // The latest opened a new window: one more item is held, not sent, until it closes.
    expect(c.offer('k', '5').outcome).toBe('held');
    await clock.tick();
    expect(sent).toEqual(['1', '4', '5']);
    await clock.tick();
    expect(c.open).toBe(0);
    expect(c.offer('k', '6').outcome).toBe('sent');
  });

  it('keys are independent: another sender, room or type is never coalesced away', async () => {
    const { clock, sent, c } = setup();
    c.offer('alice|room-1|cursor', 'a1');
    c.offer('alice|room-1|cursor', 'a2');
    c.offer('alice|room-2|cursor', 'b1');
    c.offer('alice|room-1|typing', 't1');
    c.offer('bob|room-1|cursor', 'c1');
    await clock.tick();
    expect(sent.sort()).toEqual(['a1', 'a2', 'b1', 'c1', 't1']);
  });

  it('a failed leading send rejects its caller; a failed trailing send is reported and the key goes on', async () => {
    const { clock, sent, errors, c } = setup();
    await expect(c.offer('k', 'boom').done).rejects.toThrow('send failed');
    c.offer('k', 'boom');
    await clock.tick();
    expect(errors).toHaveLength(1);
    c.offer('k', 'after');
    await clock.tick();
    await clock.tick();
    expect(sent).toEqual(['after']);
  });
});
