/**
 * Presenting a fresh access token on an open connection before the current one expires (`{"type":"auth",
 * "token"}`, answered `auth_ok`), so the server does not close it with 4001 at `exp`. The SDK only reads the
 * token's `iat`/`exp` to know when; the server verifies it.
 */

/** At most this long before `exp` the fresh token is presented (a quarter of the lifetime for short tokens). */
export const REFRESH_LEAD_SECONDS = 60;

/** After a refresh that failed or gave the same token, try again this much later (while before `exp`). */
export const REFRESH_RETRY_MS = 5_000;

/** The in-band re-authentication frame every realtime dialect understands (sent as JSON text). */
export const authFrame = (token: string): string => JSON.stringify({ type: 'auth', token });

/** `iat` and `exp` (seconds) of a JWT, read without verifying it; null when it is not a JWT with an `exp`. */
export function tokenTimes(token: string): { iat: number | null; exp: number } | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const claims = JSON.parse(json) as { iat?: unknown; exp?: unknown };
    if (typeof claims.exp !== 'number') return null;
    return { iat: typeof claims.iat === 'number' ? claims.iat : null, exp: claims.exp };
  } catch {
    return null;
  }
}

/** Milliseconds from `nowMs` until a token should be replaced on the open connection; null for no `exp`. */
export function refreshDelayMs(token: string, nowMs = Date.now()): number | null {
  const times = tokenTimes(token);
  if (!times) return null;
  const lifetime = times.iat === null ? REFRESH_LEAD_SECONDS * 4 : times.exp - times.iat;
  const lead = Math.min(REFRESH_LEAD_SECONDS, Math.max(1, lifetime / 4));
  return Math.max(0, (times.exp - lead) * 1000 - nowMs);
}

/**
 * Keeps an open connection's token fresh: before the current token's `exp` it asks `fetchToken` for one and,
 * when it differs, hands it to `present`; then waits for the new token's turn. A source that keeps answering
 * the same token (a fixed string) is asked again every `REFRESH_RETRY_MS` until `exp`, then left alone.
 */
export class TokenRefresher {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    private token: string,
    private readonly fetchToken: () => Promise<string>,
    private readonly present: (token: string) => boolean,
  ) {}

  start(): void {
    this.#schedule(refreshDelayMs(this.token));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(delay: number | null): void {
    if (this.#stopped || delay === null) return;
    this.#timer = setTimeout(() => void this.#refresh(), delay);
  }

  async #refresh(): Promise<void> {
    let fresh: string | null = null;
    try {
      fresh = await this.fetchToken();
    } catch {
      // The source failed this time; try again below while the token still lives.
    }
    if (this.#stopped) return;
    if (fresh && fresh !== this.token && this.present(fresh)) {
      this.token = fresh;
      this.#schedule(refreshDelayMs(fresh));
      return;
    }
    const times = tokenTimes(this.token);
    if (times && times.exp * 1000 > Date.now() + REFRESH_RETRY_MS) this.#schedule(REFRESH_RETRY_MS);
  }
}
