/**
 * Nexmark's event stream (nexmark-flink's `NexmarkGenerator`), seeded: persons, auctions and bids in the
 * proportions 1 : 3 : 46, each event's kind and ids set by its event id, its event time by its number
 * at the rate. The stream is nexmark-flink's `datagen` table; `rowOf` gives the person, auction and
 * bid views the queries read.
 *
 * ```ts
 * for (const event of nexmarkEvents({ count: 1000, eventsPerSecond: 100, seed: 7 })) …
 * const bids = nexmarkRows('bid', { count: 50_000 });
 * ```
 */
import { nextAuction } from './auction';
import { Channels, nextBid } from './bid';
import { adjustedEventNumber, eventId, generatorConfig, timestampForEvent, type GeneratorConfig, type NexmarkOptions } from './config';
import { rowOf, type Auction, type Bid, type NexmarkEvent, type NexmarkTable, type Person } from './model';
import { nextPerson } from './person';
import { SplittableRandom } from './splittable-random';
import { ExtraText } from './strings';

/** The tables Nexmark draws once per process, here once per seed (each from a generator of its own, as there). */
interface SeededTables {
  readonly channels: Channels;
  readonly extra: ExtraText;
}

let lastTables: { seed: number; tables: SeededTables } | undefined;

function seededTables(seed: number): SeededTables {
  if (lastTables?.seed !== seed) lastTables = { seed, tables: { channels: new Channels(new SplittableRandom(seed + 1)), extra: new ExtraText(new SplittableRandom(seed + 2)) } };
  return lastTables.tables;
}

/** The stream's events, one at a time. */
export function* nexmarkEvents(options: NexmarkOptions): Generator<NexmarkEvent, void, undefined> {
  const config = generatorConfig(options);
  const random = new SplittableRandom(config.seed);
  const { channels, extra } = seededTables(config.seed);
  for (let n = 0; n < config.count; n++) yield nextEvent(config, n, random, extra, channels);
}

function nextEvent(config: GeneratorConfig, n: number, random: SplittableRandom, extra: ExtraText, channels: Channels): NexmarkEvent {
  const id = eventId(config, n);
  const timestampMs = timestampForEvent(config, adjustedEventNumber(config, n));
  const rem = id % config.totalProportion;
  if (rem < config.personProportion) {
    return { event_type: 0, person: nextPerson(config, id, random, extra, timestampMs), auction: null, bid: null, dateTime: timestampMs };
  }
  if (rem < config.personProportion + config.auctionProportion) {
    return { event_type: 1, person: null, auction: nextAuction(config, n, id, random, extra, timestampMs), bid: null, dateTime: timestampMs };
  }
  return { event_type: 2, person: null, auction: null, bid: nextBid(config, id, random, extra, channels, timestampMs), dateTime: timestampMs };
}

/** One view's rows of a stream of `options.count` events (so about 46/50 of that for bids). */
export function nexmarkRows(table: 'person', options: NexmarkOptions): Person[];
export function nexmarkRows(table: 'auction', options: NexmarkOptions): Auction[];
export function nexmarkRows(table: 'bid', options: NexmarkOptions): Bid[];
export function nexmarkRows(table: NexmarkTable, options: NexmarkOptions): (Person | Auction | Bid)[] {
  const rows: (Person | Auction | Bid)[] = [];
  for (const event of nexmarkEvents(options)) {
    const row = rowOf(table, event);
    if (row) rows.push(row);
  }
  return rows;
}
