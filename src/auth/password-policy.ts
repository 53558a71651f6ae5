/** Password rules (pure): 8..128 characters and at least 3 of the 4 character classes. */

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
export const PASSWORD_MIN_CLASSES = 3;

const CLASSES = [
  { name: 'lowercase letter', test: /\p{Ll}/u },
  { name: 'uppercase letter', test: /\p{Lu}/u },
  { name: 'digit', test: /\p{Nd}/u },
  // Anything else counts as a symbol: punctuation, spaces, letters without case (CJK), emoji.
  { name: 'symbol', test: /[^\p{Ll}\p{Lu}\p{Nd}]/u },
] as const;

/** What a password lacks, as one sentence a person can act on; null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  const missing = CLASSES.filter((c) => !c.test.test(password)).map((c) => c.name);
  if (CLASSES.length - missing.length >= PASSWORD_MIN_CLASSES) return null;
  return (
    `Password must contain at least ${PASSWORD_MIN_CLASSES} of these ${CLASSES.length}: ` +
    `${CLASSES.map((c) => c.name).join(', ')} (missing: ${missing.join(', ')})`
  );
}
