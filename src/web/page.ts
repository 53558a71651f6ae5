/**
 * The demo page (GET /demo/{roomId}) in the shared shell (./shell.ts). The room id is validated by the route before
 * it gets here and is escaped anyway; everything dynamic is done by the script (/demo/app.js, built from src/web/app
 * by scripts/build-web.mjs).
 */

import { documentHead, escapeHtml, pageShell } from './shell';

const TOOLS = [
  { tool: 'pen', label: 'Pen', key: 'P', icon: '✎' },
  { tool: 'eraser', label: 'Eraser', key: 'E', icon: '⌫' },
  { tool: 'rectangle', label: 'Rectangle', key: 'R', icon: '▭' },
  { tool: 'circle', label: 'Circle', key: 'C', icon: '◯' },
] as const;

export function demoPage(roomId: string, assetVersion: string): string {
  const tools = TOOLS.map(
    (t) =>
      `<button type="button" class="tool" data-tool="${t.tool}" aria-pressed="false" title="${t.label} (${t.key})"><span aria-hidden="true">${t.icon}</span> ${t.label}</button>`,
  ).join('\n          ');
  return pageShell({
    title: `${roomId || 'Demo'} · EdgeRooms`,
    script: '/demo/app.js',
    product: 'collaboration demo',
    roomId,
    assetVersion,
    statusExtra: '<button type="button" id="retry" class="link" hidden>Retry</button>',
    login: {
      heading: 'Join a room',
      blurb: 'Draw together, chat and roll dice. Sign in, register, or just continue as a guest.',
      usernamePlaceholder: 'also your name as a guest',
    },
    room: `      <div class="stage">
        <div class="toolbar" role="toolbar" aria-label="Drawing tools">
          ${tools}
          <label class="field" title="Colour"><input type="color" id="color" value="#1f6feb" aria-label="Colour"></label>
          <label class="field">Size <input type="range" id="size" min="1" max="40" value="4"> <output id="size-value">4</output></label>
          <span class="spacer"></span>
          <button type="button" id="undo" title="Undo your last operation (Ctrl+Z)">↶ Undo</button>
          <button type="button" id="redo" title="Redo (Ctrl+Shift+Z)">↷ Redo</button>
          <button type="button" id="clear" class="danger" title="Clear the canvas (undoable)">Clear</button>
          <button type="button" id="export" title="Save the canvas as a PNG image">⤓ PNG</button>
        </div>
        <div id="board" class="board">
          <canvas id="canvas" data-ops-count="0" data-duplicates="0" aria-label="Shared canvas"></canvas>
          <canvas id="preview" aria-hidden="true"></canvas>
          <div id="cursors" aria-hidden="true"></div>
        </div>
        <p id="toast" class="toast" role="alert" hidden></p>
      </div>
      <aside class="side">
        <section class="panel">
          <h2>People <span id="people-count" class="badge">0</span></h2>
          <ul id="people" class="people"></ul>
          <form id="invite" class="inline invite">
            <input id="invite-link" readonly aria-label="Invite link" spellcheck="false">
            <button type="submit" id="invite-copy" title="Copy the link to this room">Copy invite link</button>
          </form>
        </section>
        <section class="panel">
          <h2>Dice</h2>
          <form id="dice-form" class="inline">
            <input id="dice-notation" value="2d6+3" maxlength="100" aria-label="Dice notation" spellcheck="false">
            <button type="submit">Roll</button>
          </form>
        </section>
        <section class="panel chat">
          <h2>Chat &amp; activity</h2>
          <ol id="feed" class="feed"></ol>
          <form id="chat-form" class="inline">
            <input id="chat-input" maxlength="2000" placeholder="Say something…" autocomplete="off" aria-label="Message">
            <button type="submit">Send</button>
          </form>
        </section>
      </aside>`,
  });
}

/**
 * A page for what the demo cannot show (a room id that is not one): a person gets a sentence and a way on, not an
 * API error body.
 */
export function demoErrorPage(status: number, title: string, detail: string, assetVersion: string): string {
  const v = encodeURIComponent(assetVersion);
  return `${documentHead(`${title} · EdgeRooms`, v)}
<body>
  <header class="bar"><div class="brand">EdgeRooms <span class="muted">collaboration demo</span></div></header>
  <main>
    <section class="card login" id="error-page" data-status="${status}">
      <h1>${escapeHtml(title)}</h1>
      <p>${escapeHtml(detail)}</p>
      <p><a href="/demo">Pick a room</a> · <a href="/demo/lobby">Go to the lobby</a></p>
    </section>
  </main>
</body>
</html>
`;
}
