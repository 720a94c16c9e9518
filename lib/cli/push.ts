import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { kinesisClient } from '../io/aws-clients';
import { demoClicks, partitionKeyOf, putEvents } from '../local/demo';
import { intFlag, parseArgs, stringFlag, UsageError } from './args';
import { progressBar, Terminal } from './terminal';

/**
 * `shardflow push STREAM (--file events.jsonl | --demo clicks [--rate N] [--count N]) [--endpoint URL]`:
 * puts JSON events on a stream (default endpoint: the local edge), with a progress bar.
 */
export async function push(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const stream = args.positionals[0];
  if (!stream) throw new UsageError('push needs a stream: shardflow push clicks --demo clicks --count 1000');
  const endpoint = stringFlag(args, 'endpoint') ?? process.env.SHARDFLOW_ENDPOINT_URL ?? process.env.AWS_ENDPOINT_URL ?? 'http://localhost:4566';
  const file = stringFlag(args, 'file');
  const demo = stringFlag(args, 'demo');
  if ((file === undefined) === (demo === undefined)) throw new UsageError('push needs exactly one of --file events.jsonl or --demo clicks');
  if (demo !== undefined && demo !== 'clicks') throw new UsageError(`--demo ${demo}: the demo stream is 'clicks'`);
  const kinesis = kinesisClient({ endpoint });
  const term = new Terminal(process.stderr);
  const started = Date.now();
  let sent = 0;
  const show = (total: number): void => term.setStatus(`${progressBar(sent, total)} ${sent.toLocaleString()}/${total.toLocaleString()} events · ${Math.round(sent / Math.max(0.001, (Date.now() - started) / 1000)).toLocaleString()}/s`, 0);
  try {
    if (file !== undefined) {
      if (!fs.existsSync(file)) throw new UsageError(`${file}: no such file`);
      const total = (fs.readFileSync(file, 'utf8').match(/\n(?!$)/g)?.length ?? 0) + 1;
      let batch: unknown[] = [];
      let lineNo = 0;
      for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) {
        lineNo++;
        if (!line.trim()) continue;
        try {
          batch.push(JSON.parse(line));
        } catch (e) {
          throw new UsageError(`${file}:${lineNo}: not JSON (${(e as Error).message}) — one JSON event per line`);
        }
        if (batch.length === 500) {
          sent += await putEvents(kinesis, stream, batch, partitionKeyOf);
          batch = [];
          show(total);
        }
      }
      sent += await putEvents(kinesis, stream, batch, partitionKeyOf);
      show(sent);
    } else {
      const rate = intFlag(args, 'rate', 100, 1_000_000);
      const count = intFlag(args, 'count', 1000, 100_000_000);
      const next = demoClicks({ seed: Date.now() });
      while (sent < count) {
        const tickStart = Date.now();
        const n = Math.min(count - sent, Math.max(1, Math.round(rate / 10)));
        sent += await putEvents(kinesis, stream, Array.from({ length: n }, next), partitionKeyOf);
        show(count);
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tickStart))));
      }
    }
  } finally {
    kinesis.destroy();
  }
  term.done();
  term.line(`pushed ${sent.toLocaleString()} events to ${stream} at ${endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}
