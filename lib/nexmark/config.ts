/**
 * What shapes a Nexmark stream: nexmark-flink's `NexmarkConfiguration` defaults and `GeneratorConfig`'s
 * arithmetic (event ids, event time at the rate), for one generator as its table source makes it.
 */

/** The first ids, as Nexmark starts them (so that small streams still join). */
export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;

export interface NexmarkOptions {
  /** Events to make. */
  readonly count: number;
  /** Events per second of event time (Nexmark's `first-event.rate`). Default 10,000. */
  readonly eventsPerSecond?: number;
  /** Seeds every draw: the same seed, the same stream. Default 1. */
  readonly seed?: number;
  /** Event time of the stream's start, epoch ms (Nexmark's `baseTime`). Default 2024-01-01T00:00:00Z. */
  readonly baseTimeMs?: number;
  /** Proportions of persons, auctions and bids. Default 1 : 3 : 46, as Nexmark's. */
  readonly proportions?: { readonly person: number; readonly auction: number; readonly bid: number };
  /** Events shuffled among themselves in event time, in groups of this many (Nexmark's `outOfOrderGroupSize`). Default 1: in order. */
  readonly outOfOrderGroupSize?: number;
}

/** The options with Nexmark's defaults filled in, and the derived figures. */
export interface GeneratorConfig {
  readonly count: number;
  readonly seed: number;
  readonly baseTimeMs: number;
  readonly personProportion: number;
  readonly auctionProportion: number;
  readonly bidProportion: number;
  readonly totalProportion: number;
  /** Microseconds of event time between two events. */
  readonly interEventDelayUs: number;
  readonly outOfOrderGroupSize: number;
  /** P(an auction's seller is hot) = 1 − 1/hotSellersRatio. */
  readonly hotSellersRatio: number;
  /** P(a bid is on a hot auction) = 1 − 1/hotAuctionRatio. */
  readonly hotAuctionRatio: number;
  /** P(a bidder is hot) = 1 − 1/hotBiddersRatio. */
  readonly hotBiddersRatio: number;
  /** Auctions a bid may pick from (the newest ones). */
  readonly numInFlightAuctions: number;
  /** Persons a seller or bidder may be picked from (the newest ones). */
  readonly numActivePeople: number;
  readonly avgPersonByteSize: number;
  readonly avgAuctionByteSize: number;
  readonly avgBidByteSize: number;
}

/** nexmark-flink's table source numbers its events from 1 and their ids from 1 past that. */
const FIRST_EVENT_ID = 1;
const FIRST_EVENT_NUMBER = 1;

export function generatorConfig(options: NexmarkOptions): GeneratorConfig {
  const { count, eventsPerSecond = 10_000, seed = 1, baseTimeMs = Date.UTC(2024, 0, 1), outOfOrderGroupSize = 1 } = options;
  const proportions = options.proportions ?? { person: 1, auction: 3, bid: 46 };
  const wholeNumber = (name: string, value: number, min: number): void => {
    if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`Nexmark ${name} ${value}: expected a whole number of at least ${min}`);
  };
  wholeNumber('count', count, 0);
  wholeNumber('seed', seed, Number.MIN_SAFE_INTEGER);
  wholeNumber('baseTimeMs', baseTimeMs, 0);
  wholeNumber('outOfOrderGroupSize', outOfOrderGroupSize, 1);
  for (const [name, value] of Object.entries(proportions)) wholeNumber(`${name} proportion`, value, 1);
  // Below 0.01 events/s an auction's length in ms no longer fits the int Java draws it as.
  if (!(eventsPerSecond >= 0.01 && eventsPerSecond <= 1e9)) throw new RangeError(`Nexmark eventsPerSecond ${eventsPerSecond}: expected a rate from 0.01 to 1e9 events per second of event time`);
  return {
    count,
    seed,
    baseTimeMs,
    personProportion: proportions.person,
    auctionProportion: proportions.auction,
    bidProportion: proportions.bid,
    totalProportion: proportions.person + proportions.auction + proportions.bid,
    interEventDelayUs: 1_000_000 / eventsPerSecond,
    outOfOrderGroupSize,
    hotSellersRatio: 4,
    hotAuctionRatio: 2,
    hotBiddersRatio: 4,
    numInFlightAuctions: 100,
    numActivePeople: 1000,
    avgPersonByteSize: 200,
    avgAuctionByteSize: 500,
    avgBidByteSize: 100,
  };
}

/** The event number of the generator's n-th event (from 0), before shuffling. */
export const eventNumber = (n: number): number => FIRST_EVENT_NUMBER + n;

/** The event number the n-th event is stamped with: shuffled within its out-of-order group. */
export function adjustedEventNumber(config: GeneratorConfig, n: number): number {
  const size = config.outOfOrderGroupSize;
  const number = eventNumber(n);
  return Math.floor(number / size) * size + ((number * 953) % size);
}

/** The n-th event's id, which decides whether it is a person, an auction or a bid, and its ids. */
export const eventId = (config: GeneratorConfig, n: number): number => FIRST_EVENT_ID + adjustedEventNumber(config, n);

/** Event time of an event number: evenly spaced at the rate, in whole ms (Java's truncating casts). */
export const timestampForEvent = (config: GeneratorConfig, number: number): number => config.baseTimeMs + Math.trunc(Math.trunc(number * config.interEventDelayUs) / 1000);
