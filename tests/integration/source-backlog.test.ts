/**
 * The watermark function's question to a source shard, against a real Kinesis emulator: does it hold records
 * after a position? A keyed shard takes a silent source stage's shard for idle only when it does not (a
 * stalled reader is not a quiet shard: chaos join 6009), so a wrong "no" makes a backlog late and a wrong
 * "yes" holds the watermark for good.
 */
import { CreateStreamCommand, ListShardsCommand, PutRecordCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../lib/io/aws-clients';
import { sourceBacklogOf, type SourceBacklog } from '../../lib/io/source-backlog';
import { startKinesis, type Emulator } from '../../lib/local/emulators';
import { waitForActive } from './kinesis-bulk';

let emulator: Emulator;
let kinesis: KinesisClient;
let backlog: SourceBacklog;

beforeAll(async () => {
  emulator = await startKinesis();
  kinesis = kinesisClient({ endpoint: emulator.endpoint });
  backlog = sourceBacklogOf(kinesis);
}, 120_000);
afterAll(async () => {
  kinesis?.destroy();
  await emulator?.stop();
});

const put = async (stream: string, data: string): Promise<string> => (await kinesis.send(new PutRecordCommand({ StreamName: stream, PartitionKey: 'k', Data: Buffer.from(data) }))).SequenceNumber!;

test('an empty shard holds nothing; one with records holds them after each but the last', async () => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'backlog', ShardCount: 1 }));
  await waitForActive(kinesis, 'backlog');
  const shard = 'shardId-000000000000';
  expect(await backlog('backlog', shard, '')).toBe(false);
  const first = await put('backlog', 'one');
  const second = await put('backlog', 'two');
  expect(await backlog('backlog', shard, '')).toBe(true);
  expect(await backlog('backlog', shard, first)).toBe(true);
  expect(await backlog('backlog', shard, second)).toBe(false);
});

test('a shard a split closed is read to its end after its last record; a shard that does not exist holds nothing', async () => {
  await kinesis.send(new CreateStreamCommand({ StreamName: 'closing', ShardCount: 1 }));
  await waitForActive(kinesis, 'closing');
  const parent = 'shardId-000000000000';
  const last = await put('closing', 'before the split');
  await kinesis.send(new SplitShardCommand({ StreamName: 'closing', ShardToSplit: parent, NewStartingHashKey: (2n ** 127n).toString() }));
  await waitForActive(kinesis, 'closing');
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: 'closing' }));
  expect(Shards!.find((s) => s.ShardId === parent)?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
  expect(await backlog('closing', parent, last)).toBe(false);
  expect(await backlog('closing', 'shardId-000000000009', '')).toBe(false);
});
