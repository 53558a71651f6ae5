// The sign-in screen both demo pages share (the room demo and the hub page): the form, guest/login/register, and
// sign-out back to it. Each page supplies what happens once someone is signed in and how it stops.
import { $ } from './dom';
import * as auth from './session';

export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function showLogin(roomId: string, error = ''): void {
  $('room').hidden = true;
  $('me').hidden = true;
  $('status').hidden = true;
  $('login').hidden = false;
  $<HTMLInputElement>('login-room').value = roomId;
  $('login-error').textContent = error;
}

export interface LoginHooks {
  /** Someone signed in (or was already): show the room. */
  enter(roomId: string, session: auth.Session): void;
  /** Signing out: stop the page's connection before the form comes back. */
  leave(): void;
  /** An error as one line for the form. */
  describe?(err: unknown): string;
}

async function signIn(kind: 'login' | 'register' | 'guest', hooks: LoginHooks): Promise<void> {
  const roomId = $<HTMLInputElement>('login-room').value.trim();
  const username = $<HTMLInputElement>('login-user').value.trim();
  const password = $<HTMLInputElement>('login-pass').value;
  const error = $('login-error');
  if (!ROOM_PATTERN.test(roomId)) {
    error.textContent = 'Room: 1-64 letters, digits, "-" or "_"';
    return;
  }
  if (kind !== 'guest' && (!username || !password)) {
    error.textContent = 'Enter a username and a password, or continue as a guest';
    return;
  }
  error.textContent = '';
  const buttons = document.querySelectorAll<HTMLButtonElement>('#login-form button');
  for (const b of buttons) b.disabled = true;
  try {
    const session =
      kind === 'guest'
        ? await auth.guest(username.replace(/\s+/g, '_'))
        : kind === 'login'
          ? await auth.login(username, password)
          : await auth.register(username, password);
    hooks.enter(roomId, session);
  } catch (err) {
    error.textContent = hooks.describe ? hooks.describe(err) : err instanceof Error ? err.message : String(err);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/** Wires the form and sign-out, then enters the room at once when a session is stored. Answers the page's room id. */
export function bootLogin(hooks: LoginHooks): string {
  const fromPath = document.body.dataset.room ?? '';
  const roomId = ROOM_PATTERN.test(fromPath) ? fromPath : 'lobby';
  $<HTMLFormElement>('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn('login', hooks);
  });
  $('register-btn').addEventListener('click', () => void signIn('register', hooks));
  $('guest-btn').addEventListener('click', () => void signIn('guest', hooks));
  $('sign-out').addEventListener('click', () => {
    hooks.leave();
    auth.forget();
    showLogin(roomId);
  });
  const session = auth.load();
  if (session) hooks.enter(roomId, session);
  else showLogin(roomId);
  return roomId;
}
