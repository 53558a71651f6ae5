import { describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../src/core/protocol';
import {
  createCollabDialect,
  DIALECT,
  ephemeralFrame,
  errorNumber,
  eventFrame,
  parseRequest,
  REQUESTS_PER_MINUTE,
} from '../../src/dialects/collab';
import { ApiError } from '../../src/errors';

/** Rendering never reaches the host: one that fails loudly proves it. */
const dialect = createCollabDialect({
  request: () => {
    throw new Error('host must not be called while rendering');
  },
  closed: () => {
    throw new Error('host must not be called while rendering');
  },
});

const logged: LoggedEvent = {
  sequence: 7,
  eventId: 'eabc-7',
  timestamp: '2026-01-30T10:00:00.000Z',
  epoch: 'abc',
  scope: 'room',
  type: 'chat_message',
  data: { text: 'hi' },
};

describe('collab dialect: envelope', () => {
  it('accepts requests with a string or numeric id, or none', () => {
    expect(parseRequest({ type: 'request', id: 'a1', method: 'chat.send', params: { text: 'x' } })).toEqual({
      id: 'a1',
      method: 'chat.send',
      params: { text: 'x' },
    });
    expect(parseRequest({ type: 'request', id: 3, method: 'room.join' })).toEqual({
      id: 3,
      method: 'room.join',
      params: undefined,
    });
    expect(parseRequest({ type: 'request', method: 'room.state' })).toEqual({ method: 'room.state', params: undefined });
  });

  it('refuses non-objects, other types, bad ids and missing methods with INVALID_REQUEST naming the field', () => {
    const refused = (frame: unknown) => {
      try {
        parseRequest(frame);
      } catch (err) {
        expect(err).toBeInstanceOf(ApiError);
        return err as ApiError;
      }
      throw new Error('accepted');
    };
    expect(refused(null).code).toBe('INVALID_REQUEST');
    expect(refused([1, 2]).code).toBe('INVALID_REQUEST');
    expect(refused({ type: 'response', id: '1', method: 'x' }).details).toMatchObject({ field: 'type' });
    expect(refused({ type: 'request', id: { nested: true }, method: 'x' }).details).toMatchObject({ field: 'id' });
    expect(refused({ type: 'request', id: 'x'.repeat(129), method: 'x' }).details).toMatchObject({ field: 'id' });
    expect(refused({ type: 'request', id: '1', method: '' }).details).toMatchObject({ field: 'method' });
    expect(refused({ type: 'request', id: '1', method: 42 }).details).toMatchObject({ field: 'method' });
  });

  it('maps string error codes to the numeric code of the seed, keeping the string as reason', () => {
    expect(errorNumber('INVALID_REQUEST')).toBe(400);
    expect(errorNumber('AUTHENTICATION_REQUIRED')).toBe(401);
    expect(errorNumber('AUTHORIZATION_FAILED')).toBe(403);
    expect(errorNumber('TENANT_VIOLATION')).toBe(403);
    expect(errorNumber('NOT_FOUND')).toBe(404);
    expect(errorNumber('PAYLOAD_TOO_LARGE')).toBe(413);
    expect(errorNumber('RATE_LIMIT_EXCEEDED')).toBe(429);
    expect(errorNumber('SERVER_ERROR')).toBe(500);
    expect(errorNumber('SOMETHING_NEW')).toBe(500);
    const frame = dialect.renderError(
      { code: 'NOT_FOUND', message: 'No such participant', details: { issue: 'unknown_participant' } },
      { type: 'request', id: 'r9', method: 'turn.remove' },
    );
    expect(frame).toMatchObject({
      type: 'error',
      id: 'r9',
      error: { code: 404, message: 'No such participant', reason: 'NOT_FOUND', details: { issue: 'unknown_participant' } },
      timestamp: expect.any(Number),
    });
    // An undecodable frame has no id to echo.
    expect(dialect.renderError({ code: 'INVALID_REQUEST', message: 'Malformed JSON' })).not.toHaveProperty('id');
  });

  it('renders logged events with their name in method, ms timestamps, eventId and sequence; ephemeral ones without', () => {
    const frame = eventFrame(logged);
    expect(frame).toEqual({
      type: 'event',
      method: 'chat_message',
      data: { text: 'hi' },
      timestamp: Date.parse(logged.timestamp),
      eventId: 'eabc-7',
      sequence: 7,
    });
    expect(dialect.renderEvent(logged, undefined as never)).toEqual(frame);
    expect(dialect.frameName(frame)).toBe('chat_message');
    const cursor = ephemeralFrame('cursor', { userId: 'u1', x: 1, y: 2 });
    expect(cursor).toMatchObject({ type: 'event', method: 'cursor', data: { x: 1, y: 2 } });
    expect(cursor).not.toHaveProperty('eventId');
  });

  it('limits frames to 64 KB and gives cursor moves a budget beside the 100 requests a minute', () => {
    expect(dialect.name).toBe(DIALECT);
    expect(dialect.limits?.maxMessageBytes).toBe(64 * 1024);
    expect(dialect.limits?.messagesPerMinute).toBe(REQUESTS_PER_MINUTE + 3600);
  });
});
