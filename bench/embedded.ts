/**
 * The embedded runtime (`shardflow dev`) as a benchmark subject: started fresh per run (new emulators,
 * so fresh streams: kinesis-local slows down as a shard fills), every AWS call counted at the edge, a
 * producer of live click events, and the figures the runtime keeps (records per stage, iterator age,
 * invocations, handler durations).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EdgeCall } from '../lib/local/edge';
import { DevRuntime } from '../lib/local/dev-runtime';
import { partitionKeyOf, putEvents } from '../lib/local/demo';
import { freePort } from '../lib/local/free-port';
import { rng, zipf, type Click } from './workload';

/** Calls by operation, counted at the edge (what AWS would meter, and what it would not: GetRecords…). */
export class CallCounter {
  readonly calls = new Map<string, { count: number; bytes: number }>();
  readonly onCall = (call: EdgeCall): void => {
    const key = `${call.service}:${call.operation}`;
    const c = this.calls.get(key) ?? { count: 0, bytes: 0 };
    c.count += 1;
    c.bytes += call.bytes;
    this.calls.set(key, c);
  };

  snapshot(): Record<string, { count: number; bytes: number }> {
    return Object.fromEntries([...this.calls].map(([k, v]) => [k, { ...v }]));
  }

  /** Calls since `before` (a snapshot). */
  since(before: Record<string, { count: number; bytes: number }>): Record<string, { count: number; bytes: number }> {
    const out: Record<string, { count: number; bytes: number }> = {};
    for (const [k, v] of this.calls) {
      const b = before[k] ?? { count: 0, bytes: 0 };
      if (v.count > b.count) out[k] = { count: v.count - b.count, bytes: v.bytes - b.bytes };
    }
    return out;
  }
}

/** The benchmark job with `shards` source shards (bench/jobs/click-counts-N.ts). */
export const jobFileFor = (shards: number): string => path.join(__dirname, 'jobs', `click-counts-${shards}.ts`);

export async function startEmbedded(shards: number, counter = new CallCounter()): Promise<{ runtime: DevRuntime; counter: CallCounter }> {
  const runtime = await DevRuntime.start({ jobFile: jobFileFor(shards), port: await freePort(), edge: { onCall: counter.onCall } });
  return { runtime, counter };
}

/** Per stage: invocations and records the event source mapping delivered (private parts of the runtime, read for figures only). */
export function mappingFigures(runtime: DevRuntime): { stage: string; invocations: number; records: number; iteratorAgeMs: number }[] {
  const mappings = (runtime as unknown as { mappings: { stats(): { shards: { invocations: number; recordsDelivered: number; iteratorAgeMs: number }[] } }[] }).mappings;
  return runtime.plan.stages.map((stage, i) => {
    const shards = mappings[i]?.stats().shards ?? [];
    return {
      stage: stage.id,
      invocations: shards.reduce((n, s) => n + s.invocations, 0),
      records: shards.reduce((n, s) => n + s.recordsDelivered, 0),
      iteratorAgeMs: Math.max(0, ...shards.map((s) => s.iteratorAgeMs)),
    };
  });
}

/** Per function (stage functions, then the watermark function): invocations, cold starts and the last 100 handler durations. */
export function functionFigures(runtime: DevRuntime): { invocations: number; coldStarts: number; durationsMs: readonly number[] }[] {
  const hosts = (runtime as unknown as { hosts: { stats(): { invocations: number; coldStarts: number; durationsMs: readonly number[] } }[] }).hosts;
  return hosts.map((h) => h.stats());
}

/** Live clicks: Zipf users, event time = now minus up to a second of disorder (within the job's 2 s). */
export function liveClicks(seed: number, users = 1000): () => Click {
  const random = rng(seed);
  const user = zipf(users, 1.0, random);
  return () => ({ userId: `user-${user()}`, clicks: 1 + Math.floor(random() * 5), ts: Date.now() - Math.floor(random() * 1000) });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(what: string, ready: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<number> {
  const started = Date.now();
  while (!(await ready())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
  return Date.now() - started;
}

/** Puts events on the source stream: as fast as it can, or at a rate. Every event it made is remembered (for latency). */
export class Producer {
  put = 0;
  /** PutRecords calls made (to tell the producer's calls from the job's at the edge). */
  calls = 0;
  readonly made: Click[] = [];
  private readonly next: () => Click;

  constructor(
    private readonly runtime: DevRuntime,
    seed: number,
    private readonly remember = false,
    users = 1000,
  ) {
    this.next = liveClicks(seed, users);
  }

  private get stream(): string {
    return this.runtime.plan.stages[0]!.input.stream;
  }

  private async putBatch(n: number): Promise<void> {
    const events = Array.from({ length: n }, () => this.next());
    if (this.remember) this.made.push(...events);
    this.calls += Math.ceil(n / 500);
    this.put += await putEvents(this.runtime.kinesis, this.stream, events, partitionKeyOf);
  }

  /** `count` events in calls of 500, `concurrency` calls at a time. */
  async asFastAsPossible(count: number, concurrency = 2): Promise<void> {
    let left = count;
    const lane = async (): Promise<void> => {
      while (left > 0) {
        const n = Math.min(500, left);
        left -= n;
        await this.putBatch(n);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }

  /** `ratePerSec` for `durationMs`, in small calls every 100 ms; the rate achieved can fall short if puts are slow. */
  async atRate(ratePerSec: number, durationMs: number, stop: () => boolean = () => false): Promise<void> {
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < durationMs && !stop()) {
      const due = Math.floor((ratePerSec * (Date.now() - started)) / 1000) - sent;
      if (due > 0) {
        const n = Math.min(due, 500);
        sent += n;
        await this.putBatch(n);
      }
      await sleep(100);
    }
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 if it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100;

/**
 * CPU seconds used so far by each part of the embedded runtime: the Kinesis emulator, the DynamoDB
 * emulator, the stage functions' workers, the watermark function's worker, and this process (the edge,
 * the event source mapping's pollers and the producer). Workers that exited are not counted.
 */
export function cpuByPart(runtime: DevRuntime): Record<string, number> {
  const inner = runtime as unknown as { emulators: { name: string; pid: number }[]; hosts: { pids(): number[] }[] };
  const hosts = inner.hosts;
  const own = process.cpuUsage();
  return {
    kinesisEmulator: inner.emulators.filter((e) => e.name === 'kinesis').reduce((n, e) => n + cpuSeconds(e.pid), 0),
    dynamoEmulator: inner.emulators.filter((e) => e.name === 'dynamodb').reduce((n, e) => n + cpuSeconds(e.pid), 0),
    stageWorkers: hosts.slice(0, -1).reduce((n, h) => n + h.pids().reduce((m, pid) => m + cpuSeconds(pid), 0), 0),
    watermarkWorker: (hosts[hosts.length - 1]?.pids() ?? []).reduce((m, pid) => m + cpuSeconds(pid), 0),
    runtimeProcess: (own.user + own.system) / 1e6,
  };
}

/** CPU seconds per part between two {@link cpuByPart} readings. */
export const cpuSince = (before: Record<string, number>, after: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Math.round((v - (before[k] ?? 0)) * 1000) / 1000]));
