// Browser: bundled by scripts/test-sdk.mjs and run in Chromium on the Worker's origin with the global WebSocket.
import { roomRoundTrip } from './scenario.js';

declare global {
  interface Window {
    sdkCheck: (token: string) => Promise<string>;
  }
}

window.sdkCheck = (token: string) => roomRoundTrip({ base: location.origin, token });
