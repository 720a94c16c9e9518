/**
 * Kinesis sequence numbers are decimal strings of up to 128 digits: far beyond a JS number, so they
 * are compared as BigInt (DESIGN §3.1).
 */

/** Negative, zero or positive as `a` is before, equal to or after `b` in its shard. */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

