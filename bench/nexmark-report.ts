/**
 * The Nexmark section of bench/REPORT.md: shardflow's events/s per core per query (bench/nexmark.ts)
 * beside the per-core figures Flink's Nexmark results publish.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { round, type Figure, type Machine } from './run-info';

/** Where Flink's figures come from, and on what they were measured. */
export const FLINK_SOURCE = {
  url: 'https://github.com/nexmark/nexmark/blob/6b3646c/GUIDE_V1.md#nexmark-benchmark-result',
  what: "nexmark/nexmark's published result table (GUIDE_V1.md at commit 6b3646c; the README's until e115ef9)",
  machine:
    '3 worker machines of 8 cores and 32 GB RAM each with local SSD, 8 TaskManagers of 1 slot, parallelism 8, Flink 1.13–2.0, RocksDB with incremental checkpoints every 3 min (exactly once), mini-batch on; 100 million events at 10 million/s from the in-process datagen source',
  perCore: 'events / (cores × seconds), cores being the CPU the Flink processes used as measured on the workers (8.1–21.4 per query), so generating the events is counted too',
} as const;

/** Throughput/Cores from that table, events per second per core. */
export const FLINK_PER_CORE: Readonly<Record<string, number>> = {
  q0: 155_020, q1: 157_940, q2: 175_210, q3: 152_120, q4: 34_330, q5: 22_140, q7: 12_330, q8: 146_140, q9: 14_240,
  q10: 57_810, q11: 39_700, q12: 75_670, q13: 130_730, q14: 161_230, q15: 72_420, q16: 18_650, q17: 116_800,
  q18: 53_700, q19: 44_040, q20: 18_980, q21: 98_490, q22: 129_960,
};

/** bench/results/nexmark.json. */
export interface NexmarkResult {
  readonly command: string;
  readonly date: string;
  readonly machine: Machine;
  readonly loadavgAtEnd: readonly number[];
  readonly events: number;
  readonly bids: number;
  readonly runs: number;
  /** About how long one measured run may take (a slower query runs on fewer events). */
  readonly runSeconds?: number;
  readonly quick: boolean;
  readonly rows: readonly {
    readonly query: string;
    readonly plan: string;
    /** The events it ran on: all of them, or the first ones when the whole stream would outlast a run's time budget. */
    readonly events: number;
    /** The records the query reads of those, of the tables it names (bids; persons and auctions too for the joins). */
    readonly read: number;
    /** Records read per second of wall time, on the one thread that runs the stages. */
    readonly eventsPerSec: Figure;
    /** Records read per second of CPU time of the whole process (the JIT and GC threads too): Flink's "per core". */
    readonly eventsPerCpuSec: Figure;
    readonly results: number;
  }[];
  readonly notPlanned: readonly string[];
  /** Queries that plan but that bench/pipeline-run.ts cannot drive, and why. */
  readonly notMeasured?: readonly { readonly query: string; readonly reason: string }[];
}

const fmt = (n: number): string => round(n, 4).toLocaleString('en-US');

/** The section's lines (heading included). */
export function nexmarkSection(r: NexmarkResult | undefined): string[] {
  const out = ['## 9. Nexmark: events/s per core per query', ''];
  if (!r) return [...out, '_Not run: `npm run bench:nexmark`._', ''];
  out.push(
    `The Nexmark queries that plan today (${r.rows.map((x) => x.query).join(', ')}), each as written for Flink with only its connectors changed (\`tests/fixtures/nexmark\`), on ${r.events.toLocaleString('en-US')} Nexmark events (${r.bids.toLocaleString('en-US')} bids; \`lib/nexmark\`, the port of nexmark-flink's generator) as JSON records on the person, auction and bid streams, through every stage of the query in process (\`bench/pipeline-run.ts\`: each stage's executor as \`bench/engine.ts\` runs it, source batches of 500, keyed batches of 20 envelopes, the keyed shards' logs in memory; q13's lookups go to a local DynamoDB, dynalite, its 10,000 items cached after their first read). A query reads the records of the tables it names — **read** — and its rate is of those. A query that would take more than about ${r.runSeconds ?? 20} s a run (\`BENCH_NEXMARK_RUN_SECONDS\`) over the whole stream runs on its first **events** only (in bold; at least 20,000 records): a slower rate means fewer events. ${r.runs} run(s) per query after a warm-up (\`bench/nexmark.ts\`). One thread runs the stages; **per core** is records read per second of the process's CPU time (user + system, GC and JIT threads included), the way Nexmark counts Flink's cores.`,
  );
  out.push('');
  out.push(
    [
      '| query | plan | events | read | events/s (one thread) | events/s per core (CPU time) | Flink events/s per core | results | load (1-min) per run |',
      '|---|---|---|---|---|---|---|---|---|',
      ...r.rows.map((x) => `| ${x.query} | ${x.plan} | ${x.events === r.events ? 'all' : `**${x.events.toLocaleString('en-US')}**`} | ${x.read.toLocaleString('en-US')} | ${fmt(x.eventsPerSec.median)} (${fmt(x.eventsPerSec.min)}–${fmt(x.eventsPerSec.max)}) | ${fmt(x.eventsPerCpuSec.median)} | ${FLINK_PER_CORE[x.query]?.toLocaleString('en-US') ?? '—'} | ${x.results.toLocaleString('en-US')} | ${x.eventsPerSec.loadavg.map((l) => l[0]).join(', ')} |`),
    ].join('\n'),
  );
  out.push('');
  out.push(
    `Flink's figures: ${FLINK_SOURCE.what}, ${FLINK_SOURCE.url} — ${FLINK_SOURCE.machine}; per core is ${FLINK_SOURCE.perCore}. ` +
      "They are not the same measurement: Flink's count all events (its bid view filters out the 8 % that are persons and auctions), generated in the source rather than decoded from JSON, and include checkpointing, the network between TaskManagers and the sink; shardflow's are records decoded from JSON by the query's stage executors in one thread with no AWS calls (what its stage functions do between receiving a batch and their writes). " +
      `Not planned yet, so not measured: ${r.notPlanned.join(', ')}.` +
      (r.notMeasured?.length ? ` Planned but not measured by this in-process driver: ${r.notMeasured.map((m) => `${m.query} (${m.reason})`).join('; ')}.` : ''),
  );
  out.push('');
  if (r.quick) out.push('**A quick run** (`--quick`: fewer events, one run per query): the figures are indicative only.', '');
  out.push(`_Command: \`${r.command}\` — ${r.date.slice(0, 16).replace('T', ' ')} UTC — ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}; load average at the end ${r.loadavgAtEnd.join(' / ')}._`);
  out.push('');
  return out;
}

/**
 * Puts the section into bench/REPORT.md in place of its previous text (before "This run", else at the
 * end), leaving the other sections as the last full run wrote them.
 */
export function spliceIntoReport(lines: readonly string[], file = path.join(__dirname, 'REPORT.md')): void {
  const report = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# shardflow benchmarks\n';
  const heading = lines[0]!;
  const section = `${lines.join('\n')}\n`;
  const at = report.indexOf(`${heading}\n`);
  if (at >= 0) {
    const next = report.indexOf('\n## ', at + heading.length);
    fs.writeFileSync(file, report.slice(0, at) + section + (next >= 0 ? report.slice(next + 1) : ''));
    return;
  }
  const thisRun = report.indexOf('## This run\n');
  fs.writeFileSync(file, thisRun >= 0 ? report.slice(0, thisRun) + section + report.slice(thisRun) : `${report.trimEnd()}\n\n${section}`);
}
