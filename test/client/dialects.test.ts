import { describe, expect, it } from 'vitest';
import { earthringDialect, orchestratorDialect, roomsDialect } from '../../src/client';

describe('orchestrator dialect (seed 004)', () => {
  it('encodes ping with the timestamp where the seed and the server read it, and resync with scopes', () => {
    const ping = orchestratorDialect.encodePing('p1', Date.UTC(2026, 0, 1)) as Record<string, unknown>;
    expect(ping).toEqual({
      type: 'ping',
      timestamp: '2026-01-01T00:00:00.000Z',
      payload: { timestamp: '2026-01-01T00:00:00.000Z' },
    });
    expect(orchestratorDialect.encodeResync?.('eab-3')).toEqual({
      type: 'resync',
      lastEventId: 'eab-3',
      requestedScopes: ['all'],
    });
    expect(orchestratorDialect.encodeResync?.(null, ['battle'])).toEqual({
      type: 'resync',
      lastEventId: null,
      requestedScopes: ['battle'],
    });
  });

  it('decodes events, pongs, resync answers, errors and the welcome', () => {
    const event = {
      type: 'battle_start',
      payload: { taskId: 't' },
      timestamp: 'x',
      eventId: 'eab-1',
      sequence: 1,
      scope: 'battle',
    };
    expect(orchestratorDialect.decode(event)).toMatchObject({
      kind: 'event',
      name: 'battle_start',
      data: { taskId: 't' },
      eventId: 'eab-1',
      sequence: 1,
      scope: 'battle',
    });
    expect(orchestratorDialect.decode({ type: 'pong', payload: { timestamp: '2026-01-01T00:00:00.000Z' } })).toMatchObject({
      kind: 'pong',
      timestamp: Date.UTC(2026, 0, 1),
    });
    expect(
      orchestratorDialect.decode({
        type: 'resync_response',
        payload: { state: { a: 1 }, missedEvents: [event], truncated: false, lastEventId: 'eab-1' },
      }),
    ).toMatchObject({
      kind: 'resync',
      truncated: false,
      events: [{ kind: 'event', eventId: 'eab-1' }],
      snapshot: { a: 1 },
      resumeId: 'eab-1',
    });
    expect(orchestratorDialect.decode({ type: 'error', payload: { message: 'bad', code: 'INVALID_REQUEST' } })).toMatchObject({
      kind: 'error',
      error: { code: 'INVALID_REQUEST', message: 'bad' },
    });
    // The seed's system `error` event is logged (it has an eventId): it is an event, not a refused request.
    expect(orchestratorDialect.decode({ ...event, type: 'error', payload: { message: 'disk full' } })).toMatchObject({
      kind: 'event',
      name: 'error',
    });
    expect(orchestratorDialect.decode({ type: 'connected', payload: { connectionId: 'c' } })).toMatchObject({
      kind: 'control',
      name: 'connected',
    });
    expect(orchestratorDialect.decode('nope')).toBeNull();
    expect(orchestratorDialect.decode({ payload: {} })).toBeNull();
  });
});

describe('rooms dialect (seed 001)', () => {
  it('encodes requests and pings as requests', () => {
    expect(roomsDialect.encodeRequest('r1', 'chat.send', { text: 'hi' })).toMatchObject({
      type: 'request',
      id: 'r1',
      method: 'chat.send',
      params: { text: 'hi' },
    });
    expect(roomsDialect.encodePing('p1', 5)).toMatchObject({
      type: 'request',
      id: 'p1',
      method: 'ping',
      params: { timestamp: 5 },
    });
  });

  it('decodes responses, numbered errors with their reason, events, the welcome and resync answers', () => {
    expect(roomsDialect.decode({ type: 'response', id: 'r1', data: { ok: true } })).toMatchObject({
      kind: 'response',
      id: 'r1',
      data: { ok: true },
    });
    expect(
      roomsDialect.decode({
        type: 'error',
        id: 'r1',
        error: { code: 1008, message: 'slow down', reason: 'RATE_LIMIT_EXCEEDED' },
      }),
    ).toMatchObject({
      kind: 'error',
      id: 'r1',
      error: { code: 1008, message: 'slow down', reason: 'RATE_LIMIT_EXCEEDED' },
    });
    expect(
      roomsDialect.decode({ type: 'event', method: 'draw', data: { points: [] }, eventId: 'eab-2', sequence: 2 }),
    ).toMatchObject({
      kind: 'event',
      name: 'draw',
      eventId: 'eab-2',
      sequence: 2,
    });
    expect(roomsDialect.decode({ type: 'event', method: 'connected', data: {} })).toMatchObject({
      kind: 'control',
      name: 'connected',
    });
    const resync = roomsDialect.decode({
      type: 'event',
      method: 'resync',
      data: {
        events: [{ type: 'event', method: 'draw', data: {}, eventId: 'eab-3' }],
        truncated: true,
        snapshot: { canvas: [] },
        epoch: 'ab',
        latestSequence: 9,
      },
    });
    expect(resync).toMatchObject({
      kind: 'resync',
      truncated: true,
      snapshot: { canvas: [] },
      resumeId: 'eab-9',
      events: [{ name: 'draw', eventId: 'eab-3' }],
    });
    expect(roomsDialect.decode({ type: 'response' })).toBeNull();
  });
});

describe('EarthRing dialect (seed 000)', () => {
  it('encodes {type, id, data} and a ping with an id', () => {
    expect(earthringDialect.encodeRequest('r1', 'chunk_request', { chunks: ['0_1'] })).toEqual({
      type: 'chunk_request',
      id: 'r1',
      data: { chunks: ['0_1'] },
    });
    expect(earthringDialect.encodePing('p1', 0)).toEqual({ type: 'ping', id: 'p1' });
  });

  it('reads answers as responses named after their type, broadcasts as events, both error shapes', () => {
    expect(earthringDialect.decode({ type: 'zone_created', id: 'r1', data: { id: 4 } })).toMatchObject({
      kind: 'response',
      id: 'r1',
      name: 'zone_created',
    });
    expect(
      earthringDialect.decode({ type: 'chunk_updated', data: { chunk_id: '0_1' }, eventId: 'e1-1', sequence: 1 }),
    ).toMatchObject({
      kind: 'event',
      name: 'chunk_updated',
      eventId: 'e1-1',
    });
    expect(earthringDialect.decode({ type: 'pong', id: 'p1' })).toMatchObject({ kind: 'pong', id: 'p1' });
    expect(
      earthringDialect.decode({ type: 'error', id: 'r2', data: { code: 'INVALID_ZONE', message: 'self-intersecting' } }),
    ).toMatchObject({
      kind: 'error',
      error: { code: 'INVALID_ZONE', message: 'self-intersecting' },
    });
    expect(
      earthringDialect.decode({
        type: 'error',
        id: 'r3',
        error: 'Error message',
        message: 'Human readable',
        code: 'UnknownMessageType',
      }),
    ).toMatchObject({
      kind: 'error',
      id: 'r3',
      error: { code: 'UnknownMessageType', message: 'Human readable' },
    });
  });

  it('unpacks a players_moved tick into the player_moved events it stands for, in order, each with its eventId', () => {
    const move = (player_id: number, x: number, sequence: number) => ({
      player_id,
      position: { x, y: 0 },
      floor: 0,
      rotation: 0,
      sequence,
    });
    const frame = {
      type: 'players_moved',
      data: { epoch: 'abc', moves: [move(7, 10, 41), move(8, 20, 42), move(7, 11, 44)] },
      eventId: 'eabc-44',
      sequence: 44,
    };
    const decoded = earthringDialect.decode(frame);
    expect(decoded?.kind).toBe('batch');
    const frames = decoded?.kind === 'batch' ? decoded.frames : [];
    expect(frames.map((f) => (f.kind === 'event' ? [f.name, f.eventId, f.sequence] : f.kind))).toEqual([
      ['player_moved', 'eabc-41', 41],
      ['player_moved', 'eabc-42', 42],
      ['player_moved', 'eabc-44', 44],
    ]);
    expect(frames[0]).toMatchObject({ data: { player_id: 7, position: { x: 10, y: 0 }, floor: 0, rotation: 0 } });
    expect((frames[0] as { data: Record<string, unknown> }).data.sequence).toBeUndefined();
    // Not a tick after all (no moves list): read like any other frame with an eventId.
    expect(earthringDialect.decode({ type: 'players_moved', data: {}, eventId: 'eabc-1' })).toMatchObject({
      kind: 'event',
      name: 'players_moved',
    });
  });
});
