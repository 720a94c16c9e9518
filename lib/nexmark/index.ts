/** A port of Nexmark's data generator (nexmark-flink): persons, auctions and bids, seeded. */
export { nexmarkEvents, nexmarkRows } from './generator';
export { generatorConfig, FIRST_AUCTION_ID, FIRST_PERSON_ID, FIRST_CATEGORY_ID, type GeneratorConfig, type NexmarkOptions } from './config';
export { rowOf, EVENT_TYPE, type Auction, type Bid, type NexmarkEvent, type NexmarkTable, type Person } from './model';
export { SplittableRandom } from './splittable-random';
