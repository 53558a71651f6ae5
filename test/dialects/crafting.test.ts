import { describe, expect, it } from 'vitest';
import type { Connection, DialectApi } from '../../src/core/dialect';
import { CLIENT_FRAMES, createQueueDialect, createSessionDialect } from '../../src/dialects/crafting';
import { ApiError } from '../../src/errors';

/** The frames a dialect sends on a connection, recorded; the dialect reads nothing else from it here. */
function recorder() {
  const sent: Array<Record<string, unknown>> = [];
  const conn = { send: (frame: Record<string, unknown>) => sent.push(frame) } as unknown as Connection;
  return { sent, conn };
}
const api = {} as DialectApi;
const queue = createQueueDialect({ playerId: () => 'p1', state: () => ({ entries: [] }) });

describe('crafting client frames', () => {
  it('answers a ping with its id and timestamp echoed, validated by the schema /asyncapi.json describes', async () => {
    const { sent, conn } = recorder();
    const frame = { type: 'ping', id: 'a1', timestamp: 1234, extra: true };
    expect(CLIENT_FRAMES.ping.safeParse(frame).success).toBe(true);
    await queue.handle(api, conn, frame);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: 'pong', playerId: 'p1', id: 'a1', data: { timestamp: 1234 } });
  });

  it('drops a malformed id or ping timestamp instead of echoing it, as before the schemas', async () => {
    const { sent, conn } = recorder();
    await queue.handle(api, conn, { type: 'ping', id: 'x'.repeat(129), timestamp: { not: 'a time' } });
    expect(sent[0]).not.toHaveProperty('id');
    expect(sent[0]).toMatchObject({ type: 'pong', data: { timestamp: expect.any(Number) } });
  });

  it('refuses a frame of a type the socket does not accept, and one that is not an object, sending nothing', async () => {
    const { sent, conn } = recorder();
    const refusal = async (frame: unknown) => {
      try {
        await queue.handle(api, conn, frame);
      } catch (err) {
        return err;
      }
      return null;
    };
    const unknownType = await refusal({ type: 'pause' });
    expect(unknownType).toBeInstanceOf(ApiError);
    expect((unknownType as ApiError).message).toBe('Unsupported message type "pause"');
    expect((unknownType as ApiError).details).toEqual({
      field: 'type',
      issue: 'unknown_message_type',
      supported: ['ping', 'get_state'],
    });
    expect(await refusal([1, 2])).toBeInstanceOf(ApiError);
    expect(sent).toEqual([]);
  });

  it('runs a session control through the host with the id echoed on the ack', async () => {
    const { sent, conn } = recorder();
    const commands: string[] = [];
    const session = createSessionDialect({
      sessionId: () => 's1',
      state: () => ({ status: 'running' }),
      control: async (_conn, command) => {
        commands.push(command);
        return { status: 'paused' };
      },
    });
    await session.handle(api, conn, { type: 'pause', id: 7 });
    expect(commands).toEqual(['pause']);
    expect(sent[0]).toMatchObject({
      type: 'ack',
      sessionId: 's1',
      id: 7,
      data: { command: 'pause', state: { status: 'paused' } },
    });
  });
});
