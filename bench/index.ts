/**
 * `npm run bench`: every benchmark, one after another, each in its own process (a fresh JIT and heap, and
 * one section's emulators never overlap another's), then a summary table and bench/REPORT.md with charts.
 *
 *   npm run bench                    the full run (≈ 15 min on 2 cores)
 *   npm run bench -- --quick         a smoke run (small sizes, one run each)
 *   npm run bench -- --only writes,cost
 *
 * Sections write bench/results/<name>.json (figures, command, machine, load). Sizes can be raised with
 * the environment variables each script documents (BENCH_EVENTS, BENCH_WRITES_EVENTS, …).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { FLINK_PER_CORE, type NexmarkResult } from './nexmark-report';
import { writeReport } from './report';
import { loadavg, machine, readResult, round, table, writeResult, type Figure } from './run-info';

interface Section {
  readonly name: string;
  readonly script: string;
  readonly what: string;
  /** Environment for the full and the quick run (a variable already set by the user wins). */
  readonly env?: { full: Record<string, string>; quick: Record<string, string> };
}

const SECTIONS: readonly Section[] = [
  { name: 'engine', script: 'engine.ts', what: 'engine events/s on one core (in memory)', env: { full: { BENCH_EVENTS: '300000', BENCH_RUNS: '5' }, quick: { BENCH_EVENTS: '100000', BENCH_RUNS: '2' } } },
  { name: 'state-growth', script: 'state-growth.ts', what: "per-event time of a process function and a COUNT(DISTINCT) as one key's state grows to 100,000 entries", env: { full: { BENCH_STATE_RUNS: '3' }, quick: { BENCH_STATE_RUNS: '1' } } },
  { name: 'engine-breakdown', script: 'engine-breakdown.ts', what: "the store's share (dynalite), phases, a JSON floor" },
  { name: 'harness', script: 'harness.ts', what: 'the test harness with many outputs: events/s of a pass-through and a sliding-window job' },
  { name: 'writes', script: 'writes.ts', what: 'DynamoDB writes per 1,000 events vs the naive design' },
  { name: 'e2e', script: 'e2e.ts', what: 'embedded runtime: events/s by shards, lag under overload, calibration' },
  { name: 'latency', script: 'latency.ts', what: 'watermark passes window end → result readable' },
  { name: 'cost', script: 'cost.ts', what: 'dollars per million events and per idle month vs Managed Flink' },
  { name: 'scale', script: 'scale.ts', what: 'writes and dollars by keys and events/s' },
  { name: 'catch-up', script: 'catch-up.ts', what: 'keyed batches under a container pool: cache hits and reads; cold loads of 1–100 MB' },
  { name: 'nexmark', script: 'nexmark.ts', what: 'Nexmark queries that plan: events/s per core in process, beside Flink\'s published figures', env: { full: { BENCH_NEXMARK_EVENTS: '500000', BENCH_NEXMARK_RUNS: '3' }, quick: { BENCH_NEXMARK_EVENTS: '100000', BENCH_NEXMARK_RUNS: '1' } } },
];

function parseArgs(argv: readonly string[]): { quick: boolean; only: Set<string> | undefined } {
  const quick = argv.includes('--quick');
  const i = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  const list = i < 0 ? undefined : argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  const only = list ? new Set(list.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
  for (const name of only ?? []) if (!SECTIONS.some((s) => s.name === name)) throw new Error(`--only: no section '${name}' (sections: ${SECTIONS.map((s) => s.name).join(', ')})`);
  return { quick, only };
}

function runSection(section: Section, quick: boolean): Promise<boolean> {
  const root = path.resolve(__dirname, '..');
  const defaults = section.env ? (quick ? section.env.quick : section.env.full) : {};
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(defaults).filter(([k]) => process.env[k] === undefined)),
    ...process.env,
    // The AWS SDK's Node-version notice would repeat in every section.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    BENCH_COMMAND: `npm run bench${quick ? ' -- --quick' : ''} (section ${section.name})`,
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/run-ts.js'), path.join('bench', section.script), ...(quick ? ['--quick'] : [])], { cwd: root, env, stdio: 'inherit' });
    child.on('exit', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const command = `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${[...only].join(',')}` : ''}`;
  const m = machine();
  console.log(`shardflow benchmarks${quick ? ' (quick)' : ''} — ${m.cpu}, ${m.cores} cores, Node ${m.node}; load average ${loadavg().join(' / ')}`);
  const started = Date.now();
  const sections: { name: string; seconds: number; ok: boolean }[] = [];
  for (const section of SECTIONS) {
    if (only && !only.has(section.name)) continue;
    console.log(`\n━━ ${section.name}: ${section.what}`);
    const t = Date.now();
    const ok = await runSection(section, quick);
    sections.push({ name: section.name, seconds: (Date.now() - t) / 1000, ok });
    if (!ok) console.log(`━━ ${section.name} FAILED (the report keeps its previous results, if any)`);
  }
  const seconds = (Date.now() - started) / 1000;
  writeResult('bench', command, { quick, sections, seconds: Math.round(seconds) });
  const { file, targets } = writeReport({ seconds, command, sections });

  // The summary table: the headline figure of each section.
  const rows: (string | number)[][] = [];
  const engine = readResult<{ rows: { job: string; median: number; min: number; max: number }[] }>('engine');
  for (const r of engine?.rows ?? []) rows.push(['engine (1 core, memory)', r.job, `${Math.round(r.median).toLocaleString()} events/s (${Math.round(r.min).toLocaleString()}–${Math.round(r.max).toLocaleString()})`]);
  const harnessRun = readResult<{ rows: { job: string; eventsPerSec: Figure; outputs: number }[] }>('harness');
  for (const r of harnessRun?.rows ?? []) rows.push(['test harness (1 core, memory)', r.job, `${Math.round(r.eventsPerSec.median).toLocaleString()} events/s (${Math.round(r.eventsPerSec.min).toLocaleString()}–${Math.round(r.eventsPerSec.max).toLocaleString()}), ${r.outputs.toLocaleString()} outputs`]);
  const nexmark = readResult<NexmarkResult>('nexmark');
  for (const r of nexmark?.rows ?? []) rows.push(['nexmark (in process)', r.query, `${Math.round(r.eventsPerCpuSec.median).toLocaleString()} events/s per core; Flink ${FLINK_PER_CORE[r.query]?.toLocaleString() ?? '—'} events/s per core`]);
  const e2e = readResult<{ throughput: { shards: number; eventsPerSec: Figure }[]; overload: { recoverySeconds: number | null; peakLagMs: number } }>('e2e');
  for (const t of e2e?.throughput ?? []) rows.push(['end to end (embedded)', `${t.shards} shard(s)`, `${Math.round(t.eventsPerSec.median).toLocaleString()} events/s (${Math.round(t.eventsPerSec.min)}–${Math.round(t.eventsPerSec.max)})`]);
  if (e2e) rows.push(['end to end (embedded)', 'overload, then none', `peak lag ${round(e2e.overload.peakLagMs / 1000, 3)} s; ${e2e.overload.recoverySeconds === null ? 'no recovery' : `recovered in ${e2e.overload.recoverySeconds} s`}`]);
  const writes = readResult<{ rows: { keys: number; batch: number; shardflow: Figure; naive: Figure; ratio: number }[] }>('writes');
  for (const r of writes?.rows ?? []) rows.push(['writes per 1,000 events', `${r.keys.toLocaleString()} keys, batch ${r.batch}`, `shardflow ${r.shardflow.median} vs naive ${r.naive.median} (${r.ratio}×)`]);
  const latency = readResult<{ configs: { users: number; local?: { p50Ms: Figure; p99Ms: Figure }; scheduled?: { p99Ms: number } }[] }>('latency');
  for (const c of latency?.configs ?? []) rows.push(['window end → result', `${c.users} users`, c.local ? `p50 ${c.local.p50Ms.median} ms, p99 ${c.local.p99Ms.median} ms locally; p99 ${c.scheduled?.p99Ms} ms with the 1-min schedule` : 'no samples']);
  const cost = readResult<{ rows: { eventsPerSec: number; shardflow: { perMillionEvents: number; monthly: { total: number }; idleMonthly: { total: number } }; flink: { perMillionEvents: number; monthly: { total: number }; idleMonthly: number } }[] }>('cost');
  for (const r of cost?.rows ?? []) rows.push(['cost', `${r.eventsPerSec.toLocaleString()} events/s`, `$${round(r.shardflow.monthly.total, 4)}/month, $${round(r.shardflow.perMillionEvents, 3)}/M events; Managed Flink $${round(r.flink.monthly.total, 4)}/month, $${round(r.flink.perMillionEvents, 3)}/M`]);
  if (cost?.rows[0]) rows.push(['cost', 'idle month', `shardflow $${round(cost.rows[0].shardflow.idleMonthly.total, 4)} vs Managed Flink $${round(cost.rows[0].flink.idleMonthly, 4)}`]);
  console.log(`\n${table(['section', 'case', 'figure (median, min–max)'], rows)}`);
  console.log(`\n${table(['target', 'measured', ''], targets.map((t) => [t.target, t.figure, t.met === null ? '' : t.met ? 'met' : 'MISSED']))}`);
  console.log(`\n${sections.map((s) => `${s.name} ${Math.round(s.seconds)} s${s.ok ? '' : ' (failed)'}`).join(', ')}; total ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`);
  console.log(`written ${path.relative(process.cwd(), file)} and bench/results/`);
  if (sections.some((s) => !s.ok)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
