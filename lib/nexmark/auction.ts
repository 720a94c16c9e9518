/**
 * Auctions (Nexmark's `AuctionGenerator`): a new id per auction event, mostly by a hot seller, in one of
 * five categories, open for a random time about as long as the next 100 auctions take to appear; and
 * the ids bids are placed on.
 */
import { adjustedEventNumber, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, timestampForEvent, type GeneratorConfig } from './config';
import type { Auction } from './model';
import { lastBase0PersonId, nextBase0PersonId } from './person';
import { nextPrice } from './price';
import type { SplittableRandom } from './splittable-random';
import { nextString, type ExtraText } from './strings';

const NUM_CATEGORIES = 5;
/** Ids ahead of the newest auction a bid may name. */
const AUCTION_ID_LEAD = 10;
/** Hot sellers are the first person of each block of this many. */
const HOT_SELLER_BLOCK = 100;

/** `n` is the event's position in the stream (from 0), which sets how long the auction stays open. */
export function nextAuction(config: GeneratorConfig, n: number, eventId: number, random: SplittableRandom, extra: ExtraText, timestampMs: number): Auction {
  const id = lastBase0AuctionId(config, eventId) + FIRST_AUCTION_ID;
  const hotSeller = random.nextIntBelow(config.hotSellersRatio) > 0;
  const seller = (hotSeller ? Math.trunc(lastBase0PersonId(config, eventId) / HOT_SELLER_BLOCK) * HOT_SELLER_BLOCK : nextBase0PersonId(config, eventId, random)) + FIRST_PERSON_ID;
  const category = FIRST_CATEGORY_ID + random.nextIntBelow(NUM_CATEGORIES);
  const initialBid = nextPrice(random);
  const expires = timestampMs + nextAuctionLengthMs(config, n, random, timestampMs);
  const itemName = nextString(random, 20);
  const description = nextString(random, 100);
  const reserve = initialBid + nextPrice(random);
  const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
  return { id, itemName, description, initialBid, reserve, dateTime: timestampMs, expires, seller, category, extra: extra.nextExtra(random, size, config.avgAuctionByteSize) };
}

/** The newest auction's id (from 0) at an event id: this event's own when it is an auction (−1 before the first). */
export function lastBase0AuctionId(config: GeneratorConfig, eventId: number): number {
  let epoch = Math.trunc(eventId / config.totalProportion);
  let offset = eventId % config.totalProportion;
  if (offset < config.personProportion) {
    // a person: the last auction of the previous epoch
    epoch--;
    offset = config.auctionProportion - 1;
  } else if (offset >= config.personProportion + config.auctionProportion) {
    // a bid: the last auction of this epoch
    offset = config.auctionProportion - 1;
  } else {
    offset -= config.personProportion;
  }
  return epoch * config.auctionProportion + offset;
}

/** An auction id (from 0) among those likely still open, or a few not yet made. */
export function nextBase0AuctionId(config: GeneratorConfig, eventId: number, random: SplittableRandom): number {
  const newest = lastBase0AuctionId(config, eventId);
  const oldest = Math.max(newest - config.numInFlightAuctions, 0);
  return oldest + random.nextIntBelow(newest - oldest + 1 + AUCTION_ID_LEAD);
}

/** 1 ms to twice the time until numInFlightAuctions more auctions have appeared. */
function nextAuctionLengthMs(config: GeneratorConfig, n: number, random: SplittableRandom, timestampMs: number): number {
  const eventsForAuctions = Math.trunc((config.numInFlightAuctions * config.totalProportion) / config.auctionProportion);
  const horizonMs = timestampForEvent(config, adjustedEventNumber(config, n) + eventsForAuctions) - timestampMs;
  return 1 + random.nextIntBelow(Math.max(horizonMs * 2, 1));
}
