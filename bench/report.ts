/**
 * bench/REPORT.md and its SVG charts (bench/results/*.svg), from the result files of the benchmark
 * scripts. `npm run bench` writes it last; `node bin/run-ts.js bench/report.ts` rewrites it from the
 * results already on disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nexmarkSection, type NexmarkResult } from './nexmark-report';
import { PRICES, PRICES_CHECKED, PRICES_REGION } from './prices';
import { machine, readResult, RESULTS_DIR, round, type Figure } from './run-info';
import { barChart, compact, lineChart } from './svg';

type Doc = { command: string; date: string; machine: ReturnType<typeof machine>; loadavgAtEnd?: number[] } & Record<string, unknown>;

/** One line of the targets table. */
export interface TargetRow {
  readonly target: string;
  readonly figure: string;
  readonly met: boolean | null;
}

const fmt = (n: number | undefined | null, digits = 3): string => (n === undefined || n === null || !Number.isFinite(n) ? '—' : round(n, digits).toLocaleString('en-US'));
const fig = (f: Figure | undefined, digits = 3, unit = ''): string => (f ? `${fmt(f.median, digits)}${unit} (${fmt(f.min, digits)}–${fmt(f.max, digits)})` : '—');
const loads = (f: Figure | undefined): string => (f?.loadavg?.length ? f.loadavg.map((l) => l[0]).join(', ') : '—');
const mdTable = (header: string[], rows: (string | number)[][]): string =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)).join(' | ')} |`)].join('\n');
const provenance = (d: Doc | undefined): string => {
  if (!d) return '_Not run._';
  const load = d.loadavgAtEnd ?? (d.loadavg as number[] | undefined)?.map((l) => Math.round(l * 100) / 100);
  return `_Command: \`${d.command}\` — ${d.date.slice(0, 16).replace('T', ' ')} UTC — ${d.machine.cpu}, ${d.machine.cores} cores, Node ${d.machine.node}; load average at the end ${load?.join(' / ') ?? '—'}._`;
};

function chart(name: string, svg: string): string {
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.svg`), `${svg}\n`);
  return `![${name}](results/${name}.svg)`;
}

/**
 * What was profiled and what it showed, per target, from the figures of this run (the design is in
 * docs/state-log.md; the causes of the costs in docs/cost.md, "What the numbers say").
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function findings(r: Record<string, any>): string[] {
  const out = ['### What the profiles show', ''];
  const ph = r.breakdown?.phases?.median as Record<string, number> | undefined;
  if (r.engine && ph && r.breakdown?.floor) {
    const rows = r.engine.rows as { job: string; median: number }[];
    const tumbling = rows.find((x) => x.job.startsWith('click-counts'));
    const sliding = rows.find((x) => x.job.startsWith('sliding'));
    out.push(
      `- **Engine.** Phases of click-counts: source stage (JSON decode, event time, keyBy) ${fmt(ph.sourceStageShare! * 100, 2)} %, keyed stage (window state, firing in-band, packing the batch's delta) ${fmt(ph.keyedStageShare! * 100, 2)} %. ` +
        `The floor — \`JSON.parse\` and a Map sum per (user, window), nothing else, measured alternately with the engine on the same events — did ${fmt(r.breakdown.floor.parseAndSum.median, 4)} events/s; the engine ran at ${fmt((ph.engineOverFloor ?? 0) * 100, 2)} % of it. ` +
        (tumbling && sliding ? `Sliding 5 s / 1 s runs at ${fmt(sliding.median / tumbling.median, 2)}× tumbling's rate (each event updates 5 windows; the per-item design ran it at 0.22×).` : ''),
    );
  }
  const cost = (r.cost?.rows ?? []) as { eventsPerSec: number; keys?: number; shards?: number; keyedShards?: number; writeUnitsPerWindow?: number; perThousandEvents: Record<string, number>; shardflow: { monthly: Record<string, number> }; flink: { monthly: Record<string, number> } }[];
  const k1 = cost.find((x) => x.eventsPerSec === 1000 && (x.keys ?? 1000) === 1000);
  if (k1?.writeUnitsPerWindow !== undefined) {
    const p = k1.perThousandEvents;
    out.push(
      `- **Writes.** At 1,000 keys and 1,000 events/s, per 1,000 events: ${fmt(p.sinkWrites, 4)} window results and ${fmt(p.logWru, 3)} write units of state-log entries (one packed entry per keyed batch, a few KB), so **${fmt(k1.writeUnitsPerWindow, 3)} write units per (key, window)** with its result, against 5.9 in the per-item design. ` +
        'What is left above 1.0 is the log: it grows with keyed batches (about one per shard per second), not with keys — busier shards and fewer of them cost less.',
    );
  }
  const k10 = cost.find((x) => x.eventsPerSec === 10_000);
  if (k10) {
    const m = k10.shardflow.monthly;
    out.push(
      `- **10,000 events/s.** shardflow $${fmt(m.total, 4)} against Managed Flink $${fmt(k10.flink.monthly.total, 4)}: the results are most of DynamoDB's share (${fmt(((m.dynamoWrites! + m.dynamoReads!) / m.total!) * 100, 2)} %), as Flink writes them too; the source stream's shard-hours and PUT units, which both pay, are most of the rest. The keyed stage runs on ${k10.keyedShards ?? '?'} shards (\`.parallelism\`, sized to the bytes its input carries: envelopes pack many events per Kinesis record); on as many shards as the source (the plan's default) its shuffle stream alone would add ~$${fmt(((k10.shards ?? 0) - (k10.keyedShards ?? 0)) * 730 * 0.015, 3)} a month.`,
    );
  }
  const catchUp = r.catchUp as { pool: { shards: number; hitRate: number; caughtUpRate: number; loadRate: number; entriesReadPerBatch: number; readUnitsPerBatch: number }[]; coldLoad: { mb: number; loadMs: { median: number } }[] } | undefined;
  if (catchUp) {
    out.push(
      `- **Catch-up.** With as many warm containers as shards and each batch sent to any of them: ${catchUp.pool.map((x) => `${x.shards} shard(s): cache current ${fmt(x.hitRate * 100, 3)} %, ${fmt(x.entriesReadPerBatch, 3)} entries and ${fmt(x.readUnitsPerBatch, 3)} read units per batch`).join('; ')}. ` +
        `A stale cache reads only the entries it missed (the strongly consistent Query every batch makes, usually one page; the read units also count the watermark function's log-head query per shard and tick). Cold loads: ${catchUp.coldLoad.map((x) => `${x.mb} MB ${fmt(x.loadMs.median, 4)} ms`).join(', ')} (dynalite on this machine).`,
    );
  }
  const lat = r.latency as { configs: { users: number; local?: { p50Ms: { median: number }; p99Ms: { median: number } } }[] } | undefined;
  const l0 = lat?.configs[0]?.local;
  if (l0) {
    out.push(
      `- **Latency.** p50 ${fmt(l0.p50Ms.median, 4)} ms, p99 ${fmt(l0.p99Ms.median, 4)} ms from the watermark passing a window's end to its result: two hops of Lambda's event source mapping (source stage, then keyed stage), each polling a caught-up shard once a second and batching for 1 s, as AWS does (the local mapping follows AWS since issue 19; it used to poll every 200 ms, and this figure was 1,356 ms). Firing itself is in-band and takes milliseconds.`,
    );
  }
  const parts = r.e2e?.throughput?.[0]?.cpuSecondsPer1000 as Record<string, number> | undefined;
  if (parts) {
    const total = Object.values(parts).reduce((a, b) => a + b, 0);
    out.push(`- **End to end.** CPU seconds per 1,000 events on 1 shard: ${Object.entries(parts).map(([k, v]) => `${k} ${fmt(v, 3)} (${fmt((v / total) * 100, 2)} %)`).join(', ')}. The Kinesis emulator (kinesis-local, a Scala.js build) is the bottleneck on 2 cores, not the stage functions: more shards add pollers, not cores.`);
  }
  const idle = r.cost?.idleWhatIf as Record<string, number> | undefined;
  if (idle) {
    out.push(
      `- **Idle cost.** $${fmt(idle.asMeasured, 4)}/month: the two streams' shards, and the watermark function once a minute — it reads the keyed shards' log heads, finds every input idle and returns; the first stage batch after idleness wakes it (had it kept looping while idle: $${fmt(idle.watermarkAlwaysLooping, 4)}). A source declared \`partitionedBy\` the key (one stage, no shuffle stream) → $${fmt(idle.sourcePartitionedByKeyNoShuffleStream, 4)} (${fmt(idle.managedFlink! / idle.sourcePartitionedByKeyNoShuffleStream!, 3)}× below Managed Flink). (The deployment's KMS key adds $1/month to any of these.)`,
    );
  }
  return out;
}

/** Writes REPORT.md and the charts; returns the targets, for the terminal summary. */
export function writeReport(run?: { seconds: number; command: string; sections: { name: string; seconds: number; ok: boolean }[] }): { file: string; targets: TargetRow[] } {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const engine = readResult<Doc & { events: number; runs: number; batch?: number; envelopesPerKeyedBatch?: number; loadavg?: number[]; rows: { job: string; median: number; min: number; max: number; results: number; runs?: number[]; loadavg?: number[][] }[] }>('engine');
  const breakdown = readResult<Doc & { store: { job: string; memory: Figure; dynalite: Figure; storeShare: number; dynamoRequestsPer1000: number; events: number }[]; phases: { median: Record<string, number> }; floor: { parseOnly: Figure; parseAndSum: Figure } }>('engine-breakdown');
  const writes = readResult<Doc & { events: number; ratePerSec: number; shards: number; rows: { keys: number; batch: number; shardflow: Figure; lockstep: Figure; counted: Figure; steady?: Figure; naive: Figure; shardflowWru: Figure; naiveWru: Figure; ratio: number; steadyRatio?: number; detail: Record<string, number> }[]; whatItTakes: Record<string, number | string>[]; longEvents?: number; target: { ratio: number; steadyRatio?: number; met: boolean } }>('writes');
  const e2e = readResult<Doc & { throughput: { shards: number; events: number; eventsPerSec: Figure; producerPerSec: Figure }[]; overload: { offeredPerSec: number; achievedPerSec: number; loadSeconds: number; recoverySeconds: number | null; peakLagMs: number; samples: { t: number; offeredPerSec: number; s0AgeMs: number; s1AgeMs: number }[] } }>('e2e');
  const latency = readResult<Doc & { ratePerSec: number; configs: { users: number; local?: { p50Ms: Figure; p99Ms: Figure }; scheduled?: { p50Ms: number; p99Ms: number; gapShare: number }; runs: Record<string, number>[] }[]; target: { p99Ms: number | null; met: boolean } }>('latency');
  const cost = readResult<Doc & { targets?: TargetRow[]; rows: { eventsPerSec: number; keys?: number; keyedShards?: number; writeUnitsPerWindow?: number; shards: number; shardflow: { monthly: Record<string, number>; perMillionEvents: number; marginalPerMillionEvents: number; idleMonthly: Record<string, number>; kinesisOnDemandInsteadMonthly: number }; flink: { monthly: Record<string, number>; perMillionEvents: number; idleMonthly: number }; idleRatio: { withSourceStream: number; jobOnly: number }; perThousandEvents: Record<string, number> }[]; naive: { eventsPerSec: number; monthly: number; perMillionEvents: number }[]; validation?: { what: string; embedded: number; simulated: number }[]; target: { withSourceStream: number; jobOnly: number; met: boolean }; idleTick: unknown; schedule: Record<string, number> }>('cost');
  const harnessRun = readResult<Doc & { events: number; users: number; batch: number; runs: number; rows: { job: string; eventsPerSec: Figure; outputs: number }[] }>('harness');
  const catchUp = readResult<Doc & { eventsPerShardPerSec: number; seconds: number; warmUpSeconds?: number; pool: { shards: number; containers: number; eventsPerSec: number; keyedBatches: number; hitRate: number; caughtUpRate: number; loadRate: number; entriesReadPerBatch: number; kbReadPerBatch: number; readUnitsPerBatch: number; lostSlots: number }[]; coldLoad: { mb: number; keys: number; storedBytes: number; items: number; loadMs: Figure }[] }>('catch-up');
  const scale = readResult<Doc & { byKeys: { eventsPerSec: number; keys: number; per1000: Record<string, number>; cost: Record<string, number> }[]; byRate: { eventsPerSec: number; keys: number; per1000: Record<string, number>; cost: Record<string, number> }[]; charts: string[] }>('scale');

  const targets: TargetRow[] = [];
  const out: string[] = [];
  const m = machine();
  out.push('# shardflow benchmarks');
  out.push('');
  out.push(`Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${run?.command ?? 'node bin/run-ts.js bench/report.ts'}\`${run ? ` in ${Math.round(run.seconds / 60)} min ${Math.round(run.seconds % 60)} s` : ''} on ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}, ${m.os}.`);
  out.push('Figures are the median of several runs with (min–max); each result file in `bench/results/` has every run, the load average before it, the machine and the command. **This machine is shared** (other engineers run tests on it): the load averages are recorded beside each figure and matter — the emulator-bound figures in particular move with them.');
  out.push('');

  // Targets first: the truth at a glance.
  const click = engine?.rows.find((r) => r.job.startsWith('click-counts'));
  if (click) targets.push({ target: 'Engine ≥ 1,000,000 events/s on one core (click-counts)', figure: `${fmt(click.median, 4)} events/s`, met: click.median >= 1e6 });
  const sliding = engine?.rows.find((r) => r.job.startsWith('sliding'));
  if (click && sliding) targets.push({ target: 'Sliding windows: the ratio to tumbling (per-item design: 0.22×)', figure: `${fmt(sliding.median / click.median, 3)}× (${fmt(sliding.median, 4)} events/s)`, met: null });
  for (const t of cost?.targets ?? []) targets.push(t);
  if (latency) targets.push({ target: 'p99 watermark passes window end → result readable ≤ 2 s locally', figure: `${fmt(latency.target.p99Ms, 4)} ms (${latency.configs[0]?.users} users, ${latency.ratePerSec} events/s)`, met: latency.target.met });
  if (cost) targets.push({ target: 'Idle cost per month below Managed Flink by ≥ 5×', figure: `${fmt(cost.target.withSourceStream)}× counting the source stream both designs need; ${fmt(cost.target.jobOnly)}× for the job's own resources`, met: cost.target.met });
  out.push('## Targets');
  out.push('');
  out.push(mdTable(['target', 'measured', 'met?'], targets.map((t) => [t.target, t.figure, t.met === null ? '—' : t.met ? '**met**' : '**missed**'])));
  out.push('');
  out.push(...findings({ engine, breakdown, writes, e2e, latency, cost, catchUp }));
  out.push('');

  // 1. Engine
  out.push('## 1. Engine: events/s on one core, in process');
  out.push('');
  if (engine) {
    out.push(`${engine.events.toLocaleString()} click events (1,000 Zipf users) through both stages in one process, in-memory backend: source batches of ${engine.batch ?? 500}${engine.envelopesPerKeyedBatch ? `, the keyed stage taking ${engine.envelopesPerKeyedBatch} source batches' envelopes per batch` : ''}, firing after each keyed batch; ${engine.runs} runs after a warm-up (\`bench/engine.ts\`, also \`npm run bench:engine\`).`);
    out.push('');
    out.push(mdTable(['job', 'events/s median', 'min', 'max', 'load (1-min) per run'], engine.rows.map((r) => [r.job, Math.round(r.median), Math.round(r.min), Math.round(r.max), r.loadavg?.map((l) => l[0]).join(', ') ?? '—'])));
    out.push('');
    out.push(chart('engine', barChart({ title: 'Engine throughput, one core, in-memory state', categories: engine.rows.map((r) => r.job.split(' (')[0]!.replace(', sum', '').replace(', count', '')), series: [{ name: 'events/s', values: engine.rows.map((r) => r.median), min: engine.rows.map((r) => r.min), max: engine.rows.map((r) => r.max) }], xLabel: 'job', yLabel: 'events per second', references: [{ value: 1e6, label: 'target 1,000,000' }] })));
    out.push('');
    out.push(provenance(engine));
    out.push('');
  }
  if (breakdown) {
    out.push('**Where the time goes.** The same jobs with state in dynalite (the DynamoDB backend over loopback), on the same events; the phases of click-counts in memory; and a floor — `JSON.parse` plus a `Map` sum per (user, window), the least any JavaScript engine decoding these records can do:');
    out.push('');
    out.push(mdTable(['job', 'memory events/s', 'dynalite events/s', "store's share of the time", 'DynamoDB requests per 1,000 events'], breakdown.store.map((r) => [r.job, fig(r.memory, 4), fig(r.dynalite, 4), `${fmt(r.storeShare * 100, 3)} %`, fmt(r.dynamoRequestsPer1000, 4)])));
    out.push('');
    const ph = breakdown.phases.median;
    out.push(`click-counts phases (in memory, batched as in bench/engine.ts, ${fmt(ph.eventsPerSec, 4)} events/s in the median run): ${Object.entries(ph).filter(([k]) => k.endsWith('Share')).map(([k, v]) => `${k.replace('Share', '')} ${fmt(v * 100, 2)} %`).join(', ')}. Floor, alternated with those runs: \`JSON.parse\` alone ${fig(breakdown.floor.parseOnly, 4)} events/s; parse + sum ${fig(breakdown.floor.parseAndSum, 4)} events/s; the engine at ${fmt((ph.engineOverFloor ?? 0) * 100, 2)} % of the latter.`);
    out.push('');
    out.push(chart('engine-store', barChart({ title: 'Engine with state in memory vs in dynalite (log scale)', categories: breakdown.store.map((r) => r.job.split(' (')[0]!.replace(', sum', '').replace(', count', '')), series: [{ name: 'memory', values: breakdown.store.map((r) => r.memory.median) }, { name: 'dynalite', values: breakdown.store.map((r) => r.dynalite.median) }], xLabel: 'job', yLabel: 'events per second', logY: true })));
    out.push('');
    out.push(provenance(breakdown));
    out.push('');
  }

  // 2. End to end
  out.push('## 2. End to end on the embedded runtime');
  out.push('');
  if (e2e) {
    out.push('`shardflow dev` as a user runs it: kinesis-local and dynalite as child processes, the edge, the function bundles in worker processes fed by the local event source mapping (batch 500, window 1 s), click-counts with live events from 1,000 Zipf users. A producer puts the events as fast as it can; the figure is events ÷ time until both stages have taken everything in. Every run starts fresh emulators: **kinesis-local slows down badly as one shard fills (> 10,000 records), so runs stay under that per shard** — these are short runs (a few thousand events per shard), not hour-long soaks.');
    out.push('');
    out.push(mdTable(['source shards', 'events', 'events/s end to end', 'producer events/s', 'load (1-min) per run'], e2e.throughput.map((t) => [t.shards, t.events, fig(t.eventsPerSec, 4), fig(t.producerPerSec, 4), loads(t.eventsPerSec)])));
    out.push('');
    out.push(chart('e2e-throughput', barChart({ title: 'Embedded runtime: sustained events/s by source shards', categories: e2e.throughput.map((t) => `${t.shards} shard${t.shards > 1 ? 's' : ''}`), series: [{ name: 'events/s end to end', values: e2e.throughput.map((t) => t.eventsPerSec.median), min: e2e.throughput.map((t) => t.eventsPerSec.min), max: e2e.throughput.map((t) => t.eventsPerSec.max) }], xLabel: 'source shards', yLabel: 'events per second' })));
    out.push('');
    const o = e2e.overload;
    out.push(`**Overload and recovery** (2 shards): ${fmt(o.offeredPerSec, 4)} events/s offered (2.5 × the 2-shard rate; the producer achieved ${fmt(o.achievedPerSec, 4)}) for ${fmt(o.loadSeconds, 3)} s, then nothing. Peak iterator age ${fmt(o.peakLagMs / 1000, 3)} s; ${o.recoverySeconds === null ? '**it did not recover** within the wait' : `both stages were back under 2 s of iterator age **${fmt(o.recoverySeconds, 3)} s after the load stopped**`}.`);
    out.push('');
    out.push(chart('e2e-lag', lineChart({ title: 'Iterator age under load above capacity, then none (2 shards)', series: [{ name: 'source stage', points: o.samples.map((s) => [s.t, s.s0AgeMs / 1000] as const) }, { name: 'keyed stage', points: o.samples.map((s) => [s.t, s.s1AgeMs / 1000] as const) }], xLabel: 'seconds', yLabel: 'iterator age (s)', bands: [{ from: o.samples[0]?.t ?? 0, to: o.loadSeconds, label: `load ${compact(o.achievedPerSec)} ev/s` }] })));
    out.push('');
    out.push(provenance(e2e));
    out.push('');
  }

  // 3. Write amplification
  out.push('## 3. Write amplification: DynamoDB writes per 1,000 events');
  out.push('');
  if (writes) {
    out.push(`${writes.events.toLocaleString()} click events at ${writes.ratePerSec} events/s on ${writes.shards} source shards (Zipf keys), shardflow's real handlers on Lambda's batching cadence and **the naive design** (\`bench/naive-counter.ts\`: one conditional UpdateItem per record, ADD + a per-item processed-sequence condition) on the same events. **Source: dynalite**, every write request counted at the DynamoDB client (state-log entries, result writes, the watermark function's lease, failed conditions — all billed), every window of the run counted through its whole life (a flush record at the end moves the watermark past all of them). The naive design writes once per event and never emits a final result, so shardflow's counts (which include its results: one write per window) compare unlike things. "in-memory count" is the same cadence as the first column on the in-memory store used as a counting store (the model \`bench/scale.ts\` uses for a million keys; it matches dynalite within a few writes per 1,000), "steady state" the same over a minute of events, "lockstep bound" gives the keyed stage each upstream batch alone (the most log entries possible).`);
    out.push('');
    out.push(mdTable(['keys', 'batch', 'shardflow (dynalite)', 'naive (dynalite)', 'shardflow ÷ naive', 'in-memory count, same run', `steady state (${(writes.longEvents ?? 0).toLocaleString()} events, counting store)`, 'steady ÷ naive', 'lockstep bound', 'of which results'], writes.rows.map((r) => [r.keys, r.batch, fig(r.shardflow, 4), fig(r.naive, 4), `${fmt(r.ratio)}×`, fmt(r.counted.median, 4), fig(r.steady, 4), `${fmt(r.steadyRatio)}×`, fmt(r.lockstep.median, 4), fmt(r.detail.sinkWrites, 4)])));
    out.push('');
    out.push(chart('writes', barChart({ title: `Writes per 1,000 events at ${writes.ratePerSec} events/s (dynalite)`, categories: writes.rows.map((r) => `${compact(r.keys)} keys / ${r.batch}`), series: [{ name: 'shardflow', values: writes.rows.map((r) => r.shardflow.median), min: writes.rows.map((r) => r.shardflow.min), max: writes.rows.map((r) => r.shardflow.max) }, { name: 'lockstep bound', values: writes.rows.map((r) => r.lockstep.median) }, { name: 'naive', values: writes.rows.map((r) => r.naive.median) }], xLabel: 'keys / batch size', yLabel: 'write requests per 1,000 events', references: [{ value: 200, label: 'target: 1/5 of naive' }] })));
    out.push('');
    out.push('Writes at 1,000 keys under other cadences (counting store, batch 500; state log and results):');
    out.push('');
    out.push(mdTable(['variant', 'writes per 1,000 events', '× naive', '(key, window) pairs per 1,000 events'], (writes.whatItTakes ?? []).map((v) => [String(v.variant), fmt(v.writesPer1000 as number, 4), `${fmt(v.ratioToNaive as number)}×`, fmt(v.windowsPer1000 as number, 4)])));
    out.push('');
    out.push(provenance(writes));
    out.push('');
  }

  // 4. Latency
  out.push('## 4. Latency: watermark passes a window\'s end → result readable');
  out.push('');
  if (latency) {
    out.push(`Embedded runtime, 1 shard, ${latency.ratePerSec} events/s, the watermark function ticking every second. Every ~40 ms the benchmark takes the watermark of what the producer has put so far (its highest event time minus the bound) and reads the results table for the windows of about 100 users (all of them at 100 users, every tenth at 1,000); latency = first read of the result − first poll that saw the watermark reach windowEnd − 1. So it includes both hops of the event source mapping: the source stage's batching, the shuffle, the keyed stage's batching (windows fire in the keyed stage as the markers pass them). The "as deployed" columns add the watermark function's 1 s hand-over between 55 s loops (assumed, not measured on AWS), which matters only for windows that close on a tick.`);
    out.push('');
    out.push(mdTable(['Zipf users', 'results observed', 'not readable 15 s after the load ended', 'p50 local', 'p99 local', 'p50 as deployed', 'p99 as deployed', 'load (1-min) per run'], latency.configs.map((c) => [c.users, c.runs.reduce((n, r) => n + (r.samples ?? 0), 0), c.runs.reduce((n, r) => n + (r.missing ?? 0), 0), fig(c.local?.p50Ms, 4, ' ms'), fig(c.local?.p99Ms, 4, ' ms'), c.scheduled ? `${fmt(c.scheduled.p50Ms, 4)} ms` : '—', c.scheduled ? `${fmt(c.scheduled.p99Ms, 4)} ms` : '—', loads(c.local?.p99Ms)])));
    out.push('');
    out.push(chart('latency', barChart({ title: 'Window end → result readable', categories: latency.configs.map((c) => `${c.users} users`), series: [{ name: 'p50 local', values: latency.configs.map((c) => c.local?.p50Ms.median ?? Number.NaN) }, { name: 'p99 local', values: latency.configs.map((c) => c.local?.p99Ms.median ?? Number.NaN) }, { name: 'p99 as deployed', values: latency.configs.map((c) => c.scheduled?.p99Ms ?? Number.NaN) }], xLabel: 'users (windows to fire per window end)', yLabel: 'milliseconds', references: [{ value: 2000, label: 'target p99 2 s' }] })));
    out.push('');
    out.push(provenance(latency));
    out.push('');
  }

  // 5. Cost
  out.push('## 5. Cost: dollars per million events and per idle month');
  out.push('');
  if (cost) {
    out.push(`click-counts, Zipf users, sustained. Usage counted (DynamoDB request units metered per request, Kinesis records and PUT payload units, invocations and handler time) from the real handlers on Lambda's cadence against dynalite; prices ${PRICES_REGION}, checked ${PRICES_CHECKED} (table below; sources in \`bench/prices.ts\`). Method and assumptions: docs/cost.md.`);
    out.push('');
    out.push(mdTable(['events/s', 'keys', 'shards (source + keyed)', 'DynamoDB WRU per (key, window)', 'shardflow $/month', 'shardflow $/M events', 'marginal $/M events', 'DynamoDB share', 'Managed Flink $/month', 'Flink $/M events', 'naive $/M events'], cost.rows.map((r, i) => [r.eventsPerSec, r.keys ?? 1000, `${r.shards} + ${r.keyedShards ?? r.shards}`, fmt(r.writeUnitsPerWindow, 3), fmt(r.shardflow.monthly.total, 4), fmt(r.shardflow.perMillionEvents, 3), fmt(r.shardflow.marginalPerMillionEvents, 3), `${fmt(((r.shardflow.monthly.dynamoWrites! + r.shardflow.monthly.dynamoReads!) / r.shardflow.monthly.total!) * 100, 2)} %`, fmt(r.flink.monthly.total, 4), fmt(r.flink.perMillionEvents, 3), fmt(cost.naive[i]?.perMillionEvents, 3)])));
    out.push('');
    const idle = cost.rows[0]!;
    out.push(`**Idle month** (1 source shard + 1 shuffle shard, the watermark schedule and its ticks): shardflow **$${fmt(idle.shardflow.idleMonthly.total, 4)}** (${Object.entries(idle.shardflow.idleMonthly).filter(([k, v]) => k !== 'total' && v > 0).map(([k, v]) => `${k} $${fmt(v, 3)}`).join(', ')}) vs Managed Flink **$${fmt(idle.flink.idleMonthly, 4)}** (2 KPU + 50 GB + the same source shard): **${fmt(idle.idleRatio.withSourceStream)}×** counting the source stream both need, **${fmt(idle.idleRatio.jobOnly)}×** for the job's own resources.`);
    out.push('');
    out.push(chart('cost-per-million', barChart({ title: 'USD per million events, sustained (log scale)', categories: cost.rows.map((r) => `${compact(r.eventsPerSec)} ev/s, ${compact(r.keys ?? 1000)} keys`), series: [{ name: 'shardflow', values: cost.rows.map((r) => r.shardflow.perMillionEvents) }, { name: 'Managed Flink', values: cost.rows.map((r) => r.flink.perMillionEvents) }, { name: 'naive', values: cost.naive.map((n) => n.perMillionEvents) }], xLabel: 'sustained rate', yLabel: 'USD per million events', logY: true })));
    out.push('');
    out.push(chart('cost-idle', barChart({ title: 'USD per idle month', categories: ['shardflow', 'Managed Flink'], series: [{ name: 'idle month', values: [idle.shardflow.idleMonthly.total!, idle.flink.idleMonthly] }], xLabel: '', yLabel: 'USD per month' })));
    out.push('');
    if (cost.validation) {
      out.push('Check of the simulated cadence against the embedded runtime at its calibration rate (calls per 1,000 events; the embedded figures fall short where its watermark function lags behind on this machine — see §4):');
      out.push('');
      out.push(mdTable(['per 1,000 events', 'embedded runtime (edge counts)', 'simulated cadence (metered)'], cost.validation.map((v) => [v.what, fmt(v.embedded, 4), fmt(v.simulated, 4)])));
      out.push('');
    }
    out.push('Prices:');
    out.push('');
    out.push(mdTable(['item', 'USD', 'per', 'status'], Object.entries(PRICES).map(([k, p]) => [k, String(p.usd), p.per, p.status])));
    out.push('');
    out.push(provenance(cost));
    out.push('');
  }

  // 6. Scale
  out.push('## 6. Scale: keys and events/s');
  out.push('');
  if (scale) {
    out.push('Write units per 1,000 events (state-log entries per started KB, and results) from the in-memory counting store on the simulated cadence (a million keys is out of dynalite\'s reach in minutes); dollars with reads and handler time from the cost run at the nearest rate.');
    out.push('');
    out.push(mdTable(['events/s', 'keys', 'writes per 1,000 events', 'of which results', 'USD per month', 'USD per M events', 'Managed Flink USD/month', 'naive USD/month'], [...scale.byKeys, ...scale.byRate].map((p) => [p.eventsPerSec, p.keys, fmt(p.per1000.total, 4), fmt(p.per1000.sinkWrites, 4), fmt(p.cost.shardflow, 4), fmt(p.cost.perMillion, 3), fmt(p.cost.flink, 4), fmt(p.cost.naive, 4)])));
    out.push('');
    for (const c of scale.charts) out.push(`![${path.basename(c, '.svg')}](${c})`);
    out.push('');
    out.push(provenance(scale));
    out.push('');
  }

  // 7. The test harness
  out.push('## 7. The test harness with many outputs');
  out.push('');
  if (harnessRun) {
    out.push(`${harnessRun.events.toLocaleString()} click events (${harnessRun.users.toLocaleString()} Zipf users) through \`harness()\` in batches of ${harnessRun.batch}, watermarks from the source's strategy, ${harnessRun.runs} run(s) per job after a warm-up (\`bench/harness.ts\`). Jobs whose every event makes an output: the output path must stay linear in the outputs.`);
    out.push('');
    out.push(mdTable(['job', 'events/s', 'outputs', 'load (1-min) per run'], harnessRun.rows.map((r) => [r.job, fig(r.eventsPerSec, 4), r.outputs, loads(r.eventsPerSec)])));
    out.push('');
    out.push(provenance(harnessRun));
    out.push('');
  }

  // 8. Catch-up
  out.push('## 8. Catch-up: stale caches and cold loads');
  out.push('');
  if (catchUp) {
    out.push(`Lambda sends a shard's next batch to any warm container, so a container's cached state may be behind the log (docs/state-log.md). click-counts at ${catchUp.eventsPerShardPerSec} events/s per shard for ${catchUp.seconds} s (counted after the first ${catchUp.warmUpSeconds ?? 0} s) on Lambda's cadence (\`bench/lambda-sim.ts\`), with as many warm containers per stage as shards and each batch sent to one of them at random (seeded), logs in dynalite with the keyed stage's requests metered. Cold loads: one shard's state of the given size (window state of many keys, as JSON) written as a snapshot, then loaded by a new container (\`bench/catch-up.ts\`).`);
    out.push('');
    out.push(mdTable(['shards = containers', 'events/s', 'keyed batches', 'cache current', 'caught up', 'loaded cold', 'entries read per batch', 'KB read per batch', 'read units per batch (with the ticks\' log-head reads)'], catchUp.pool.map((r) => [r.shards, r.eventsPerSec, r.keyedBatches, `${fmt(r.hitRate * 100, 3)} %`, `${fmt(r.caughtUpRate * 100, 3)} %`, `${fmt(r.loadRate * 100, 3)} %`, fmt(r.entriesReadPerBatch, 3), fmt(r.kbReadPerBatch, 3), fmt(r.readUnitsPerBatch, 3)])));
    out.push('');
    out.push(mdTable(['state (JSON)', 'keys', 'stored (deflated)', 'items', 'cold load ms'], catchUp.coldLoad.map((r) => [`${r.mb} MB`, r.keys, `${fmt(r.storedBytes / 1_048_576, 3)} MiB`, r.items, fig(r.loadMs, 4)])));
    out.push('');
    out.push(provenance(catchUp));
    out.push('');
  }

  // 9. Nexmark
  out.push(...nexmarkSection(readResult<NexmarkResult>('nexmark')));

  // 10. State growth
  const growth = readResult<Doc & { events: number; runs: number; rows: { case: string; entries: number; microsPerEvent: number }[]; ratios: { case: string; ratio: number }[] }>('state-growth');
  if (growth) {
    out.push("## 10. Per-event cost as a key's state grows");
    out.push('');
    out.push(`One key filled with 10, 1,000 and 100,000 entries, then up to ${growth.events.toLocaleString()} more events of it (at most 2 s each), through the keyed process operator alone (\`bench/state-growth.ts\`; packing the batch's delta for the log, once per batch and key, is not in it): a process function putting into a MapState, and \`COUNT(DISTINCT v) … GROUP BY k\` (lib/sql/continuous.ts). Median of ${growth.runs} run(s) after a warm-up. A call changes its key's state in place with an undo log, and DISTINCT keeps its set's size, so the ratio should be near 1; copying the state per event (before 2026-12-01) made it 1,000–20,000×.`);
    out.push('');
    out.push(mdTable(['case', 'entries in the key', 'µs per event'], growth.rows.map((r) => [r.case, r.entries, fmt(r.microsPerEvent)])));
    out.push('');
    out.push(mdTable(['case', 'per-event time at the most entries / at the fewest'], growth.ratios.map((r) => [r.case, `${fmt(r.ratio)}×`])));
    out.push('');
    out.push(provenance(growth));
    out.push('');
  }

  if (run) {
    out.push('## This run');
    out.push('');
    out.push(mdTable(['section', 'seconds', 'ok'], run.sections.map((s) => [s.name, Math.round(s.seconds), s.ok ? 'yes' : '**failed**'])));
    out.push('');
  }
  const file = path.join(__dirname, 'REPORT.md');
  fs.writeFileSync(file, `${out.join('\n')}\n`);
  if (cost) refreshCostDoc(cost);
  return { file, targets };
}

/**
 * docs/cost.md keeps its prose; the blocks between `<!-- figures:start -->` / `<!-- figures:end -->` and
 * `<!-- prices:start -->` / `<!-- prices:end -->` are rewritten from the latest cost run, so the page
 * never quotes figures the benchmark no longer gives.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function refreshCostDoc(cost: Record<string, any>): void {
  const file = path.join(__dirname, '..', 'docs', 'cost.md');
  if (!fs.existsSync(file)) return;
  const rows = cost.rows as { eventsPerSec: number; keys?: number; keyedShards?: number; writeUnitsPerWindow?: number; shards: number; partitionBy?: string; shardflow: { monthly: Record<string, number>; perMillionEvents: number; marginalPerMillionEvents: number; idleMonthly: Record<string, number> }; flink: { monthly: Record<string, number>; perMillionEvents: number; idleMonthly: number }; idleRatio: { withSourceStream: number; jobOnly: number } }[];
  const naive = cost.naive as { perMillionEvents: number; monthly: number }[];
  const idle = rows[0]!;
  const w = idle.shardflow.idleMonthly;
  const figures = [
    `From \`${cost.command}\`, ${String(cost.date).slice(0, 16).replace('T', ' ')} UTC (prices checked ${PRICES_CHECKED}).`,
    '',
    mdTable(
      ['sustained events/s', 'keys', 'shards (source + shuffle)', 'DynamoDB WRU per (key, window)', 'shardflow $/month', 'shardflow $ per million events', 'of which DynamoDB', 'Managed Flink $/month', 'Managed Flink $ per million events', 'naive Lambda + DynamoDB $ per million events'],
      rows.map((r, i) => [r.eventsPerSec, r.keys ?? 1000, `${r.shards} + ${r.keyedShards ?? r.shards}`, fmt(r.writeUnitsPerWindow, 3), fmt(r.shardflow.monthly.total, 4), fmt(r.shardflow.perMillionEvents, 3), `${fmt(((r.shardflow.monthly.dynamoWrites! + r.shardflow.monthly.dynamoReads!) / r.shardflow.monthly.total!) * 100, 2)} %`, fmt(r.flink.monthly.total, 4), fmt(r.flink.perMillionEvents, 3), fmt(naive[i]?.perMillionEvents, 3)]),
    ),
    '',
    `**Idle month** (1 source shard + 1 shuffle shard): shardflow **$${fmt(w.total, 4)}** — shard-hours $${fmt(w.kinesisShardHours, 3)}, the watermark function $${fmt(w.watermarkFunction, 3)} (43,800 invocations a month, each one tick before it finds every input idle and returns), its idle ticks' DynamoDB requests $${fmt((w.dynamoWrites ?? 0) + (w.dynamoReads ?? 0), 3)} — against Managed Flink **$${fmt(idle.flink.idleMonthly, 4)}** (1 KPU + the orchestration KPU, 50 GB, the same source shard): **${fmt(idle.idleRatio.withSourceStream)}×** cheaper counting the source stream both need, **${fmt(idle.idleRatio.jobOnly)}×** on the job's own resources. The deployment's KMS key adds $1/month to shardflow (not in the ratio).`,
    '',
    'Per month, by line (shardflow, sustained):',
    '',
    mdTable(['events/s', 'keys', 'Kinesis shard-hours', 'Kinesis PUT units', 'Lambda requests', 'Lambda GB-s', 'watermark function', 'DynamoDB writes', 'DynamoDB reads', 'total'], rows.map((r) => { const m = r.shardflow.monthly; return [r.eventsPerSec, r.keys ?? 1000, fmt(m.kinesisShardHours, 4), fmt(m.kinesisPutPayloadUnits, 4), fmt(m.lambdaRequests, 4), fmt(m.lambdaCompute, 4), fmt(m.watermarkFunction, 4), fmt(m.dynamoWrites, 4), fmt(m.dynamoReads, 4), fmt(m.total, 4)]; })),
  ].join('\n');
  const prices = mdTable(['item', 'USD', 'per', 'status', 'page', 'what confirmed it'], Object.entries(PRICES).map(([name, p]) => [`\`${name}\``, String(p.usd), p.per, p.status, p.page, p.confirmedBy.replace(/\|/g, '/')]));
  let doc = fs.readFileSync(file, 'utf8');
  const put = (name: string, body: string): void => {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    // A function, not a replacement string: the body's dollar amounts ("$21.9") are not back-references.
    doc = doc.replace(re, (_match, start: string, end: string) => `${start}\n${body}\n${end}`);
  };
  put('figures', figures);
  put('prices', prices);
  fs.writeFileSync(file, doc);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const { file, targets } = writeReport();
  for (const t of targets) console.log(`${t.met === null ? 'info  ' : t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.figure}`);
  console.log(`written ${file}`);
}
