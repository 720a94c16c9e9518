/** Per-run lines and totals of chaos runs, for the terminal and the JSON summary. */
import type { ChaosRunReport, FaultPlan } from './harness';
import { joinsTwoStreams } from './jobs/settings';

export interface ChaosTotals {
  readonly runs: number;
  readonly passed: number;
  readonly events: number;
  readonly counted: number;
  readonly late: number;
  readonly deadLettered: number;
  readonly flush: number;
  readonly windowsExpected: number;
  readonly windowsFound: number;
  /** The join kind's interval-join pairs. */
  readonly pairsExpected: number;
  readonly pairsFound: number;
  readonly mismatches: number;
  readonly discarded: number;
  readonly faults: Record<string, number>;
  readonly durationMs: number;
}

/** Fault counts of a run as flat `kind → n` pairs (the columns of the totals). */
export function faultsOf(r: ChaosRunReport): Record<string, number> {
  const f = r.faults;
  const killedAtPoints = Object.values(f.killedAt).reduce((a, b) => a + b, 0);
  return {
    'kill@point': killedAtPoints,
    ...Object.fromEntries(Object.entries(f.killedAt).map(([p, n]) => [`kill@${p}`, n])),
    'kill@random': f.randomKills,
    timeout: f.timeouts,
    duplicate: f.duplicates,
    disorder: f.disordered,
    malformed: f.malformed,
    'throttle:kinesis': f.throttled.kinesis,
    'throttle:dynamodb': f.throttled.dynamodb,
    split: f.splits,
    merge: f.merges,
    'shuffle:split': f.shuffleReshards.split,
    'shuffle:merge': f.shuffleReshards.merge,
    'shuffle:update-shard-count': f.shuffleReshards.update,
    'mode:on-demand': r.plan.streamMode === 'on-demand' ? 1 : 0,
    'restart:graceful': f.restarts.graceful,
    'restart:hard-kill': f.restarts.hard,
    'cache:lost': f.cacheLost,
    'cache:stale': f.cacheStale,
    zombie: f.zombies,
    'zombie:append-lost': f.zombieAppends.lost,
    'zombie:append-won': f.zombieAppends.won,
  };
}

export function totalsOf(reports: readonly ChaosRunReport[]): ChaosTotals {
  const faults: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(faultsOf(r))) faults[k] = (faults[k] ?? 0) + n;
  const sum = (f: (r: ChaosRunReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  return {
    runs: reports.length,
    passed: reports.filter((r) => r.mismatches === 0).length,
    events: sum((r) => r.events),
    counted: sum((r) => r.fates.counted),
    late: sum((r) => r.late),
    deadLettered: sum((r) => r.deadLettered),
    flush: sum((r) => r.fates.flush),
    windowsExpected: sum((r) => r.windowsExpected),
    windowsFound: sum((r) => r.windowsFound),
    pairsExpected: sum((r) => r.pairs.expected),
    pairsFound: sum((r) => r.pairs.found),
    mismatches: sum((r) => r.mismatches),
    discarded: sum((r) => r.discarded),
    faults,
    durationMs: sum((r) => r.durationMs),
  };
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

export const RUN_HEADER = `${'job'.padEnd(9)} ${pad('seed', 10)} ${pad('events', 6)} ${pad('windows exp/found', 17)} ${pad('mism', 4)} ${pad('late', 4)} ${pad('dead', 4)} ${pad('secs', 5)}  faults`;

/** One line per run: the figures, then the faults it injected. */
export function runLine(r: ChaosRunReport): string {
  const f = faultsOf(r);
  const faults = [
    r.plan.streamMode,
    `kills ${f['kill@point']}+${f['kill@random']}`,
    `timeouts ${f.timeout}`,
    `dup ${f.duplicate}`,
    `disorder ${f.disorder}`,
    `throttled ${f['throttle:kinesis']}k/${f['throttle:dynamodb']}d`,
    `split ${f.split}`,
    `merge ${f.merge}`,
    `shuffle split/merge/update ${f['shuffle:split']}/${f['shuffle:merge']}/${f['shuffle:update-shard-count']}`,
    `cache lost/stale ${f['cache:lost']}/${f['cache:stale']}`,
    `zombies ${f.zombie} (append lost ${f['zombie:append-lost']}${f['zombie:append-won'] ? `, WON ${f['zombie:append-won']}` : ''})`,
    ...(f['restart:graceful'] ? ['restart'] : []),
    ...(f['restart:hard-kill'] ? ['HARD-KILL'] : []),
    ...(r.plan.keyGroups > 1 && r.kind !== 'sliding' ? [keyGroupsLabel(r.plan)] : []),
  ].join(' · ');
  const status = r.mismatches === 0 ? '' : `  ✗ ${r.error ?? r.comparison.examples[0] ?? 'mismatch'}`;
  const pairs = joinsTwoStreams(r.kind) ? ` · pairs ${r.pairs.expected}/${r.pairs.found}` : '';
  return `${r.kind.padEnd(9)} ${pad(r.seed, 10)} ${pad(r.events, 6)} ${pad(`${r.windowsExpected}/${r.windowsFound}`, 17)} ${pad(r.mismatches, 4)} ${pad(r.late, 4)} ${pad(r.deadLettered, 4)} ${pad((r.durationMs / 1000).toFixed(0), 5)}  ${faults}${pairs}${status}`;
}

export function totalsText(title: string, t: ChaosTotals): string {
  const faults = Object.entries(t.faults)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `${title}: ${t.runs} runs, ${t.passed} with zero mismatches, ${(t.durationMs / 60_000).toFixed(1)} min of runs`,
    `  events ${t.events} (counted ${t.counted}, late ${t.late}, dead-lettered ${t.deadLettered}, flush ${t.flush})`,
    `  windows expected ${t.windowsExpected}, found ${t.windowsFound}${t.pairsExpected + t.pairsFound > 0 ? `; join pairs expected ${t.pairsExpected}, found ${t.pairsFound}` : ''}; mismatches ${t.mismatches}; discarded by the event source mapping ${t.discarded}`,
    `  faults: ${faults}`,
  ].join('\n');
}

/** `key groups K, parallelization P`, or `P → P'` when the factor changed at the restart. */
function keyGroupsLabel(plan: FaultPlan): string {
  const { before, after } = plan.parallelization;
  return `key groups ${plan.keyGroups}, parallelization ${before}${after === before ? '' : ` → ${after}`}`;
}
