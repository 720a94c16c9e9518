/**
 * What every benchmark result carries: the machine, the load on it while each run ran, the command that
 * reproduces it, and figures as median / min / max over several runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The machine a figure was measured on. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly os: string;
  readonly memoryGb: number;
}

export function machine(): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
  };
}

/** `os.loadavg()` rounded: 1, 5 and 15-minute load averages (other engineers share this machine). */
export const loadavg = (): [number, number, number] => os.loadavg().map((l) => Math.round(l * 100) / 100) as [number, number, number];

/**
 * A figure over several runs: the median is the number to quote, min and max show the spread, and
 * the load average at the start of each run says how busy the machine was.
 */
export interface Figure {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
  readonly loadavg: readonly (readonly [number, number, number])[];
}

/** Median (the lower middle for an even count), min and max of samples, with each run's load. */
export function figure(samples: readonly number[], loads: readonly (readonly [number, number, number])[] = []): Figure {
  if (samples.length === 0) throw new Error('a figure needs at least one run');
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...samples], loadavg: [...loads] };
}

/** The p-th percentile (0..100) of samples, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Runs `measure` `runs` times, recording the load average before each run. */
export async function repeat<T>(runs: number, measure: (run: number) => Promise<T>): Promise<{ results: T[]; loads: [number, number, number][] }> {
  const results: T[] = [];
  const loads: [number, number, number][] = [];
  for (let run = 0; run < runs; run++) {
    loads.push(loadavg());
    results.push(await measure(run));
  }
  return { results, loads };
}

/** The flags every benchmark script understands. */
export interface BenchOptions {
  /** Smoke run: small sizes, one run each. */
  readonly quick: boolean;
}

export function benchOptions(argv: readonly string[] = process.argv.slice(2)): BenchOptions {
  return { quick: argv.includes('--quick') || process.env.BENCH_QUICK === '1' };
}

/** A number from the environment (for bigger runs), else the quick or the full default. */
export function sized(name: string, full: number, quick: number, options: BenchOptions): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw} is not a positive number`);
    return n;
  }
  return options.quick ? quick : full;
}

export const RESULTS_DIR = path.join(__dirname, 'results');

/**
 * Writes `bench/results/<name>.json` with the command that reproduces it, the date, the machine and the
 * load average when the script finished.
 */
export function writeResult(name: string, command: string, body: Record<string, unknown>): string {
  const file = path.join(RESULTS_DIR, `${name}.json`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const doc = { benchmark: name, command, date: new Date().toISOString(), machine: machine(), loadavgAtEnd: loadavg(), ...body };
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

export function readResult<T = Record<string, unknown>>(name: string): T | undefined {
  const file = path.join(RESULTS_DIR, `${name}.json`);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : undefined;
}

/** The command line that reproduces a script's figures, as recorded in its result. */
export function commandOf(script: string, options: BenchOptions): string {
  return `node bin/run-ts.js bench/${script}${options.quick ? ' --quick' : ''}`;
}

/** Seconds since `startedNs` (process.hrtime.bigint()). */
export const secondsSince = (startedNs: bigint): number => Number(process.hrtime.bigint() - startedNs) / 1e9;

/** Rounds to a few significant digits for tables and JSON. */
export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n) || n === 0) return n;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(n))));
  return Math.round(n * scale) / scale;
}

/** Fixed-width text table for the terminal: numbers right-aligned, text left-aligned. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const text = (c: string | number): string => (typeof c === 'number' ? c.toLocaleString('en-US') : c);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i] ?? '').length)));
  const line = (r: readonly (string | number)[]): string => r.map((c, i) => (typeof c === 'number' ? text(c).padStart(widths[i]!) : text(c).padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
