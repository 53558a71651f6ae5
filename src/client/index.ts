/**
 * EdgeRooms client SDK (`@edgerooms/client`, packaged by packages/client): one engine for browsers, Node >= 20 and Workers, with adapters
 * for each wire format the server speaks.
 */
export { type BackoffOptions, backoffCeiling, backoffDelay, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from './backoff';
export {
  type ClientEvent,
  type ClientEventMap,
  type ClientOptions,
  type ConnectionStatus,
  createClient,
  EdgeRoomsClient,
} from './client';
export { type CodecName, decodeFrame, encodeFrame } from './codec';
export {
  type Applied,
  type ConnectParameters,
  CraftingSyncClient,
  type Negotiated,
  type SyncChannel,
  SyncReceiver,
  type SyncState,
} from './crafting-udp';
export { EventDedup } from './dedup';
export { earthringDialect } from './dialects/earthring';
export { orchestratorDialect } from './dialects/orchestrator';
export { roomsDialect } from './dialects/rooms';
export { ConnectionError, RequestError, RequestTimeoutError } from './errors';
export {
  afterFailure,
  afterOpen,
  DEFAULT_FALLBACK_THRESHOLD,
  type FallbackState,
  type FallbackThresholds,
  type TransportKind,
} from './fallback';
export { OfflineQueue } from './queue';
export { readEventStream, type SseComment, type SseEvent, type SseItem, SseParser, type SseRetry } from './sse-parser';
export { type ConnectionInput, type ConnectionState, isOpen, transition } from './state';
export { HttpError } from './transports/http';
export type {
  ClientDialect,
  ClosedInfo,
  DecodedFrame,
  FetchLike,
  SocketEventLike,
  TokenSource,
  Transport,
  TransportContext,
  TransportSink,
  WebSocketConstructorLike,
  WebSocketFactory,
  WebSocketLike,
  WireError,
} from './types';
