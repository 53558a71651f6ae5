/**
 * The WebSockets a test file accepts, so that nothing is still on its way to an actor when the file ends.
 *
 * Why: under `@cloudflare/vitest-plugin` every event that enters the Worker or an actor (a `webSocketClose`, an
 * alarm, an RPC) first asks Vitest to resolve the main module over the runner's RPC channel. A socket a test closes
 * as its last step (`ws.close()` without waiting) reaches its actor a few milliseconds later; when that is the
 * moment the file ends, Vitest closes the channel with the request pending and prints
 * `EnvironmentTeardownError: Closing rpc while "resolve" was pending`. So after each test (test/setup.ts) every
 * socket the test accepted is closed if still open, and its close awaited until it came back from the actor.
 */

const accepted = new Set<WebSocket>();
/** Whether this file accepted any socket (then its end waits for the actors' close handlers, below). */
let acceptedAny = false;

/** Remembers every WebSocket accepted from now on (test code accepts the client end of each upgrade). */
export function trackAcceptedSockets(): void {
  const accept = WebSocket.prototype.accept;
  WebSocket.prototype.accept = function (this: WebSocket) {
    accept.call(this);
    accepted.add(this);
    acceptedAny = true;
    this.addEventListener('close', () => accepted.delete(this));
  };
}

/** Closes what is still open and waits (at most `ms` per socket) for every close to complete. */
export async function settleSockets(ms = 5_000): Promise<void> {
  const left = [...accepted];
  accepted.clear();
  await Promise.all(left.map((ws) => closed(ws, ms)));
}

function closed(ws: WebSocket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      if (ws.readyState === WebSocket.CLOSED) return done();
      ws.addEventListener('close', done, { once: true });
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'test over');
    } catch {
      // The server end of a pair the Worker or an actor accepted belongs to their request, not to this test.
      done();
    }
  });
}

/**
 * At a file's end: a completed close only says the close frame came back; the actor's `webSocketClose` handler may
 * still be at work (the hub tells other shards of a disconnect). A file that accepted sockets gives those handlers a
 * moment before Vitest closes its channel.
 */
export async function settleFile(ms = 500): Promise<void> {
  if (!acceptedAny) return;
  acceptedAny = false;
  await new Promise((resolve) => setTimeout(resolve, ms));
}
