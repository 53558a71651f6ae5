import { describe, expect, it } from 'vitest';
import { attempt, DomainError, fail, isDomainError, ok } from '../../src/domain/errors';

describe('DomainError and Result', () => {
  it('carries code, message and details', () => {
    const e = new DomainError('INVALID_ZONE', 'Zone geometry contains self-intersections', {
      field: 'geometry',
      issue: 'self_intersection',
    });
    expect(isDomainError(e)).toBe(true);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('INVALID_ZONE');
    expect(e.details).toEqual({ field: 'geometry', issue: 'self_intersection' });
  });

  it('attempt turns a DomainError into a failed Result and a value into ok', () => {
    expect(attempt(() => 3)).toEqual(ok(3));
    const r = attempt(() => {
      throw new DomainError('INVALID_REQUEST', 'bad', { field: 'x', issue: 'y' });
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.details.issue).toBe('y');
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
