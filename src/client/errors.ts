import type { WireError } from './types';

/** A request the server refused: carries the server's code and message as they came. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  readonly code: string | number;
  readonly reason?: string;
  readonly details?: unknown;

  constructor(error: WireError) {
    super(error.message);
    this.code = error.code;
    this.reason = error.reason;
    this.details = error.details;
  }
}

/** A request that got no answer in time (`code` 'REQUEST_TIMEOUT'). */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'REQUEST_TIMEOUT';

  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`No answer to ${method} within ${timeoutMs} ms`);
  }
}

/**
 * The connection went away while a request was out (`CONNECTION_LOST`) or the client was disconnected
 * (`DISCONNECTED`): the server may or may not have acted on it, so it is not resent blindly.
 */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';

  constructor(
    readonly code: 'CONNECTION_LOST' | 'DISCONNECTED' | 'QUEUE_OVERFLOW',
    message: string,
  ) {
    super(message);
  }
}
