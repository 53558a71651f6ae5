import { describe, expect, it } from 'vitest';
import { ApiError, attempt, fail, isApiError, ok } from '../../src/errors';

describe('ApiError and Result', () => {
  it('carries code, message and details', () => {
    const e = new ApiError('INVALID_ZONE', 'Zone geometry contains self-intersections', {
      details: {
        field: 'geometry',
        issue: 'self_intersection',
      },
    });
    expect(isApiError(e)).toBe(true);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('INVALID_ZONE');
    expect(e.details).toEqual({ field: 'geometry', issue: 'self_intersection' });
  });

  it('attempt turns an ApiError into a failed Result and a value into ok', () => {
    expect(attempt(() => 3)).toEqual(ok(3));
    const r = attempt(() => {
      throw new ApiError('INVALID_REQUEST', 'bad', { details: { field: 'x', issue: 'y' } });
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.details?.issue).toBe('y');
    expect(fail('CHUNK_NOT_FOUND', 'gone', { field: 'chunk_id', issue: 'missing' }).ok).toBe(false);
  });

  it('attempt does not swallow other errors', () => {
    expect(() =>
      attempt(() => {
        throw new TypeError('boom');
      }),
    ).toThrow(TypeError);
  });
});
