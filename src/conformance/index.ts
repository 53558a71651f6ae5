import type { ConformanceSocketIo, EngineEcho } from '../actors/conformance';

export { ConformanceSocketIo, EngineEcho } from '../actors/conformance';

interface ConformanceEnv {
  ENGINE_ECHO: DurableObjectNamespace<EngineEcho>;
  SOCKET_IO: DurableObjectNamespace<ConformanceSocketIo>;
}

/**
 * The conformance Worker (`npm run conformance`, localhost:3000): `/engine.io/` and `/socket.io/` as the official
 * protocol test suites expect, each served by one actor of the production Engine.IO / Socket.IO modules.
 */
export default {
  fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === '/engine.io/' || pathname === '/engine.io') return env.ENGINE_ECHO.getByName('conformance').fetch(request);
    if (pathname === '/socket.io/' || pathname === '/socket.io') return env.SOCKET_IO.getByName('conformance').fetch(request);
    return new Response('Not found', { status: 404 });
  },
} satisfies ExportedHandler<ConformanceEnv>;
