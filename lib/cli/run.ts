import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { selectKey } from '../api/source';
import { kinesisClient, resolveEndpoint } from '../io/aws-clients';
import { isS3Url, S3InputError, S3Lines, s3Client } from '../io/s3-lines';
import { hashKeyOf } from '../io/shard-map';
import { mergeByArrival, StreamHistory, StreamHistoryError, type HistoryStart, type ShardEnd } from '../io/stream-history';
import { partitionKeyOf } from '../local/demo';
import { withNameSuffix } from '../plan/naming';
import type { Plan, Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import { Harness } from '../testing/harness';
import { parseArgs, stringFlag, UsageError, type ParsedArgs } from './args';
import { loadJob } from './load-job';
import { progressBar, Terminal } from './terminal';

/** Records per batch, as Lambda's event source mapping takes them by default. */
const BATCH = 500;

/**
 * `shardflow run JOB (--input FILE | --from-stream STREAM --at TIME) [--output DIR]`: runs a bounded input
 * through the job in this process, to completion — every source record, then the final watermark, which
 * fires every window and timer left — and writes what each sink received to DIR/<sink>.jsonl (a DynamoDB
 * sink: the items its table would hold). The input is JSON lines (a local file, an S3 object or every
 * object under an S3 prefix; a line that is not JSON is dead-lettered, as a live run would) or a Kinesis
 * stream's history from a moment up to when the command started. The same stages, state log (in memory)
 * and watermarks as a live run: a file's lines are routed to the source's shards by partition key as
 * Kinesis routes them, a stream's records stay on their shards (see {@link ShardReplay}), in batches of up
 * to 500; so on input whose disorder is within the source's bound, the results are a live run's.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const file = args.positionals[0];
  if (!file) throw new UsageError('run needs a job file: shardflow run examples/click-counts.ts --input events.jsonl');
  const plan = planJob(loadJob(file));
  const started = Date.now();
  const inputs = await asUsageError(inputsOf(plan, args, started));
  const outputDir = path.resolve(stringFlag(args, 'output') ?? 'run-output');
  const term = new Terminal(process.stderr);
  const progress = new Progress(inputs.reduce((n, i) => n + (i.totalBytes ?? 0), 0), started);
  const harness = new Harness(plan, { watermarks: 'strategy' });

  const feeds = new Map(inputs.map((input) => [input, input.history && input.stage.keyed === undefined ? new ShardReplay(harness, input.stage, input.history) : new KeyRouted(harness, input.stage)]));
  const take = async (input: RunInput, item: InputRecord | ShardEnd): Promise<void> => {
    const feed = feeds.get(input)!;
    if (item.kind === 'end') return feed.shardEnded(item.shardId);
    await feed.take(item);
    if (++progress.events % BATCH === 0) term.setStatus(progress.status());
  };
  await asUsageError(
    (async () => {
      for (const feed of feeds.values()) await feed.start();
      // Files one after another; then the streams together, merged by arrival as the sources were read live.
      for (const input of inputs.filter((i) => !i.history)) {
        for await (const item of input.records(progress)) await take(input, item);
      }
      const tagged = inputs
        .filter((i) => i.history)
        .map(async function* (input) {
          for await (const item of input.records(progress)) yield { arrivalMs: item.arrivalMs ?? 0, input, item };
        });
      for await (const { input, item } of mergeByArrival(tagged)) await take(input, item);
      for (const feed of feeds.values()) await feed.flush();
    })(),
  );
  await harness.finish();
  term.done();

  fs.mkdirSync(outputDir, { recursive: true });
  const written: string[] = [];
  for (const sink of plan.sinks) {
    const records = sink.kind === 'dynamodb' ? harness.table(sink.name) : harness.results(sink.name);
    writeLines(path.join(outputDir, `${sink.name}.jsonl`), records);
    written.push(`${sink.name}.jsonl (${records.length.toLocaleString()})`);
  }
  const dead = harness.deadLetters();
  writeLines(path.join(outputDir, 'dead-letters.jsonl'), dead);
  for (const line of progress.streamSummaries()) term.line(line);
  term.line(`ran ${progress.events.toLocaleString()} events through ${plan.job} in ${((Date.now() - started) / 1000).toFixed(1)} s (${progress.rate()}/s); ${harness.late().length.toLocaleString()} late, ${dead.length.toLocaleString()} dead-lettered`);
  term.line(`wrote ${written.join(', ')} and dead-letters.jsonl to ${outputDir}`);
  return 0;
}

/** One record of an input: its data; a stream's record also its shard, the key it was put with and when it arrived. */
interface InputRecord {
  readonly kind: 'record';
  readonly data: string;
  readonly shardId?: string;
  readonly partitionKey?: string;
  readonly arrivalMs?: number;
}

/** A source's bounded input: a local file, S3 objects, or a stream's history. */
interface RunInput {
  readonly stage: Stage;
  /** A stream's history: its shards and how they descend from each other. */
  readonly history?: StreamHistory;
  /** Bytes to read, when known (files and S3 objects), for the progress bar. */
  readonly totalBytes?: number;
  records(progress: Progress): AsyncIterable<InputRecord | ShardEnd>;
}

/** How an input's records reach the job's source shards, in batches of up to 500 as Lambda's event source mapping takes them. */
interface Feed {
  start(): Promise<void>;
  take(record: InputRecord): Promise<void>;
  shardEnded(shardId: string): Promise<void>;
  /** Sends what is left. */
  flush(): Promise<void>;
}

/**
 * Records routed to the source's planned shards by partition key, as Kinesis routes them: a file's lines,
 * and a stream's records into a source keyed by `partitionedBy` (its shards hold the keys' state, so a key
 * stays on one shard whatever reshards the history saw).
 */
class KeyRouted implements Feed {
  private readonly batches: string[][];

  constructor(
    private readonly harness: Harness,
    private readonly stage: Stage,
  ) {
    this.batches = Array.from({ length: stage.input.shards }, (): string[] => []);
  }

  async start(): Promise<void> {}

  async take(record: InputRecord): Promise<void> {
    // A line that is not JSON goes in as it is: the job dead-letters it with the reason, as a live run would.
    const shard = shardOf(this.stage, record);
    const batch = this.batches[shard]!;
    batch.push(record.data);
    if (batch.length === BATCH) await this.harness.sendRaw(batch.splice(0), `shard-${shard}`, this.stage.input.stream);
  }

  async shardEnded(): Promise<void> {}

  async flush(): Promise<void> {
    for (const [i, batch] of this.batches.entries()) if (batch.length > 0) await this.harness.sendRaw(batch.splice(0), `shard-${i}`, this.stage.input.stream);
  }
}

/**
 * A stream's history replayed as it ran live: each of its shards is a source shard of the job, with its own
 * watermark, and the stages after it hear what the watermark function's ticks told them — which shards
 * exist (a shard that has not spoken yet holds the watermark back) and which a reshard closed and are done.
 */
class ShardReplay implements Feed {
  private readonly batches = new Map<string, string[]>();

  constructor(
    private readonly harness: Harness,
    private readonly stage: Stage,
    private readonly history: StreamHistory,
  ) {}

  async start(): Promise<void> {
    await this.harness.tickSourceShards({ upstream: this.history.roots, ended: [] }, this.stage.input.stream);
  }

  async take(record: InputRecord): Promise<void> {
    const shardId = record.shardId!;
    let batch = this.batches.get(shardId);
    if (!batch) this.batches.set(shardId, (batch = []));
    batch.push(record.data);
    if (batch.length === BATCH) await this.send(shardId);
  }

  async shardEnded(shardId: string): Promise<void> {
    await this.send(shardId);
    await this.harness.tickSourceShards({ upstream: this.history.childrenOf(shardId), ended: [shardId] }, this.stage.input.stream);
  }

  async flush(): Promise<void> {
    for (const shardId of this.batches.keys()) await this.send(shardId);
    // The end of the bounded input: a shard with nothing in it (past `--until`) no longer holds the final watermark back.
    await this.harness.tickSourceShards({ upstream: [], ended: this.history.shards.map((s) => s.ShardId!) }, this.stage.input.stream);
  }

  private async send(shardId: string): Promise<void> {
    const batch = this.batches.get(shardId);
    if (batch?.length) await this.harness.sendRaw(batch.splice(0), shardId, this.stage.input.stream);
  }
}

/** What has been read: events, bytes of files, records per stream shard. */
class Progress {
  events = 0;
  private bytes = 0;
  private readonly streams = new Map<string, { label: string; perShard: Map<string, number> }>();

  constructor(
    private readonly totalBytes: number,
    private readonly startedMs: number,
  ) {}

  readBytes(n: number): void {
    this.bytes += n;
  }

  /** A stream being read (its label says from when to when): its shards, in ListShards' order. */
  addStream(stream: string, label: string, shardIds: readonly string[]): void {
    this.streams.set(stream, { label, perShard: new Map(shardIds.map((id) => [id, 0])) });
  }

  readFromShard(stream: string, shardId: string, records: number): void {
    const perShard = this.streams.get(stream)!.perShard;
    perShard.set(shardId, (perShard.get(shardId) ?? 0) + records);
  }

  status(): string {
    const bar = this.totalBytes > 0 && this.streams.size === 0 ? `${progressBar(this.bytes, this.totalBytes)} ` : '';
    const shards = [...this.streams].map(([stream, { perShard }]) => ` · ${stream}: ${shardCounts(perShard)}`).join('');
    return `${bar}${this.events.toLocaleString()} events · ${this.rate()}/s${shards}`;
  }

  /** A line per stream read: how many records, from which shards. */
  streamSummaries(): string[] {
    return [...this.streams].map(([stream, { label, perShard }]) => {
      const total = [...perShard.values()].reduce((a, b) => a + b, 0);
      return `read ${total.toLocaleString()} records of stream ${stream} ${label}: ${shardCounts(perShard)}`;
    });
  }

  rate(): string {
    return Math.round(this.events / Math.max(0.001, (Date.now() - this.startedMs) / 1000)).toLocaleString();
  }
}

/** `shardId-000000000002` → `shard 2`, with its count. */
const shardCounts = (perShard: ReadonlyMap<string, number>): string =>
  [...perShard].map(([id, n]) => `${/^shardId-0*(\d)/.test(id) ? `shard ${id.replace(/^shardId-0*(\d)/, '$1')}` : id} ${n.toLocaleString()}`).join(', ');

/**
 * The job's sources and where each one's input comes from: `--input` (a file or s3:// URL per source) and
 * `--from-stream` (a stream per source, read from `--at`); each source from one of them.
 */
async function inputsOf(plan: Plan, args: ParsedArgs, startedMs: number): Promise<RunInput[]> {
  const sources = plan.stages.filter((s) => s.input.kind === 'source');
  const names = sources.map((s) => s.input.stream).join(', ');
  const fileFlag = stringFlag(args, 'input');
  const streamFlag = stringFlag(args, 'from-stream');
  if (fileFlag === undefined && streamFlag === undefined) {
    const each = sources.length > 1 ? ` per source (${names}): --input ${sources.map((s) => `${s.input.stream}=FILE`).join(',')}` : '';
    throw new UsageError(`run needs --input: a JSON-lines file or s3:// URL${each}; or --from-stream STREAM --at TIME for a Kinesis stream's history`);
  }
  const given = [
    ...(fileFlag === undefined ? [] : fileFlag.split(',').map((part) => ({ flag: 'input', part }))),
    ...(streamFlag === undefined ? [] : streamFlag.split(',').map((part) => ({ flag: 'from-stream', part }))),
  ];
  const bySource = given.map(({ flag, part }) => {
    const at = part.indexOf('=');
    const named = at > 0 ? part.slice(0, at) : undefined;
    const value = at > 0 ? part.slice(at + 1) : part;
    // `--from-stream clicks` names the job's source: the stream it reads (its deployed name with --deployed).
    const implicit = flag === 'from-stream' && named === undefined ? sources.find((s) => s.input.stream === value) : undefined;
    const stage = implicit ?? (named === undefined ? (sources.length === 1 ? sources[0] : undefined) : sources.find((s) => s.input.stream === named));
    if (!stage) {
      throw new UsageError(
        named === undefined ? `the job reads ${sources.length} sources (${names}): name each ${flag === 'input' ? 'file' : 'stream'}'s, --${flag} ${sources.map((s) => `${s.input.stream}=${flag === 'input' ? 'FILE' : 'STREAM'}`).join(',')}` : `--${flag} ${part}: the job has no source stream '${named}' (it reads ${names})`,
      );
    }
    return { flag, stage, value: implicit ? undefined : value };
  });
  for (const source of sources) {
    if (bySource.filter((b) => b.stage === source).length > 1) throw new UsageError(`source ${source.input.stream} is given more than one input: give each source one, with --input or --from-stream`);
  }
  const streams = bySource.filter((b) => b.flag === 'from-stream');
  const history = streams.length > 0 ? historyOptions(args, startedMs) : undefined;
  const inputs: RunInput[] = [];
  for (const { flag, stage, value } of bySource) {
    if (flag === 'input') inputs.push(await fileInput(stage, value!, args));
    else inputs.push(await streamInput(plan, stage, value, args, history!));
  }
  return inputs;
}

async function fileInput(stage: Stage, file: string, args: ParsedArgs): Promise<RunInput> {
  if (isS3Url(file)) {
    const s3 = s3Client(stringFlag(args, 's3-endpoint'));
    const objects = await S3Lines.open(s3, file).catch((e: unknown) => {
      s3.destroy();
      throw e;
    });
    return { stage, totalBytes: objects.totalBytes, records: (progress) => linesOf(objects.lines(), progress, () => s3.destroy()) };
  }
  if (!fs.existsSync(file)) throw new UsageError(`${file}: no such file`);
  return { stage, totalBytes: fs.statSync(file).size, records: (progress) => linesOf(readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity }), progress) };
}

/** The non-blank lines of a file or S3 objects, counting their bytes. */
async function* linesOf(lines: AsyncIterable<string>, progress: Progress, done?: () => void): AsyncGenerator<InputRecord> {
  try {
    for await (const line of lines) {
      progress.readBytes(Buffer.byteLength(line) + 1);
      if (line.trim()) yield { kind: 'record', data: line };
    }
  } finally {
    done?.();
  }
}

interface HistoryFlags {
  readonly from: HistoryStart;
  readonly untilMs: number;
  readonly deployed: string | undefined;
  readonly endpoint: string | undefined;
}

/** `--at`, `--until`, and where the streams are: `shardflow dev`'s edge, `--endpoint`, or AWS with `--deployed`. */
function historyOptions(args: ParsedArgs, startedMs: number): HistoryFlags {
  const atFlag = stringFlag(args, 'at');
  if (atFlag === undefined) throw new UsageError('--from-stream needs --at: where to start — an ISO-8601 time (2026-11-30T12:00:00Z), epoch milliseconds, or TRIM_HORIZON for all the stream keeps');
  const from: HistoryStart = atFlag.toUpperCase() === 'TRIM_HORIZON' ? { kind: 'trim-horizon' } : { kind: 'at-timestamp', ms: momentOf('at', atFlag) };
  const untilFlag = stringFlag(args, 'until');
  const untilMs = untilFlag === undefined ? startedMs : momentOf('until', untilFlag);
  if (from.kind === 'at-timestamp' && from.ms > startedMs) throw new UsageError(`--at ${atFlag} is in the future: a backfill reads what has arrived already`);
  if (from.kind === 'at-timestamp' && untilMs <= from.ms) throw new UsageError(`--until ${untilFlag}: it must come after --at ${atFlag}`);
  const deployed = stringFlag(args, 'deployed');
  const endpoint = deployed === undefined ? (resolveEndpoint(stringFlag(args, 'endpoint')) ?? 'http://localhost:4566') : resolveEndpoint(stringFlag(args, 'endpoint'));
  return { from, untilMs: Math.min(untilMs, startedMs), deployed, endpoint };
}

/** An ISO-8601 time or epoch milliseconds, as epoch ms. */
function momentOf(flag: string, raw: string): number {
  const ms = /^\d+$/.test(raw) ? Number(raw) : /^\d{4}-\d\d-\d\d/.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`--${flag} ${raw}: expected an ISO-8601 time (2026-11-30T12:00:00Z) or epoch milliseconds${flag === 'at' ? ', or TRIM_HORIZON' : ''}`);
  return ms;
}

/** A source's stream history: its records as they were put, checked and listed before anything runs. */
async function streamInput(plan: Plan, stage: Stage, named: string | undefined, args: ParsedArgs, flags: HistoryFlags): Promise<RunInput> {
  // A source named alone: the stream it reads, under its deployed name with --deployed STAGE.
  const deployedPlan = withNameSuffix(plan, flags.deployed === undefined || flags.deployed === 'local' ? '' : `-${flags.deployed}`);
  const stream = named ?? deployedPlan.stages.find((s) => s.id === stage.id)!.input.stream;
  const kinesis = kinesisClient({ ...(flags.endpoint !== undefined && { endpoint: flags.endpoint }) });
  let progress: Progress | undefined;
  const history = await StreamHistory.open(kinesis, stream, {
    from: flags.from,
    untilMs: flags.untilMs,
    where: flags.endpoint ?? 'AWS',
    onPage: (shardId, records) => progress?.readFromShard(stream, shardId, records),
  }).catch((e: unknown) => {
    kinesis.destroy();
    throw e;
  });
  const label = `from ${flags.from.kind === 'trim-horizon' ? 'TRIM_HORIZON' : new Date(flags.from.ms).toISOString()} to ${new Date(flags.untilMs).toISOString()}`;
  return {
    stage,
    history,
    records: async function* (p) {
      progress = p;
      p.addStream(stream, label, history.shards.map((s) => s.ShardId!));
      try {
        for await (const r of history.records()) {
          yield r.kind === 'end' ? r : { kind: 'record', data: Buffer.from(r.data).toString('utf8'), shardId: r.shardId, partitionKey: r.partitionKey, arrivalMs: r.arrivalMs };
        }
      } finally {
        kinesis.destroy();
      }
    },
  };
}

/**
 * The source shard Kinesis would route a record to: by its partition key's MD5, over equal hash ranges. A
 * stream's record has the key it was put with; a file's line, the source's `partitionedBy` key, else the
 * producer's (`userId`).
 */
function shardOf(stage: Stage, record: InputRecord): number {
  const shards = stage.input.shards;
  if (shards === 1 || stage.input.kind !== 'source') return 0;
  const declared = stage.input.source.options.partitionedBy;
  let key = record.partitionKey;
  if (key === undefined) {
    try {
      const event: unknown = JSON.parse(record.data);
      key = declared === undefined ? partitionKeyOf(event) : selectKey(declared, event);
    } catch {
      key = String(record.data.length % 97);
    }
  }
  return Number((hashKeyOf(key) * BigInt(shards)) >> 128n);
}

/** What is wrong with an input (a stream or S3 object that is not there, …) as the one line a user's mistake gets. */
async function asUsageError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    throw e instanceof StreamHistoryError || e instanceof S3InputError ? new UsageError(e.message) : e;
  }
}

function writeLines(file: string, records: readonly unknown[]): void {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : ''));
}
