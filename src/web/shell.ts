/**
 * The HTML shell both demo pages share (the room demo, src/web/page.ts, and the hub page, src/web/hub-page.ts):
 * head, the top bar with the connection status and the signed-in user, and the sign-in card. Each page brings its
 * title, script, wording and the room's own section. Values are escaped here or by the caller, as marked.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);

export interface PageShell {
  /** Escaped here. */
  title: string;
  /** The page's script (a path under /demo); the asset version is appended. */
  script: string;
  /** What the brand says the page is ("collaboration demo"). */
  product: string;
  /** The room id, escaped here. */
  roomId: string;
  assetVersion: string;
  /** Extra markup at the end of the status indicator (HTML). */
  statusExtra?: string;
  login: { heading: string; blurb: string; usernamePlaceholder?: string };
  /** The `#room` section's content (HTML). */
  room: string;
}

/** Every demo page's doctype and `<head>` (title, the shared stylesheet at asset version `v`, then `extra`). */
export function documentHead(title: string, v: string, extra = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>${escapeHtml(title)}</title>
  <link rel="stylesheet" href="/demo/app.css?v=${v}">${extra}
</head>`;
}

export function pageShell(p: PageShell): string {
  const room = escapeHtml(p.roomId);
  const v = encodeURIComponent(p.assetVersion);
  const placeholder = p.login.usernamePlaceholder ? ` placeholder="${escapeHtml(p.login.usernamePlaceholder)}"` : '';
  return `${documentHead(p.title, v, `\n  <script type="module" src="${p.script}?v=${v}"></script>`)}
<body data-room="${room}">
  <header class="bar">
    <div class="brand">EdgeRooms <span class="muted">${escapeHtml(p.product)}</span></div>
    <div class="room-label">Room <strong id="room-name">${room}</strong></div>
    <div id="status" class="status" data-state="offline" role="status" aria-live="polite" hidden>
      <span class="dot" aria-hidden="true"></span><span id="status-text">offline</span>
      <span id="status-detail" class="muted"></span>${p.statusExtra ? `\n      ${p.statusExtra}` : ''}
    </div>
    <div id="me" class="me" hidden>
      <span id="me-name"></span>
      <select id="me-status" aria-label="Your status"><option value="online">online</option><option value="away">away</option></select>
      <button type="button" id="sign-out" class="link">Sign out</button>
    </div>
  </header>
  <main>
    <section id="login" class="card login" hidden>
      <h1>${escapeHtml(p.login.heading)}</h1>
      <p class="muted">${escapeHtml(p.login.blurb)}</p>
      <form id="login-form" autocomplete="on">
        <label>Room <input id="login-room" name="room" required maxlength="64" pattern="[A-Za-z0-9_\\-]{1,64}"></label>
        <label>Username <input id="login-user" name="username" autocomplete="username" maxlength="32"${placeholder}></label>
        <label>Password <input id="login-pass" name="password" type="password" autocomplete="current-password" maxlength="128"></label>
        <div class="row">
          <button type="submit">Log in</button>
          <button type="button" id="register-btn">Register</button>
          <button type="button" id="guest-btn" class="primary">Continue as guest</button>
        </div>
        <p id="login-error" class="error" role="alert"></p>
      </form>
    </section>
    <section id="room" class="room" hidden>
${p.room}
    </section>
  </main>
</body>
</html>
`;
}
