/**
 * Nexmark's strings (`StringsGenerator`): short random words with an occasional special character, and
 * the `extra` padding that brings each record to its kind's average size, cut from one long random text.
 */
import type { SplittableRandom } from './splittable-random';

const MIN_STRING_LENGTH = 3;
/** The padding is cut from a text this long (Nexmark's 1 MiB), made once per seed. */
const EXTRA_TEXT_LENGTH = 1024 * 1024;

/** 3 to maxLength − 1 characters: a–z, with about one in 13 the `special` one; ends trimmed as Java's trim() does. */
export function nextString(random: SplittableRandom, maxLength: number, special = ' '): string {
  let length = MIN_STRING_LENGTH + random.nextIntBelow(maxLength - MIN_STRING_LENGTH);
  let text = '';
  while (length-- > 0) text += random.nextIntBelow(13) === 0 ? special : String.fromCharCode(97 + random.nextIntBelow(26));
  return text.trim();
}

/** Random letters, six from each draw (Java's loop, including its quirk: a negative draw gives characters below 'a'). */
function randomLetters(random: SplittableRandom, length: number): string {
  const codes = new Array<number>(length);
  let draw = 0;
  let left = 0;
  for (let i = 0; i < length; i++) {
    if (left === 0) {
      draw = random.nextInt();
      left = 6; // log_26(2^31)
    }
    codes[i] = 97 + (draw % 26);
    draw = (draw / 26) | 0;
    left--;
  }
  let text = '';
  for (let i = 0; i < length; i += 8192) text += String.fromCharCode(...codes.slice(i, i + 8192));
  return text;
}

/** `extra` fields: pieces of one long random text, so padding costs a substring, not a draw per letter. */
export class ExtraText {
  private readonly text: string;

  /** `random` makes the long text (its own, as Nexmark's is a separate static generator). */
  constructor(random: SplittableRandom) {
    this.text = randomLetters(random, EXTRA_TEXT_LENGTH);
  }

  /** Exactly `length` characters. */
  nextExactString(random: SplittableRandom, length: number): string {
    if (length >= this.text.length / 2) return randomLetters(random, length);
    const offset = random.nextIntBelow(this.text.length - length);
    return this.text.substring(offset, offset + length);
  }

  /** Padding for a record of `currentSize` bytes so that records average `averageSize` (± 20 %). */
  nextExtra(random: SplittableRandom, currentSize: number, averageSize: number): string {
    if (currentSize > averageSize) return '';
    const wanted = averageSize - currentSize;
    const delta = Math.round(wanted * 0.2);
    return this.nextExactString(random, wanted - delta + (delta === 0 ? 0 : random.nextIntBelow(2 * delta)));
  }
}
