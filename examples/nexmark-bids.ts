/**
 * Nexmark-style bids, generated: a seeded, reproducible stream for the nexmark-*.sql examples.
 * A few auctions are hot (most bids go to the newest ones), prices are skewed, event time moves
 * forward at `eventsPerSecond` with up to `disorderMs` of disorder; `dateTime` is ISO-8601, as
 * Nexmark's JSON has it.
 *
 *   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 [--rate 200] [--seed 1] > /tmp/bids.jsonl
 *   npx shardflow push bids --file /tmp/bids.jsonl
 */
import * as path from 'node:path';
import { seededRandom } from '../lib/local/demo';

/** Nexmark's Bid, as JSON. */
export interface Bid {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  dateTime: string;
  extra: string;
}

export interface BidOptions {
  count: number;
  /** Event time of the first bid, epoch ms. Default 2024-01-01T00:00:00Z. */
  startMs?: number;
  /** Bids per second of event time. Default 200. */
  eventsPerSecond?: number;
  /** How far a bid's time may lag the stream's (out of order). Default 500 ms (under the examples' 1 s watermark delay). */
  disorderMs?: number;
  seed?: number;
}

const CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];

export function nexmarkBids(options: BidOptions): Bid[] {
  const next = seededRandom(options.seed ?? 1); // the demo's generator: the same seed gives the same bids
  const startMs = options.startMs ?? Date.UTC(2024, 0, 1);
  const stepMs = 1000 / (options.eventsPerSecond ?? 200);
  const disorderMs = options.disorderMs ?? 500;
  const bids: Bid[] = [];
  for (let i = 0; i < options.count; i++) {
    // Auctions open one per 50 bids; half of the bids go to the 3 newest ("hot"), the rest to any of the last 40.
    const newest = 1000 + Math.floor(i / 50);
    const auction = next() < 0.5 ? newest - Math.floor(next() * 3) : newest - Math.floor(next() * 40);
    const bidder = 2000 + Math.floor(next() ** 2 * 500);
    const price = Math.round(100 + 10_000 * next() ** 4);
    const channel = next() < 0.02 ? 'test' : CHANNELS[Math.floor(next() * CHANNELS.length)]!;
    const timeMs = Math.round(startMs + i * stepMs - next() * disorderMs);
    bids.push({
      auction,
      bidder,
      price,
      channel,
      url: `https://www.nexmark.com/${channel.toLowerCase()}/item.htm?query=${auction}`,
      dateTime: new Date(timeMs).toISOString(),
      extra: '',
    });
  }
  return bids;
}

// Run as a script (node bin/run-ts.js examples/nexmark-bids.ts …), not when imported.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const flag = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    const value = i === -1 ? undefined : Number(process.argv[i + 1]);
    return value !== undefined && Number.isFinite(value) ? value : fallback;
  };
  const bids = nexmarkBids({ count: flag('count', 5000), eventsPerSecond: flag('rate', 200), seed: flag('seed', 1), startMs: flag('start', Date.now()) });
  process.stdout.write(bids.map((b) => JSON.stringify(b)).join('\n') + '\n');
}
