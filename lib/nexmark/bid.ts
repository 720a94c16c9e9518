/**
 * Bids (Nexmark's `BidGenerator`): mostly on the hot auction and by a hot bidder, at a log-uniform
 * price, from one of four hot channels (half of the bids) or one of 10,000 others whose URLs mostly
 * carry a `channel_id`.
 */
import { FIRST_AUCTION_ID, FIRST_PERSON_ID, type GeneratorConfig } from './config';
import { lastBase0AuctionId, nextBase0AuctionId } from './auction';
import type { Bid } from './model';
import { lastBase0PersonId, nextBase0PersonId } from './person';
import { nextPrice } from './price';
import type { SplittableRandom } from './splittable-random';
import { nextString, type ExtraText } from './strings';

/** The hot auction is the first of each block of this many; the hot bidder the second person of each block. */
const HOT_AUCTION_BLOCK = 100;
const HOT_BIDDER_BLOCK = 100;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];
const CHANNELS_NUMBER = 10_000;

/** The channels' URLs, drawn once per stream (Nexmark draws them once per process, from a generator of their own). */
export class Channels {
  readonly hotUrls: readonly string[];
  /** `channel-i` and its URL, for i below 10,000. */
  readonly others: readonly (readonly [channel: string, url: string])[];

  constructor(random: SplittableRandom) {
    this.hotUrls = HOT_CHANNELS.map(() => baseUrl(random));
    this.others = Array.from({ length: CHANNELS_NUMBER }, (_, i) => {
      const url = baseUrl(random);
      // Nine in ten carry a channel_id: i's bits reversed, as Java's Math.abs(Integer.reverse(i)) (which leaves −2^31 negative).
      return [`channel-${i}`, random.nextIntBelow(10) > 0 ? `${url}&channel_id=${javaAbs(reverseBits(i))}` : url] as const;
    });
  }
}

export function nextBid(config: GeneratorConfig, eventId: number, random: SplittableRandom, extra: ExtraText, channels: Channels, timestampMs: number): Bid {
  const hotAuction = random.nextIntBelow(config.hotAuctionRatio) > 0;
  const auction = (hotAuction ? Math.trunc(lastBase0AuctionId(config, eventId) / HOT_AUCTION_BLOCK) * HOT_AUCTION_BLOCK : nextBase0AuctionId(config, eventId, random)) + FIRST_AUCTION_ID;
  const hotBidder = random.nextIntBelow(config.hotBiddersRatio) > 0;
  // FIRST_PERSON_ID is added twice, as nexmark-flink's BidGenerator does: bidders are 2000 and up.
  const bidder = (hotBidder ? Math.trunc(lastBase0PersonId(config, eventId) / HOT_BIDDER_BLOCK) * HOT_BIDDER_BLOCK + 1 : nextBase0PersonId(config, eventId, random)) + 2 * FIRST_PERSON_ID;
  const price = nextPrice(random);
  let channel: string;
  let url: string;
  if (random.nextIntBelow(2) > 0) {
    const i = random.nextIntBelow(HOT_CHANNELS.length);
    channel = HOT_CHANNELS[i]!;
    url = channels.hotUrls[i]!;
  } else {
    [channel, url] = channels.others[random.nextIntBelow(CHANNELS_NUMBER)]!;
  }
  return { auction, bidder, price, channel, url, dateTime: timestampMs, extra: extra.nextExtra(random, 8 + 8 + 8 + 8, config.avgBidByteSize) };
}

const baseUrl = (random: SplittableRandom): string =>
  `https://www.nexmark.com/${nextString(random, 5, '_')}/${nextString(random, 5, '_')}/${nextString(random, 5, '_')}/item.htm?query=1`;

/** Java's Integer.reverse: the 32 bits in reverse order, as a signed int. */
function reverseBits(i: number): number {
  let reversed = 0;
  for (let bit = 0; bit < 32; bit++) reversed = (reversed << 1) | ((i >>> bit) & 1);
  return reversed | 0;
}

const javaAbs = (int: number): number => (int === -2147483648 ? int : Math.abs(int));
