/**
 * Nexmark's data for the nexmark-*.sql examples, from lib/nexmark (a port of nexmark-flink's generator):
 * JSON lines of one table's rows (`bid` by default; `person`, `auction`), or of the whole `datagen`
 * stream with its `event_type`. Seeded: the same flags give the same lines. Event time starts now
 * (`--start` in epoch ms to choose) and moves at `--rate` events per second.
 *
 *   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 [--rate 200] [--seed 1] [--table bid] > /tmp/bids.jsonl
 *   npx shardflow push bids --file /tmp/bids.jsonl
 */
import * as path from 'node:path';
import { nexmarkEvents, rowOf, type NexmarkTable } from '../lib/nexmark';

const TABLES: readonly (NexmarkTable | 'datagen')[] = ['bid', 'auction', 'person', 'datagen'];

/** The JSON lines for the flags; throws a one-line error naming a bad flag. */
export function nexmarkLines(argv: readonly string[], nowMs = Date.now()): string[] {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : (argv[i + 1] ?? '');
  };
  const number = (name: string, fallback: number): number => {
    const raw = flag(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) throw new Error(`--${name} ${raw}: expected a number`);
    return value;
  };
  const table = flag('table') ?? 'bid';
  if (!TABLES.includes(table as NexmarkTable)) throw new Error(`--table ${table}: expected one of ${TABLES.join(', ')}`);
  const events = nexmarkEvents({ count: number('count', 5000), eventsPerSecond: number('rate', 200), seed: number('seed', 1), baseTimeMs: number('start', nowMs) });
  const lines: string[] = [];
  for (const event of events) {
    const row = table === 'datagen' ? event : rowOf(table as NexmarkTable, event);
    if (row) lines.push(JSON.stringify(row));
  }
  return lines;
}

// Run as a script (node bin/run-ts.js examples/nexmark-bids.ts …), not when imported.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  try {
    process.stdout.write(nexmarkLines(process.argv.slice(2)).join('\n') + '\n');
  } catch (e) {
    console.error(`nexmark-bids: ${(e as Error).message}`);
    process.exitCode = 2;
  }
}
