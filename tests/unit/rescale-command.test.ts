/**
 * `shardflow rescale`'s checks before it touches the stream (Kinesis' own limits, stages that cannot be
 * rescaled) and what it asks Kinesis for, over a scripted client. The real thing, on the embedded
 * runtime: tests/e2e/rescale.test.ts.
 */
import { DescribeStreamSummaryCommand, ListShardsCommand, UpdateShardCountCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import * as path from 'node:path';
import { UsageError } from '../../lib/cli/args';
import { rescale } from '../../lib/cli/rescale';

const HOT_ITEMS = path.resolve(__dirname, '../../examples/hot-items.ts');
const WINDOW_ALL = path.resolve(__dirname, '../fixtures/window-all-clicks.ts');

/** A stream of `open` shards that UpdateShardCount changes at once, and the calls it got. */
function scriptedKinesis(open: number, mode: 'PROVISIONED' | 'ON_DEMAND' = 'PROVISIONED') {
  const calls: unknown[] = [];
  let shards = open;
  const client = {
    send: async (command: unknown) => {
      calls.push(command);
      if (command instanceof DescribeStreamSummaryCommand) return { StreamDescriptionSummary: { OpenShardCount: shards, StreamStatus: 'ACTIVE', StreamModeDetails: { StreamMode: mode } } };
      if (command instanceof UpdateShardCountCommand) return void (shards = command.input.TargetShardCount!);
      if (command instanceof ListShardsCommand) return { Shards: Array.from({ length: shards }, (_, i) => ({ ShardId: `shardId-${i}`, SequenceNumberRange: { StartingSequenceNumber: '1' } })) };
      throw new Error(`unexpected ${(command as object).constructor.name}`);
    },
    destroy: () => {},
  } as unknown as KinesisClient;
  return { client, calls };
}

async function usageErrorOf(args: string[], open = 4): Promise<string> {
  const { client } = scriptedKinesis(open);
  try {
    await rescale(args, () => {}, () => client);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error('rescale did not refuse');
}

test('UpdateShardCount at most doubles or halves: rescale names the step to take first', async () => {
  expect(await usageErrorOf([HOT_ITEMS, '--stage', 's1', '--shards', '9'])).toBe('--shards 9: Kinesis rescales hot-items-s1 from 4 shard(s) to at most double and at least half in one step — go to 8 first, then on');
  expect(await usageErrorOf([HOT_ITEMS, '--stage', 's1', '--shards', '1'])).toMatch(/go to 2 first/);
  expect(await usageErrorOf([HOT_ITEMS, '--stage', 's1', '--shards', '0'])).toMatch(/^--shards 0: use a whole number from 1 to 500/);
  expect(await usageErrorOf([HOT_ITEMS, '--stage', 's9', '--shards', '2'])).toBe("--stage s9: job 'hot-items' has stages s0, s1, s2");
});

test("a windowAll stage keeps its one shard; an on-demand stream scales by itself", async () => {
  expect(await usageErrorOf([WINDOW_ALL, '--stage', 's2', '--shards', '2'], 1)).toMatch(/^s2 is a windowAll/);
  const { client } = scriptedKinesis(2, 'ON_DEMAND');
  await expect(rescale([HOT_ITEMS, '--stage', 's1', '--shards', '4'], () => {}, () => client)).rejects.toThrow(/on-demand mode/);
});

test('it asks for UNIFORM_SCALING to the count given, waits for the stream, and says what to change in the job', async () => {
  const { client, calls } = scriptedKinesis(2);
  const lines: string[] = [];
  expect(await rescale([HOT_ITEMS, '--stage', 's1', '--shards', '4'], (l) => lines.push(l), () => client)).toBe(0);
  expect(calls.filter((c) => c instanceof UpdateShardCountCommand).map((c) => (c as UpdateShardCountCommand).input)).toEqual([{ StreamName: 'hot-items-s1', TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }]);
  expect(lines[0]).toBe('s1: stream hot-items-s1 from 2 to 4 shard(s): shardId-0, shardId-1, shardId-2, shardId-3');
  expect(lines[1]).toMatch(/change the job's \.parallelism\(n\) to 4 too/);
  const same = scriptedKinesis(4);
  const said: string[] = [];
  await rescale([HOT_ITEMS, '--stage', 's1', '--shards', '4'], (l) => said.push(l), () => same.client);
  expect(said).toEqual(['s1: stream hot-items-s1 has 4 shard(s) already']);
  expect(same.calls.some((c) => c instanceof UpdateShardCountCommand)).toBe(false);
});

test('`shardflow scale` is `rescale` (the issue\'s name for it): the same usage, the same refusal', async () => {
  const { main } = await import('../../lib/cli/main');
  const errors: string[] = [];
  const spy = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  try {
    expect(await main(['scale', HOT_ITEMS, '--stage', 's1'])).toBe(2);
  } finally {
    spy.mockRestore();
  }
  expect(errors.join('\n')).toContain('rescale needs a job, a stage and a shard count');
});
