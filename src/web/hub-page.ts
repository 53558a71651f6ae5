/**
 * The hub page (GET /demo/hub/{roomId}) in the shared shell (./shell.ts): seed 003's Socket.IO hub from the browser.
 * The room id is validated by the route and escaped anyway; everything dynamic is done by /demo/hub/app.js
 * (src/web/app/hub.ts).
 */
import { pageShell } from './shell';

export function hubPage(roomId: string, assetVersion: string): string {
  return pageShell({
    title: `${roomId || 'Hub'} · EdgeRooms hub`,
    script: '/demo/hub/app.js',
    product: 'Socket.IO hub demo',
    roomId,
    assetVersion,
    login: {
      heading: 'Join a hub room',
      blurb: 'Chat over Socket.IO with presence. Sign in, register, or just continue as a guest.',
    },
    room: `      <aside class="side">
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
      </aside>`,
  });
}
