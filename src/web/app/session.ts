/**
 * Signing in from the demo page: register, log in, or a guest (a fresh random account), against the Worker's own
 * `/api/auth/*`. The session lives in sessionStorage, so each tab can be a different user (two tabs, two
 * people) and a reload keeps it. The access token (15 min) is refreshed shortly before it runs out; the refresh
 * token rotates on every use, as the server requires.
 */

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch. */
  expiresAt: number;
  userId: string;
  username: string;
}

const STORAGE_KEY = 'edgerooms.demo.session';
/** Refresh this long before expiry, so a reconnect never presents a token that dies on the way. */
const REFRESH_MARGIN_MS = 60_000;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface SessionBody {
  access_token: string;
  refresh_token: string;
  expires_at: string;
  user_id: number;
  username: string;
}

async function call(path: string, body: unknown): Promise<Session> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = (await res.json().catch(() => ({}))) as Partial<SessionBody> & { error?: string; message?: string };
  if (!res.ok || typeof data.access_token !== 'string') {
    throw new AuthError(data.message ?? `Request failed (${res.status})`, data.error ?? 'ERROR', res.status);
  }
  const session: Session = {
    accessToken: data.access_token,
    refreshToken: data.refresh_token ?? '',
    expiresAt: Date.parse(data.expires_at ?? '') || Date.now() + 15 * 60_000,
    userId: String(data.user_id ?? ''),
    username: data.username ?? '',
  };
  save(session);
  return session;
}

export const register = (username: string, password: string) => call('/api/auth/register', { username, password });
export const login = (username: string, password: string) => call('/api/auth/login', { username, password });

/**
 * A throwaway account with a random password that meets the server's policy: named `name` when the guest typed
 * one (with a short suffix when that name is taken), else `guest-xxxxxx`.
 */
export async function guest(name = ''): Promise<Session> {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  const password = `Gx-${hex}`;
  if (!name) return register(`guest-${hex.slice(0, 6)}`, password);
  try {
    return await register(name, password);
  } catch (err) {
    if (!(err instanceof AuthError) || err.code !== 'CONFLICT') throw err;
    return register(`${name.slice(0, 27)}-${hex.slice(0, 4)}`, password);
  }
}

export function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    const s = raw ? (JSON.parse(raw) as Session) : null;
    return s && typeof s.accessToken === 'string' ? s : null;
  } catch {
    return null;
  }
}

function save(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function forget(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

let refreshing: Promise<Session> | null = null;

/** A valid access token: the stored one, or a refreshed one when it is about to expire. */
export async function freshToken(): Promise<string> {
  const s = load();
  if (!s) throw new AuthError('Not signed in', 'AUTHENTICATION_REQUIRED', 401);
  if (s.expiresAt - Date.now() > REFRESH_MARGIN_MS) return s.accessToken;
  // One refresh at a time: the refresh token is single-use, a second concurrent use would revoke the family.
  refreshing ??= call('/api/auth/refresh', { refresh_token: s.refreshToken }).finally(() => {
    refreshing = null;
  });
  return (await refreshing).accessToken;
}
