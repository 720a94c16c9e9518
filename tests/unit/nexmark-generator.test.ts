/**
 * lib/nexmark, the port of nexmark-flink's generator: the same events as the Java generator for the same
 * seeds (vectors it printed), Nexmark's proportions, hot auctions, bidders and sellers, prices, event
 * time at the rate, and determinism by seed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nexmarkEvents, nexmarkRows, SplittableRandom, type Auction, type Bid, type NexmarkEvent, type Person } from '../../lib/nexmark';
import { nexmarkLines } from '../../examples/nexmark-bids';

const VECTORS = path.resolve(__dirname, '../fixtures/nexmark/generator');
const readVectors = (file: string): NexmarkEvent[] =>
  fs.readFileSync(path.join(VECTORS, file), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as NexmarkEvent);

describe('the same events as nexmark-flink’s Java generator', () => {
  // Printed by scripts/nexmark-vectors/make-vectors.sh from nexmark's own sources (see the fixture README).
  test.each([
    ['seed-42-rate-10000.jsonl', { seed: 42, eventsPerSecond: 10_000 }],
    ['seed-7-rate-3.jsonl', { seed: 7, eventsPerSecond: 3 }],
  ])('%s', (file, options) => {
    const expected = readVectors(file);
    const actual = [...nexmarkEvents({ ...options, count: expected.length, baseTimeMs: Date.UTC(2024, 0, 1) })];
    // Field by field first, for a readable failure; then the whole.
    for (let i = 0; i < expected.length; i++) expect({ i, event: actual[i] }).toEqual({ i, event: expected[i] });
    expect(actual).toHaveLength(expected.length);
  });

  test("SplittableRandom draws what Java's does for the same seed", () => {
    // java.util.SplittableRandom(seed): nextInt(), nextInt(bound) and nextDouble(), printed by jshell.
    const cases: [number, number[], number[], number[]][] = JSON.parse(fs.readFileSync(path.join(VECTORS, 'splittable-random.json'), 'utf8'));
    for (const [seed, ints, bounded, doubles] of cases) {
      const random = new SplittableRandom(seed);
      expect(ints.map(() => random.nextInt())).toEqual(ints);
      expect(bounded.map((_, i) => random.nextIntBelow([1, 2, 13, 26, 100, 10_000, 1_000_000_007, 0x7fffffff][i % 8]!))).toEqual(bounded);
      expect(doubles.map(() => random.nextDouble())).toEqual(doubles);
    }
  });
});

describe('the stream’s shape, over 50,000 events', () => {
  const events = [...nexmarkEvents({ count: 50_000, eventsPerSecond: 1000, seed: 3 })];
  const persons = events.flatMap((e) => (e.person ? [e.person] : []));
  const auctions = events.flatMap((e) => (e.auction ? [e.auction] : []));
  const bids = events.flatMap((e) => (e.bid ? [e.bid] : []));

  test('persons, auctions and bids are 1 : 3 : 46, each event one of them, tagged as the datagen table tags it', () => {
    expect([persons.length, auctions.length, bids.length]).toEqual([1000, 3000, 46_000]);
    // One expectation over all events (an expect per event would be most of this test's time).
    const mistagged = events.filter((e) => [e.person, e.auction, e.bid][e.event_type]?.dateTime !== e.dateTime || [e.person, e.auction, e.bid].filter((r) => r !== null).length !== 1);
    expect(mistagged).toEqual([]);
  });

  test('persons and auctions get consecutive ids; bids name auctions at most 10 ahead of the newest', () => {
    // Nexmark's table source starts at event id 2 (an auction), so ids 1000 (event ids 0 and 1) are never made.
    expect(persons.map((p) => p.id)).toEqual(persons.map((_, i) => 1001 + i));
    expect(auctions.map((a) => a.id)).toEqual(auctions.map((_, i) => 1001 + i));
    let newestAuction = 999;
    const tooFarAhead: Bid[] = [];
    for (const e of events) {
      if (e.auction) newestAuction = e.auction.id;
      if (e.bid && e.bid.auction > newestAuction + 10) tooFarAhead.push(e.bid);
    }
    expect(tooFarAhead).toEqual([]);
  });

  /** The share of rows for which `isHot` holds, given the newest person and auction ids when each was made. */
  function hotShare<T>(pick: (e: NexmarkEvent) => T | null, isHot: (row: T, newestPerson: number, newestAuction: number) => boolean): number {
    // Before the first person event, the newest person is 1000 (event id 0, never made).
    let newestPerson = 1000;
    let newestAuction = 1000;
    let rows = 0;
    let hot = 0;
    for (const e of events) {
      if (e.person) newestPerson = e.person.id;
      if (e.auction) newestAuction = e.auction.id;
      const row = pick(e);
      if (row === null) continue;
      rows++;
      if (isHot(row, newestPerson, newestAuction)) hot++;
    }
    return hot / rows;
  }
  /** The first id of the block of 100 the newest id is in: Nexmark's hot one. */
  const blockStart = (newest: number, first: number): number => first + Math.floor((newest - first) / 100) * 100;

  test('half the bids are on the hot auction (the first of the newest block of 100 auctions)', () => {
    const share = hotShare<Bid>((e) => e.bid, (b, _p, newestAuction) => b.auction === blockStart(newestAuction, 1000));
    // P(hot) = 1 − 1/2, plus the few random picks that land on it; 46,000 bids: ±0.0023 is one standard deviation.
    expect(share).toBeGreaterThan(0.49);
    expect(share).toBeLessThan(0.52);
  });

  test('three bids in four are by the hot bidder (the second person of the newest block of 100, offset by 2000 as Nexmark does)', () => {
    const share = hotShare<Bid>((e) => e.bid, (b, newestPerson) => b.bidder === blockStart(newestPerson, 1000) + 1 + 1000);
    expect(share).toBeGreaterThan(0.74);
    expect(share).toBeLessThan(0.77);
  });

  test('three auctions in four are by the hot seller (the first person of the newest block of 100)', () => {
    const share = hotShare<Auction>((e) => e.auction, (a, newestPerson) => a.seller === blockStart(newestPerson, 1000));
    expect(share).toBeGreaterThan(0.72);
    expect(share).toBeLessThan(0.79);
  });

  test('prices are log-uniform cents from 100 to 100,000,000 (half below 100,000), reserves above the initial bid', () => {
    const prices = bids.map((b) => b.price);
    expect(Math.min(...prices)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...prices)).toBeLessThanOrEqual(100_000_000);
    expect(prices.filter((p) => p < 100_000).length / prices.length).toBeCloseTo(0.5, 1);
    expect(prices.filter((p) => p < 1000).length / prices.length).toBeCloseTo(1 / 6, 1);
    expect(auctions.filter((a) => !(a.reserve > a.initialBid && a.expires > a.dateTime))).toEqual([]);
  });

  test('half the bids come from the four hot channels; of the others, nine in ten URLs carry a channel_id', () => {
    const hot = bids.filter((b) => ['Google', 'Facebook', 'Baidu', 'Apple'].includes(b.channel));
    expect(hot.length / bids.length).toBeCloseTo(0.5, 1);
    expect(new Set(hot.map((b) => b.url)).size).toBe(4);
    const others = bids.filter((b) => /^channel-\d+$/.test(b.channel));
    expect(others.length + hot.length).toBe(bids.length);
    expect(others.filter((b) => b.url.includes('&channel_id=')).length / others.length).toBeCloseTo(0.9, 1);
  });

  test('records are padded to Nexmark’s average sizes (bids 100 bytes, persons 200, auctions 500)', () => {
    const average = (sizes: number[]): number => sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(average(bids.map((b) => 32 + b.extra.length))).toBeCloseTo(100, -1);
    expect(average(persons.map((p: Person) => 8 + p.name.length + p.emailAddress.length + p.creditCard.length + p.city.length + p.state.length + p.extra.length))).toBeCloseTo(200, -1);
    expect(average(auctions.map((a) => 48 + a.itemName.length + a.description.length + a.extra.length))).toBeCloseTo(500, -1);
  });

  test('event time is monotone, at the rate: exactly 1,000 events in every whole second', () => {
    expect(events.findIndex((e, i) => i > 0 && e.dateTime < events[i - 1]!.dateTime)).toBe(-1);
    const perSecond = new Map<number, number>();
    for (const e of events) perSecond.set(Math.floor(e.dateTime / 1000), (perSecond.get(Math.floor(e.dateTime / 1000)) ?? 0) + 1);
    const counts = [...perSecond.values()];
    // The first event is one step after the start (Nexmark numbers events from 1): the first and last seconds are partial.
    expect(counts.slice(1, -1).every((n) => n === 1000)).toBe(true);
    expect(counts).toHaveLength(51);
  });
});

test('a rate that is not a whole number of ms apart spaces events by truncated microseconds, as Java does', () => {
  const start = Date.UTC(2024, 0, 1);
  const times = [...nexmarkEvents({ count: 8, eventsPerSecond: 3, baseTimeMs: start })].map((e) => e.dateTime - start);
  expect(times).toEqual([333, 666, 1000, 1333, 1666, 2000, 2333, 2666]);
});

test('the same seed gives the same stream; another seed another', () => {
  const stream = (seed: number): string => JSON.stringify([...nexmarkEvents({ count: 2000, seed })]);
  expect(stream(11)).toBe(stream(11));
  expect(stream(12)).not.toBe(stream(11));
  expect(nexmarkRows('bid', { count: 2000, seed: 11 })).toEqual([...nexmarkEvents({ count: 2000, seed: 11 })].flatMap((e) => (e.bid ? [e.bid] : [])));
});

test('a bad option is refused with its name and what is expected', () => {
  expect(() => [...nexmarkEvents({ count: -1 })]).toThrow('Nexmark count -1: expected a whole number of at least 0');
  expect(() => [...nexmarkEvents({ count: 10, eventsPerSecond: 0 })]).toThrow(/Nexmark eventsPerSecond 0: expected a rate from 0.01/);
});

describe('examples/nexmark-bids.ts, the command line', () => {
  test('--table picks the rows; --count, --rate, --seed and --start shape them', () => {
    const argv = ['--count', '100', '--rate', '10', '--seed', '5', '--start', '1700000000000'];
    const bids = nexmarkLines(argv).map((l) => JSON.parse(l) as Bid);
    expect(bids).toEqual(nexmarkRows('bid', { count: 100, eventsPerSecond: 10, seed: 5, baseTimeMs: 1_700_000_000_000 }));
    expect(nexmarkLines([...argv, '--table', 'person']).map((l) => JSON.parse(l))).toEqual(nexmarkRows('person', { count: 100, eventsPerSecond: 10, seed: 5, baseTimeMs: 1_700_000_000_000 }));
    const datagen = nexmarkLines([...argv, '--table', 'datagen']).map((l) => JSON.parse(l) as NexmarkEvent);
    expect(datagen.map((e) => e.event_type).slice(0, 4)).toEqual([1, 1, 2, 2]); // event ids 2, 3 are auctions; 4… bids
    expect(() => nexmarkLines(['--table', 'bids'])).toThrow('--table bids: expected one of bid, auction, person, datagen');
    expect(() => nexmarkLines(['--rate', 'fast'])).toThrow('--rate fast: expected a number');
  });

  test('run as a script, it prints JSON lines; a bad flag is one line on stderr and exit code 2', () => {
    const root = path.resolve(__dirname, '../..');
    const out = execFileSync(process.execPath, ['bin/run-ts.js', 'examples/nexmark-bids.ts', '--count', '50', '--seed', '2', '--start', '0'], { cwd: root, encoding: 'utf8' });
    expect(out.trim().split('\n').map((l) => JSON.parse(l))).toEqual(nexmarkRows('bid', { count: 50, eventsPerSecond: 200, seed: 2, baseTimeMs: 0 }));
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, ['bin/run-ts.js', 'examples/nexmark-bids.ts', '--count', '-5'], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      failure = e as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr.trim()).toBe('nexmark-bids: Nexmark count -5: expected a whole number of at least 0');
  });
});
