/**
 * The hub page's HTML shell (GET /demo/hub/{roomId}): seed 003's Socket.IO hub from the browser. The room id is
 * validated by the route and escaped anyway; everything dynamic is done by /demo/hub/app.js (src/web/app/hub.ts).
 */
import { escapeHtml } from './page';

export function hubPage(roomId: string, assetVersion: string): string {
  const room = escapeHtml(roomId);
  const v = encodeURIComponent(assetVersion);
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>${room || 'Hub'} · EdgeRooms hub</title>
  <link rel="stylesheet" href="/demo/app.css?v=${v}">
  <script type="module" src="/demo/hub/app.js?v=${v}"></script>
</head>
<body data-room="${room}">
  <header class="bar">
    <div class="brand">EdgeRooms <span class="muted">Socket.IO hub demo</span></div>
    <div class="room-label">Room <strong id="room-name">${room}</strong></div>
    <div id="status" class="status" data-state="offline" role="status" aria-live="polite" hidden>
      <span class="dot" aria-hidden="true"></span><span id="status-text">offline</span>
      <span id="status-detail" class="muted"></span>
    </div>
    <div id="me" class="me" hidden>
      <span id="me-name"></span>
      <select id="me-status" aria-label="Your status"><option value="online">online</option><option value="away">away</option></select>
      <button type="button" id="sign-out" class="link">Sign out</button>
    </div>
  </header>
  <main>
    <section id="login" class="card login" hidden>
      <h1>Join a hub room</h1>
      <p class="muted">Chat over Socket.IO with presence. Sign in, register, or just continue as a guest.</p>
      <form id="login-form" autocomplete="on">
        <label>Room <input id="login-room" name="room" required maxlength="64" pattern="[A-Za-z0-9_\\-]{1,64}"></label>
        <label>Username <input id="login-user" name="username" autocomplete="username" maxlength="32"></label>
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
      <aside class="side">
        <section class="panel">
          <h2>Here now <span id="people-count" class="badge">0</span></h2>
          <ul id="people" class="people"></ul>
        </section>
        <section class="panel chat">
          <h2>Chat</h2>
          <ol id="feed" class="feed"></ol>
          <form id="chat-form" class="inline">
            <input id="chat-input" maxlength="2000" placeholder="Say something…" autocomplete="off" aria-label="Message">
            <button type="submit">Send</button>
          </form>
        </section>
        <p id="toast" class="toast" role="alert" hidden></p>
      </aside>
    </section>
  </main>
</body>
</html>
`;
}
