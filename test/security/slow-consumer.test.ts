import { env, runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { collabRoomKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import { DEFAULT_LIMITS } from '../../src/core/dialect';
import { CLOSE } from '../../src/core/protocol';
import { registerUser, type Session } from '../support/api';
import { freshRoom, openRoom, upgradeRoom } from '../support/rooms';

let alice: Session;
beforeAll(async () => {
  alice = await registerUser();
});

const FRAME_TEXT = 'x'.repeat(60 * 1024);
const roomActor = (room: string) => env.ROOM.getByName(collabRoomKey('default', room));

/** Has the room actor broadcast `count` large frames to every socket in it, in one turn. */
const flood = (room: string, count: number) =>
  runInDurableObject(roomActor(room), (instance: Room) => {
    for (let i = 0; i < count; i++) instance.broadcast(() => ({ type: 'event', method: 'flood', data: { i, text: FRAME_TEXT } }));
  });

/** A raw socket that answers nothing but sends the runtime's `ping` when told, and counts what it received. */
async function pinger(room: string) {
  const res = await upgradeRoom(room, `?token=${alice.access_token}`);
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  let received = 0;
  let pong: (() => void) | null = null;
  let closed: number | null = null;
  ws.addEventListener('message', (e) => {
    if (e.data === 'pong') pong?.();
    else received += 1;
  });
  ws.addEventListener('close', (e) => {
    closed = e.code;
  });
  return {
    ws,
    received: () => received,
    closed: () => closed,
    ping: () =>
      new Promise<void>((resolve) => {
        pong = resolve;
        ws.send('ping');
      }),
  };
}

describe('slow consumers', () => {
  it(`closes a socket with 4008 once more than ${DEFAULT_LIMITS.maxUnreadBytes} bytes went to it without a word back; a socket that pings stays`, async () => {
    const room = freshRoom('slow');
    const silent = await openRoom(alice.access_token, room);
    const alive = await pinger(room);
    const perBatch = 20; // 1.2 MB a batch: the 8 MiB limit is passed in the 7th batch
    const batches = Math.ceil(DEFAULT_LIMITS.maxUnreadBytes / (perBatch * FRAME_TEXT.length)) + 2;
    for (let b = 0; b < batches; b++) {
      await flood(room, perBatch);
      await alive.ping();
    }
    expect(await silent.waitClosed(10_000)).toEqual({
      code: CLOSE.SLOW_CONSUMER,
      reason: `Slow consumer: over ${DEFAULT_LIMITS.maxUnreadBytes} bytes unread`,
    });
    // The pinging socket got every frame and is still open.
    await alive.ping();
    expect(alive.received()).toBeGreaterThanOrEqual(batches * perBatch);
    expect(alive.closed()).toBeNull();
    // The slow socket got fewer frames than were broadcast: the actor stopped sending once it was too far behind.
    expect(silent.frames.filter((f) => f.method === 'flood').length).toBeLessThan(batches * perBatch);
    alive.ws.close(1000, 'done');
  });

  it('a frame from the socket resets its count: a client that speaks keeps receiving', async () => {
    const room = freshRoom('speaks');
    const s = await openRoom(alice.access_token, room);
    const batches = Math.ceil(DEFAULT_LIMITS.maxUnreadBytes / (20 * FRAME_TEXT.length)) + 2;
    for (let b = 0; b < batches; b++) {
      await flood(room, 20);
      await s.ok('room.state');
    }
    expect(s.closed).toBeNull();
    s.close();
  });
});
