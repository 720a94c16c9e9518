/**
 * The KinesisWriter against kinesis-local behind the edge, whose intercept plays a stream that refuses
 * records (PutRecords answered with every entry throttled, as Kinesis does for a hot shard).
 */
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../lib/io/aws-clients';
import { KinesisWriter, type Chain } from '../../lib/io/kinesis-writer';
import { startEdge, type Edge, type EdgeCall } from '../../lib/local/edge';
import { startDynamo, startKinesis, type Emulator } from '../../lib/local/emulators';
import { freePort } from '../../lib/local/free-port';
import { createStream } from '../../lib/local/resources';

let emulators: Emulator[] = [];
let edge: Edge | undefined;
let kinesis: KinesisClient;
/** While set, PutRecords calls are answered with this many entries, each refused as throttled. */
let refuse: { calls: number; entries: number } | undefined;

const throttledPut = (call: EdgeCall): { status: number; body: object } | undefined => {
  if (!refuse || call.operation !== 'PutRecords' || refuse.calls === 0) return undefined;
  refuse.calls -= 1;
  const entry = { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000 (injected by the test)' };
  return { status: 200, body: { FailedRecordCount: refuse.entries, Records: Array.from({ length: refuse.entries }, () => entry) } };
};

beforeAll(async () => {
  const [k, d] = (emulators = await Promise.all([startKinesis(), startDynamo()]));
  edge = await startEdge({ port: await freePort(), kinesis: k!.endpoint, dynamodb: d!.endpoint, intercept: throttledPut });
  kinesis = kinesisClient({ endpoint: edge.url });
}, 60_000);

afterEach(() => {
  refuse = undefined;
});

afterAll(async () => {
  kinesis?.destroy();
  await edge?.close();
  await Promise.all(emulators.map((e) => e.stop()));
});

async function readStream(stream: string): Promise<string[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const out: string[] = [];
  for (const shard of Shards) {
    const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    out.push(...Records.map((r) => Buffer.from(r.Data!).toString('utf8')));
  }
  return out;
}

/** `chains` chains of `length` entries each, named `c{chain}.{entry}`, all on one partition key. */
const chains = (count: number, length: number): Chain[] =>
  Array.from({ length: count }, (_c, c) => Array.from({ length }, (_e, e) => ({ partitionKey: 'k', data: Buffer.from(`c${c}.${e}`) })));

/** A writer whose backoff is recorded, not waited for. */
const writer = (stream: string): { writer: KinesisWriter; sleeps: number[] } => {
  const sleeps: number[] = [];
  return { writer: new KinesisWriter(kinesis, stream, async (ms) => void sleeps.push(ms)), sleeps };
};

test('a chain of 13 records with no throttling at all lands, in order, without a single backoff', async () => {
  await createStream(kinesis, 'long-chain', 1);
  const { writer: w, sleeps } = writer('long-chain');
  await w.put(chains(1, 13));
  expect(await readStream('long-chain')).toEqual(chains(1, 13)[0]!.map((e) => Buffer.from(e.data).toString('utf8')));
  expect(sleeps).toEqual([]);
  expect(w.counters).toMatchObject({ calls: 13, records: 13, throttled: 0 });
});

test('throttled entries are sent again after a backoff until they land, each once and every chain in order', async () => {
  await createStream(kinesis, 'throttled-then-not', 1);
  const { writer: w, sleeps } = writer('throttled-then-not');
  refuse = { calls: 3, entries: 4 }; // every call carries one entry of each of the 4 chains
  await w.put(chains(4, 2));
  const landed = await readStream('throttled-then-not');
  expect([...landed].sort()).toEqual(['c0.0', 'c0.1', 'c1.0', 'c1.1', 'c2.0', 'c2.1', 'c3.0', 'c3.1']);
  for (let c = 0; c < 4; c++) expect(landed.indexOf(`c${c}.0`)).toBeLessThan(landed.indexOf(`c${c}.1`));
  expect(w.counters).toMatchObject({ calls: 5, records: 8, throttled: 12 });
  // Three refused rounds in a row: three backoffs, each within its jittered exponential bound.
  expect(sleeps).toHaveLength(3);
  sleeps.forEach((ms, i) => {
    expect(ms).toBeGreaterThanOrEqual(25 * 2 ** i);
    expect(ms).toBeLessThanOrEqual(50 * 2 ** i);
  });
});

test('a stream that refuses every record: the writer gives up after its round limit, naming the stream, the records and the error codes', async () => {
  await createStream(kinesis, 'always-throttled', 1);
  const { writer: w, sleeps } = writer('always-throttled');
  refuse = { calls: Number.POSITIVE_INFINITY, entries: 3 };
  await expect(w.put(chains(3, 1))).rejects.toThrow(
    /^Kinesis stream always-throttled refused all 3 pending records in 12 rounds in a row \(last errors: ProvisionedThroughputExceededException ×3\)/,
  );
  expect(w.counters).toMatchObject({ calls: 12, records: 0, throttled: 36 });
  expect(sleeps).toHaveLength(11);
  expect(await readStream('always-throttled')).toEqual([]);
});
