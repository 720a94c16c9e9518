/**
 * Durations as users write them: '500ms', '5s', '2m', '1h', '1d', or a number of milliseconds.
 */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** Thrown for a duration that is not a non-negative whole number of milliseconds. */
export class DurationError extends Error {
  constructor(readonly input: unknown) {
    super(`'${String(input)}' is not a duration: write '500ms', '5s', '2m', '1h', '1d' or a number of milliseconds`);
    this.name = 'DurationError';
  }
}

/**
 * Milliseconds in a duration.
 * @example toMs('5s') === 5000; toMs(250) === 250
 */
export function toMs(duration: Duration): number {
  let ms: number;
  if (typeof duration === 'number') {
    ms = duration;
  } else {
    const match = typeof duration === 'string' ? DURATION.exec(duration) : null;
    if (!match) throw new DurationError(duration);
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  }
  if (!Number.isFinite(ms) || ms < 0 || !Number.isInteger(ms)) throw new DurationError(duration);
  return ms;
}

/** A short human form of a millisecond duration, for plans and logs: 5000 → '5s'. */
export function formatMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
