import { type ConnectionLimits, DEFAULT_LIMITS, type Dialect } from './dialect';
import type { RateRule } from './limiter';
import { type FrameCounters, frameCounters, type Meter } from './metrics';

/**
 * What the actor keeps per dialect for the frame paths: its limits with the actor's overrides, its message budget
 * rule and its frame counters. Built once (and again after `configure`), not per frame.
 */
export interface DialectRuntime {
  limits: Readonly<ConnectionLimits>;
  messageRule: RateRule;
  framesIn: FrameCounters;
  framesOut: FrameCounters;
}

/** The runtime of `dialect`: its limits, with every override in `settings` applied. */
export function buildRuntime(
  dialect: string,
  spec: Dialect | undefined,
  settings: Record<string, number | undefined>,
  meter: Meter,
): DialectRuntime {
  const limits = { ...DEFAULT_LIMITS, ...spec?.limits };
  for (const key of Object.keys(limits) as Array<keyof ConnectionLimits>) {
    const override = settings[key];
    if (typeof override === 'number') limits[key] = override;
  }
  return {
    limits: Object.freeze(limits),
    messageRule: { limit: limits.messagesPerMinute, windowMs: 60_000 },
    framesIn: frameCounters(meter, dialect, 'in'),
    framesOut: frameCounters(meter, dialect, 'out'),
  };
}
