import { bytesEqual, fromBase64Url, randomBytes, toBase64Url } from './crypto';

/**
 * PBKDF2-SHA256 through WebCrypto at 100,000 iterations: the most the Workers runtime accepts in
 * production (workerd's DEFAULT_MAX_PBKDF2_ITERATIONS; more is a NotSupportedError there, see
 * cloudflare/workerd#1346). The open-source workerd used by `wrangler dev` and the tests has that cap
 * removed, so it accepts more; we still stay at the production maximum. Each stored hash keeps its own
 * algorithm and count, so the count can change later without locking anyone out.
 */
export const PBKDF2_ALGORITHM = 'pbkdf2-sha256';
export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;

export interface PasswordHash {
  algorithm: string;
  iterations: number;
  /** base64url */
  salt: string;
  /** base64url */
  hash: string;
}

const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, HASH_BITS);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, PBKDF2_ITERATIONS);
  return { algorithm: PBKDF2_ALGORITHM, iterations: PBKDF2_ITERATIONS, salt: toBase64Url(salt), hash: toBase64Url(hash) };
}

/** Stored counts above this are refused: production would throw, and a crafted row must not buy CPU. */
export const PBKDF2_MAX_ITERATIONS = 100_000;

/** True when `password` matches; compares in constant time. An unknown algorithm or count never matches. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.algorithm !== PBKDF2_ALGORITHM) return false;
  if (!Number.isInteger(stored.iterations) || stored.iterations < 1 || stored.iterations > PBKDF2_MAX_ITERATIONS) {
    return false;
  }
  const actual = await derive(password, fromBase64Url(stored.salt), stored.iterations);
  return bytesEqual(actual, fromBase64Url(stored.hash));
}

/** A fixed salt for `burnPasswordHash`; its result is thrown away. */
const DUMMY_SALT = new Uint8Array(SALT_BYTES);

/**
 * Spends the same work as a real verification, for logins of unknown users, so response time does not
 * tell which usernames exist.
 */
export async function burnPasswordHash(password: string): Promise<void> {
  await derive(password, DUMMY_SALT, PBKDF2_ITERATIONS);
}
