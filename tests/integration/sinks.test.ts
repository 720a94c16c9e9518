/**
 * The SinkWriter against the real emulators: result versions (a result never goes back to an older
 * firing) and dead-letter ids (one item per failure).
 */
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { dynamoSink, job, kinesisSink, kinesisSource, tumbling, type SinkSpec } from 'shardflow';
import { harness } from 'shardflow/testing';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { SinkWriter } from '../../lib/io/sinks';
import { startDynamo, startKinesis, type Emulator } from '../../lib/local/emulators';
import { createResources } from '../../lib/local/resources';
import type { Plan } from '../../lib/plan/plan';
import type { Output } from '../../lib/runtime/records';
import { failingWindows, severalFailuresPerKey } from '../fixtures/failing-jobs';

type Click = { userId: string; clicks: number; ts: number };

let emulators: Emulator[] = [];
let kinesis: KinesisClient;
let ddb: DynamoDBClient;

beforeAll(async () => {
  const [k, d] = (emulators = await Promise.all([startKinesis(), startDynamo()]));
  kinesis = kinesisClient({ endpoint: k!.endpoint });
  ddb = dynamoClient({ endpoint: d!.endpoint });
}, 60_000);

afterAll(async () => {
  kinesis?.destroy();
  ddb?.destroy();
  await Promise.all(emulators.map((e) => e.stop()));
});

async function scan(table: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await ddb.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
  return Items.map((i) => unmarshall(i));
}

async function readStream(stream: string): Promise<Record<string, unknown>[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const out: Record<string, unknown>[] = [];
  for (const shard of Shards) {
    const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    out.push(...Records.map((r) => JSON.parse(Buffer.from(r.Data!).toString('utf8')) as Record<string, unknown>));
  }
  return out;
}

/**
 * A window of key `a` and one of key `b`, each fired on time and then again late (allowed lateness): per
 * key, the first firing's output and the late firing's, which holds more.
 */
async function twoFirings(sink: SinkSpec): Promise<{ plan: Plan; older: Output[]; newer: Output[] }> {
  const h = harness(
    job(`late-firings-${sink.kind}`)
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0 }))
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .allowedLateness('10s')
      .sum('clicks')
      .sink(sink),
  );
  await h.sendBatch([{ userId: 'a', clicks: 1, ts: 1000 }, { userId: 'b', clicks: 10, ts: 1000 }]);
  await h.watermark(4999);
  await h.sendBatch([{ userId: 'a', clicks: 2, ts: 2000 }, { userId: 'b', clicks: 20, ts: 2000 }]);
  const outputs = h.outputs();
  expect(outputs.map((o) => o.record)).toEqual([
    { key: 'a', windowStart: 0, windowEnd: 5000, clicks: 1 },
    { key: 'b', windowStart: 0, windowEnd: 5000, clicks: 10 },
    { key: 'a', windowStart: 0, windowEnd: 5000, clicks: 3 },
    { key: 'b', windowStart: 0, windowEnd: 5000, clicks: 30 },
  ]);
  await createResources(h.plan, kinesis, ddb);
  return { plan: h.plan, older: outputs.slice(0, 2), newer: outputs.slice(2) };
}

describe('result versions', () => {
  test('a result never goes back to an older firing: the newer written first, then the older, the table keeps the newer', async () => {
    const { plan, older, newer } = await twoFirings(dynamoSink('late-results'));
    const sinks = new SinkWriter(plan, ddb, kinesis);
    const to = (o: Output) => ({ sink: 'late-results', output: o });
    // Key a: a slow invocation's older put lands after the newer one, in another call.
    await sinks.write([to(newer[0]!)]);
    await sinks.write([to(older[0]!)]);
    // Key b: both in one call, the newer first.
    await sinks.write([to(newer[1]!), to(older[1]!)]);
    const table = async () => (await scan('late-results')).sort((x, y) => String(x.key).localeCompare(String(y.key))).map(({ key, clicks, id }) => ({ key, clicks, id }));
    const expected = [
      { key: 'a', clicks: 3, id: newer[0]!.id },
      { key: 'b', clicks: 30, id: newer[1]!.id },
    ];
    expect(await table()).toEqual(expected);
    // The same firing again (a retry) is no error and changes nothing.
    await sinks.write(newer.map(to));
    expect(await table()).toEqual(expected);
  });

  test('the Kinesis sink sends every firing, each with an id naming its version', async () => {
    const { plan, older, newer } = await twoFirings(kinesisSink('late-results-out'));
    const sinks = new SinkWriter(plan, ddb, kinesis);
    await sinks.write([...newer, ...older].map((o) => ({ sink: 'late-results-out', output: o })));
    const records = await readStream('late-results-out');
    expect(records.map((r) => [r.id, r.clicks]).sort()).toEqual([...newer, ...older].map((o) => [o.id, o.record.clicks]).sort());
    expect(new Set(records.map((r) => r.id)).size).toBe(4);
  });
});

describe('dead letters', () => {
  test('several failures of one key (windows, a late firing, timers, post-window maps) make as many items; writing them again changes nothing', async () => {
    const { windows, timers, postMap } = await severalFailuresPerKey();
    const letters = [...windows, ...timers, ...postMap];
    expect(letters).toHaveLength(10);
    const plan = harness(failingWindows()).plan;
    await createResources(plan, kinesis, ddb);
    const sinks = new SinkWriter(plan, ddb, kinesis);
    await sinks.deadLetters(letters);
    await sinks.deadLetters(letters); // a replay rewrites the same items
    const items = await scan(plan.deadLetterTable);
    expect(items).toHaveLength(10);
    expect(items.map((i) => i.reason).sort()).toEqual(letters.map((l) => l.reason).sort());
  });
});
