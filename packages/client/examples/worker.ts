// Workers: bundled by scripts/test-sdk.mjs and run in workerd (Miniflare). An outbound socket comes from a fetch
// upgrade, handed to the SDK through `openWebSocket`.
import type { WebSocketLike } from '@edgerooms/client';
import { roomRoundTrip } from './scenario.js';

interface UpgradedSocket extends WebSocketLike {
  accept(): void;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { base, token } = (await request.json()) as { base: string; token: string };
    const openWebSocket = async (url: string) => {
      const res = (await fetch(url.replace(/^ws/, 'http'), { headers: { Upgrade: 'websocket' } })) as Response & {
        webSocket?: UpgradedSocket | null;
      };
      if (!res.webSocket) throw new Error(`upgrade refused: ${res.status}`);
      res.webSocket.accept();
      return res.webSocket;
    };
    const text = await roomRoundTrip({ base, token, openWebSocket });
    return Response.json({ runtime: 'workerd', text });
  },
};
