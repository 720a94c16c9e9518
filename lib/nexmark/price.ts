import type { SplittableRandom } from './splittable-random';

/** Nexmark's prices (`PriceGenerator`): log-uniform cents from 100 to 100,000,000. */
export const nextPrice = (random: SplittableRandom): number => Math.round(Math.pow(10, random.nextDouble() * 6) * 100);
