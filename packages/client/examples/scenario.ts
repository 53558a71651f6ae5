// The SDK example every runtime runs (`npm run test:sdk`, scripts/test-sdk.mjs): join a room over the WebSocket, chat, hear it back.
// Type-checked from a scratch project that installed the packed tarball, under `nodenext` and `bundler`.
import { createClient, roomsDialect, type WebSocketConstructorLike, type WebSocketFactory } from '@edgerooms/client';

export interface Target {
  /** http(s) origin of the Worker. */
  base: string;
  token: string;
  WebSocket?: WebSocketConstructorLike;
  openWebSocket?: WebSocketFactory;
}

/** Resolves to the chat line the room sent back, or rejects within `timeoutMs`. */
export async function roomRoundTrip(target: Target, timeoutMs = 15_000): Promise<string> {
  const room = `sdk-${Math.random().toString(36).slice(2, 10)}`;
  const client = createClient({
    url: `${target.base.replace(/^http/, 'ws')}/ws/rooms/${room}`,
    dialect: roomsDialect,
    token: target.token,
    reconnect: { maxAttempts: 2 },
    heartbeatInterval: 0,
    ...(target.WebSocket ? { WebSocket: target.WebSocket } : {}),
    ...(target.openWebSocket ? { openWebSocket: target.openWebSocket } : {}),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const heard = new Promise<string>((resolve) => {
      client.on<{ text: string }>('event:chat_message', (data) => resolve(data.text));
    });
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no chat_message within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([client.connect(), expired]);
    await client.request('room.join', { username: 'sdk-check' });
    await client.request('chat.send', { text: 'hello from the SDK' });
    return await Promise.race([heard, expired]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
