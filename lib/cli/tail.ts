import { dynamoClient } from '../io/aws-clients';
import { formatResult, ResultsWatcher } from '../local/results-watcher';
import { intFlag, parseArgs, stringFlag, UsageError } from './args';

/**
 * `shardflow tail TABLE [--endpoint URL] [--every MS] [--once]`: prints a results table's items as they
 * appear or change (a late firing updates an item in place).
 */
export async function tail(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['once']);
  const table = args.positionals[0];
  if (!table) throw new UsageError('tail needs a results table: shardflow tail click-counts');
  const endpoint = stringFlag(args, 'endpoint') ?? process.env.SHARDFLOW_ENDPOINT_URL ?? process.env.AWS_ENDPOINT_URL ?? 'http://localhost:4566';
  const every = intFlag(args, 'every', 1000, 3_600_000);
  const ddb = dynamoClient({ endpoint });
  const watcher = new ResultsWatcher(ddb, table);
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  try {
    do {
      for (const item of await watcher.poll()) console.log(formatResult(table, item));
      if (args.flags.get('once') === true) break;
      await new Promise((r) => setTimeout(r, every));
    } while (!stop);
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === 'ResourceNotFoundException') throw new UsageError(`no table '${table}' at ${endpoint} — is \`shardflow dev\` running, and is that a dynamoSink table?`);
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String((e as Error).message))) throw new UsageError(`nothing answers at ${endpoint} — start \`shardflow dev JOB\` first, or pass --endpoint`);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    ddb.destroy();
  }
  return 0;
}
