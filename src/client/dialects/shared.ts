import { formatEventId } from '../../core/protocol';
import type { DecodedFrame, WireError } from '../types';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A timestamp as ms since the epoch, from a number or an ISO string. */
export function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Any error shape the seeds use: `{code, message, details}`, or EarthRing's flat `{error, message, code}`. */
export function toWireError(value: unknown, fallback?: Record<string, unknown>): WireError {
  const source = isRecord(value) ? value : (fallback ?? {});
  const code = typeof source.code === 'string' || typeof source.code === 'number' ? source.code : 'ERROR';
  const message = str(source.message) ?? str(source.error) ?? (typeof value === 'string' ? value : 'Request failed');
  const error: WireError = { code, message };
  if (typeof source.reason === 'string') error.reason = source.reason;
  if (source.details !== undefined) error.details = source.details;
  return error;
}

/**
 * Reads a resync outcome in either naming: the core's `ResyncResult` (`events`, `snapshot`, `epoch`,
 * `latestSequence`) or seed 004's `resync_response` payload (`missedEvents`, `state`, `lastEventId`).
 * Returns null when `value` is neither. `resumeId` is the log's head, where to continue after a snapshot.
 */
export function readResync(
  value: unknown,
  decodeEvent: (frame: unknown) => DecodedFrame | null,
  raw: unknown,
): DecodedFrame | null {
  if (!isRecord(value) || typeof value.truncated !== 'boolean') return null;
  const list = Array.isArray(value.events) ? value.events : Array.isArray(value.missedEvents) ? value.missedEvents : [];
  const events = list.map(decodeEvent).filter((e): e is DecodedFrame => e !== null);
  const snapshot = 'snapshot' in value ? value.snapshot : value.state;
  const epoch = str(value.epoch);
  const latest = num(value.latestSequence);
  const resumeId =
    str(value.lastEventId) ?? (epoch !== undefined && latest !== undefined ? formatEventId(epoch, latest) : undefined);
  return { kind: 'resync', events, truncated: value.truncated, snapshot, resumeId, raw };
}
