/**
 * The whole platform the pure rules of src/domain may use: web-standard globals that Workers, Node and browsers
 * all have, and nothing else. `tsconfig.domain.json` type-checks src/domain against ES2024 plus this file only,
 * without @cloudflare/workers-types, so any Workers API (DurableObjectState, D1Database, WebSocketPair, caches,
 * HTMLRewriter, ...) and any I/O (fetch, WebSocket, timers) in the domain fails `npm run check`.
 */

declare function btoa(data: string): string;
declare function atob(data: string): string;
declare function structuredClone<T>(value: T): T;

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class URLSearchParams {
  constructor(init?: string | Record<string, string>);
  get(name: string): string | null;
  has(name: string): boolean;
}

declare const crypto: {
  getRandomValues<T extends ArrayBufferView>(array: T): T;
  readonly subtle: { digest(algorithm: string, data: ArrayBufferView | ArrayBuffer): Promise<ArrayBuffer> };
};
