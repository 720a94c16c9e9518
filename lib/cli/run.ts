import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { selectKey } from '../api/source';
import { hashKeyOf } from '../io/shard-map';
import { partitionKeyOf } from '../local/demo';
import type { Plan, Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import { Harness } from '../testing/harness';
import { parseArgs, stringFlag, UsageError } from './args';
import { loadJob } from './load-job';
import { progressBar, Terminal } from './terminal';

/** Records per batch, as Lambda's event source mapping takes them by default. */
const BATCH = 500;

/**
 * `shardflow run JOB --input events.jsonl [--output DIR]`: runs a bounded input through the job in this
 * process, to completion (a line that is not JSON is dead-lettered, as a live run would) — every source record, then the final watermark, which fires every window and
 * timer left — and writes what each sink received to DIR/<sink>.jsonl (a DynamoDB sink: the items its
 * table would hold). The same stages, state log (in memory) and watermarks as a live run: records are
 * routed to the source's shards by partition key as Kinesis routes them, read in batches of 500, the
 * shards in turn; so on input whose disorder is within the source's bound, the results are a live run's.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const file = args.positionals[0];
  if (!file) throw new UsageError('run needs a job file: shardflow run examples/click-counts.ts --input events.jsonl');
  const plan = planJob(loadJob(file));
  const inputs = inputsOf(plan, stringFlag(args, 'input'));
  const outputDir = path.resolve(stringFlag(args, 'output') ?? 'run-output');
  const term = new Terminal(process.stderr);
  const started = Date.now();
  const total = inputs.reduce((n, i) => n + countLines(i.file), 0);
  let read = 0;
  const harness = new Harness(plan, { watermarks: 'strategy' });
  const show = (): void => term.setStatus(`${progressBar(read, total)} ${read.toLocaleString()}/${total.toLocaleString()} events · ${rate(read, started)}/s`);

  // Each input's shards fill up to a batch; the fullest goes first, as concurrent shards would keep pace.
  const pending = inputs.map((input) => ({ input, shards: Array.from({ length: input.stage.input.shards }, (): string[] => []) }));
  const sendFull = async (force: boolean): Promise<void> => {
    for (const { input, shards } of pending) {
      for (const [i, batch] of shards.entries()) {
        if (batch.length === 0 || (!force && batch.length < BATCH)) continue;
        await harness.sendRaw(batch.splice(0), `shard-${i}`, input.stage.input.stream);
      }
    }
  };
  for (const { input, shards } of pending) {
    for await (const line of readline.createInterface({ input: fs.createReadStream(input.file) })) {
      if (!line.trim()) continue;
      // A line that is not JSON goes in as it is: the job dead-letters it with the reason, as a live run would.
      shards[shardOf(input.stage, line)]!.push(line);
      read++;
      if (read % BATCH === 0) {
        await sendFull(false);
        show();
      }
    }
  }
  await sendFull(true);
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
  term.line(`ran ${read.toLocaleString()} events through ${plan.job} in ${((Date.now() - started) / 1000).toFixed(1)} s (${rate(read, started)}/s); ${harness.late().length.toLocaleString()} late, ${dead.length.toLocaleString()} dead-lettered`);
  term.line(`wrote ${written.join(', ')} and dead-letters.jsonl to ${outputDir}`);
  return 0;
}

interface Input {
  readonly stage: Stage;
  readonly file: string;
}

/** `--input FILE` for a job with one source; `--input STREAM=FILE,STREAM=FILE` names each source's file. */
function inputsOf(plan: Plan, flag: string | undefined): Input[] {
  const sources = plan.stages.filter((s) => s.input.kind === 'source');
  const names = sources.map((s) => s.input.stream).join(', ');
  if (!flag) throw new UsageError(`run needs --input: a JSON-lines file${sources.length > 1 ? ` per source (${names}): --input ${sources.map((s) => `${s.input.stream}=FILE`).join(',')}` : ''}`);
  const parts = flag.split(',');
  const inputs = parts.map((part): Input => {
    const at = part.indexOf('=');
    const stream = at > 0 ? part.slice(0, at) : undefined;
    const file = at > 0 ? part.slice(at + 1) : part;
    const stage = stream === undefined ? (sources.length === 1 ? sources[0] : undefined) : sources.find((s) => s.input.stream === stream);
    if (!stage) throw new UsageError(stream === undefined ? `the job reads ${sources.length} sources (${names}): name each file's, --input ${sources.map((s) => `${s.input.stream}=FILE`).join(',')}` : `--input ${part}: the job has no source stream '${stream}' (it reads ${names})`);
    if (!fs.existsSync(file)) throw new UsageError(`${file}: no such file`);
    return { stage, file };
  });
  return inputs;
}

/** The source shard Kinesis would route a record to: by its partition key's MD5, over equal hash ranges. */
function shardOf(stage: Stage, line: string): number {
  const shards = stage.input.shards;
  if (shards === 1 || stage.input.kind !== 'source') return 0;
  const declared = stage.input.source.options.partitionedBy;
  let key: string;
  try {
    const event: unknown = JSON.parse(line);
    key = declared === undefined ? partitionKeyOf(event) : selectKey(declared, event);
  } catch {
    key = String(line.length % 97);
  }
  return Number((hashKeyOf(key) * BigInt(shards)) >> 128n);
}

const countLines = (file: string): number => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).length;
const rate = (n: number, startedMs: number): string => Math.round(n / Math.max(0.001, (Date.now() - startedMs) / 1000)).toLocaleString();

function writeLines(file: string, records: readonly unknown[]): void {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : ''));
}
