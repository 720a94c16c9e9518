/**
 * Java's `java.util.SplittableRandom` (SplitMix64), seeded: the generator Nexmark draws every value from.
 * The same algorithm gives the same draws as Java for the same seed, so a seeded Nexmark stream here is
 * the stream nexmark-flink's generator makes with that seed (tests/unit/nexmark-generator.test.ts checks
 * it against vectors the Java code printed).
 *
 * The 64-bit state is two unsigned 32-bit halves: BigInt would be simpler but several times slower.
 */

// SplitMix64's constants, as in the JDK (high and low 32 bits): the golden-ratio increment and the mixers' multipliers.
const GAMMA_HI = 0x9e3779b9;
const GAMMA_LO = 0x7f4a7c15;
const TWO_32 = 4294967296;

export class SplittableRandom {
  private hi: number;
  private lo: number;

  /** `seed` is a Java long: a safe integer here (negative ones too, as two's complement). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`SplittableRandom seed ${seed}: expected a whole number between ±2^53`);
    this.lo = seed >>> 0;
    // The high half of the two's complement: Math.floor keeps the sign's borrow for negative seeds.
    this.hi = Math.floor(seed / TWO_32) >>> 0;
  }

  /** Java's `nextInt()`: any int, signed. */
  nextInt(): number {
    this.nextSeed();
    return mix32(this.hi, this.lo);
  }

  /** Java's `nextInt(bound)`: uniform in [0, bound), rejecting the over-represented tail as Java does. */
  nextIntBelow(bound: number): number {
    if (!Number.isInteger(bound) || bound <= 0 || bound > 0x7fffffff) throw new RangeError(`nextIntBelow(${bound}): the bound must be a whole number from 1 to 2^31 − 1`);
    let r = this.nextInt();
    const m = bound - 1;
    if ((bound & m) === 0) return r & m;
    // Java's loop: a candidate u is kept unless u + m − (u mod bound) overflows an int.
    for (let u = r >>> 1; ((u + m - (r = u % bound)) | 0) < 0; u = this.nextInt() >>> 1);
    return r;
  }

  /** Java's `nextDouble()`: the top 53 bits of a draw, in [0, 1). */
  nextDouble(): number {
    this.nextSeed();
    mix64(this.hi, this.lo);
    return (productHi * 2097152 + (productLo >>> 11)) / 9007199254740992;
  }

  private nextSeed(): void {
    const lo = this.lo + GAMMA_LO;
    this.lo = lo >>> 0;
    this.hi = (this.hi + GAMMA_HI + (lo >= TWO_32 ? 1 : 0)) >>> 0;
  }
}

// The last product's halves: results are passed back here rather than in a new array per draw (the
// benchmark draws tens of millions of values, and allocation was most of their cost).
let productHi = 0;
let productLo = 0;

/** (ah:al) * (bh:bl) mod 2^64, into productHi:productLo. */
function multiply(ah: number, al: number, bh: number, bl: number): void {
  // The low halves' full 64-bit product from 16-bit pieces (each partial product is exact in a double).
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const middle = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (middle % 65536) * 65536;
  productHi = (a1 * b1 + Math.floor(middle / 65536) + Math.floor(low / TWO_32) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  productLo = low >>> 0;
}

/** SplitMix64's 64-bit mixer, into productHi:productLo: z ^= z >>> 30; z *= A; z ^= z >>> 27; z *= B; z ^ (z >>> 31). */
function mix64(hi: number, lo: number): void {
  multiply(hi ^ (hi >>> 30), (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0, 0xbf58476d, 0x1ce4e5b9);
  const h = productHi;
  const l = productLo;
  multiply(h ^ (h >>> 27), (l ^ ((l >>> 27) | (h << 5))) >>> 0, 0x94d049bb, 0x133111eb);
  const h2 = productHi;
  productLo = (productLo ^ ((productLo >>> 31) | (h2 << 1))) >>> 0;
  productHi = (h2 ^ (h2 >>> 31)) >>> 0;
}

/** SplitMix's 32-bit mixer: z ^= z >>> 33; z *= A; the high half of (z ^ z >>> 28) * B, as a signed int (Java's cast). */
function mix32(hi: number, lo: number): number {
  multiply(hi, (lo ^ (hi >>> 1)) >>> 0, 0x62a9d9ed, 0x799705f5);
  const h = productHi;
  const l = productLo;
  multiply(h ^ (h >>> 28), (l ^ ((l >>> 28) | (h << 4))) >>> 0, 0xcb24d0a5, 0xc88c35b3);
  return productHi | 0;
}
