import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { zodDetails, zodMessage } from '../../src/errors';
import { call, expectError, uniqueName } from '../support/api';

const fail = (schema: z.ZodType, input: unknown) => {
  const r = schema.safeParse(input);
  if (r.success) throw new Error('expected a failure');
  return r.error;
};

describe('validation messages: one clear sentence per failing field', () => {
  it('says what each field needs, in plain words', () => {
    const schema = z.object({
      name: z.string().min(3).max(5),
      floor: z.number().int().min(-2).max(15),
      kind: z.enum(['a', 'b']),
      tags: z.array(z.string()).max(1),
      email: z.email(),
    });
    const error = fail(schema, { name: 'ab', floor: 99, kind: 'c', tags: ['x', 'y'], email: 'nope' });
    expect(zodMessage(error)).toBe(
      'name: must be at least 3 characters long. floor: must be at most 15. kind: must be one of "a", "b". ' +
        'tags: must be at most 1 item. email: must be a valid email.',
    );
    expect(zodMessage(fail(schema.pick({ floor: true }), {}))).toBe('floor: is required (a number).');
    expect(zodMessage(fail(schema.pick({ name: true }), { name: 7 }))).toBe('name: must be a string, not number.');
    expect(zodMessage(fail(z.strictObject({}), { extra: 1 }))).toBe('(body): has unknown field extra.');
    // A schema's own message is kept, without repeating the field's name.
    expect(
      zodMessage(fail(z.object({ password: z.string().refine(() => false, 'Password must be long') }), { password: 'x' })),
    ).toBe('password: must be long.');
  });

  it('keeps the details structure: field plus issues with field, issue and message', () => {
    const details = zodDetails(fail(z.object({ a: z.string() }), {}));
    expect(details).toEqual({ field: 'a', issues: [{ field: 'a', issue: 'invalid_type', message: expect.any(String) }] });
  });

  it('answers a short password with "password: must be at least 8 characters long."', async () => {
    const r = await call('/api/auth/register', { body: { username: uniqueName(), password: 'Ab1!' } });
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.message).toBe('password: must be at least 8 characters long.');
    expect(r.body.details.field).toBe('password');
    expect(r.body.details.location).toBe('json');
  });

  it('names every failing field of a body once', async () => {
    const r = await call('/api/auth/register', { body: { username: 'x', password: 'Ab1!' } });
    expectError(r, 400, 'INVALID_REQUEST');
    expect(r.body.message).toMatch(/^username: .+\. password: must be at least 8 characters long\.$/);
    expect(r.body.details.issues.map((i: { field: string }) => i.field)).toEqual(['username', 'password']);
  });
});
