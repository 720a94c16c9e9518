/**
 * The order and the bounds of a stream's history (lib/io/stream-history.ts), on a small Kinesis in memory:
 * closed parents before their children, children merged by arrival, each shard in its own order, cut at
 * `untilMs`; throttling waited out, an expired iterator taken up again. The emulator path is in
 * tests/e2e/backfill-history.test.ts.
 */
import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { mergeByArrival, StreamHistory, StreamHistoryError, type HistoryOptions } from '../../lib/io/stream-history';

interface FakeShard {
  readonly id: string;
  readonly parents?: readonly string[];
  /** [partition key, arrival ms] in sequence order. */
  readonly records: readonly (readonly [string, number])[];
  readonly closed?: boolean;
}

const kinesisError = (name: string): Error => Object.assign(new Error(name), { name });

/**
 * Kinesis in memory: GetRecords gives `pageSize` records a call; `failures` are thrown, first in first
 * out, by the calls they name.
 */
function fakeKinesis(shards: readonly FakeShard[], options: { pageSize?: number; retentionHours?: number; failures?: [string, string][] } = {}) {
  const failures = [...(options.failures ?? [])];
  const calls: string[] = [];
  const send = async (command: unknown): Promise<unknown> => {
    const name = (command as object).constructor.name.replace(/Command$/, '');
    calls.push(name);
    const failure = failures.findIndex(([call]) => call === name);
    if (failure >= 0) throw kinesisError(failures.splice(failure, 1)[0]![1]);
    if (command instanceof DescribeStreamSummaryCommand) {
      if (command.input.StreamName !== 'clicks') throw kinesisError('ResourceNotFoundException');
      return { StreamDescriptionSummary: { RetentionPeriodHours: options.retentionHours ?? 24 } };
    }
    if (command instanceof ListShardsCommand) {
      return { Shards: shards.map((s) => ({ ShardId: s.id, ParentShardId: s.parents?.[0], AdjacentParentShardId: s.parents?.[1] })) };
    }
    if (command instanceof GetShardIteratorCommand) {
      const shard = shards.find((s) => s.id === command.input.ShardId)!;
      const { ShardIteratorType: type } = command.input;
      const start =
        type === 'TRIM_HORIZON'
          ? 0
          : type === 'AT_TIMESTAMP'
            ? shard.records.findIndex(([, at]) => at >= command.input.Timestamp!.getTime())
            : shard.records.findIndex((_, i) => `${shard.id}/${i}` === command.input.StartingSequenceNumber) + 1;
      return { ShardIterator: `${shard.id}@${start < 0 ? shard.records.length : start}` };
    }
    if (command instanceof GetRecordsCommand) {
      const [id, at] = command.input.ShardIterator!.split('@') as [string, string];
      const shard = shards.find((s) => s.id === id)!;
      const from = Number(at);
      const page = shard.records.slice(from, from + (options.pageSize ?? 2));
      const end = from + page.length;
      return {
        Records: page.map(([key, arrivalMs], i) => ({ SequenceNumber: `${id}/${from + i}`, PartitionKey: key, Data: Buffer.from(key), ApproximateArrivalTimestamp: new Date(arrivalMs) })),
        NextShardIterator: shard.closed && end === shard.records.length ? undefined : `${id}@${end}`,
        MillisBehindLatest: end === shard.records.length ? 0 : 1000,
      };
    }
    throw new Error(`fake Kinesis: no ${name}`);
  };
  return { kinesis: { send } as unknown as Pick<KinesisClient, 'send'>, calls };
}

const options = (overrides: Partial<HistoryOptions> = {}): HistoryOptions => ({ from: { kind: 'trim-horizon' }, untilMs: 10_000, where: 'memory', nowMs: () => 10_000, sleep: async () => {}, ...overrides });

/** The records' partition keys, and `|shard` where a closed shard ends. */
async function read(history: StreamHistory): Promise<string[]> {
  const keys: string[] = [];
  for await (const r of history.records()) keys.push(r.kind === 'end' ? `|${r.shardId}` : r.partitionKey);
  return keys;
}

// A stream of one shard split in two (1, 2), then 2 split again (3, 4), and 1 and 3 merged (5). Arrival
// times are approximate: d1 is stamped before its parent's last record c3, and still comes after it.
const resharded: FakeShard[] = [
  { id: 'shard-5', parents: ['shard-1', 'shard-3'], records: [['m1', 900], ['m2', 950]] },
  { id: 'shard-0', records: [['a1', 100], ['a2', 110], ['a3', 120]], closed: true },
  { id: 'shard-1', parents: ['shard-0'], records: [['b1', 200], ['b2', 300], ['b3', 800]], closed: true },
  { id: 'shard-2', parents: ['shard-0'], records: [['c1', 250], ['c2', 260], ['c3', 500]], closed: true },
  { id: 'shard-3', parents: ['shard-2'], records: [['d1', 450], ['d2', 700]], closed: true },
  { id: 'shard-4', parents: ['shard-2'], records: [['e1', 550], ['e2', 990]] },
];

test("parents come before their children (each closed shard's end said after its last record), shards ready together are merged by arrival, and each keeps its order", async () => {
  const { kinesis } = fakeKinesis(resharded);
  const history = await StreamHistory.open(kinesis, 'clicks', options());
  expect(await read(history)).toEqual(['a1', 'a2', 'a3', '|shard-0', 'b1', 'c1', 'c2', 'b2', 'c3', '|shard-2', 'd1', 'e1', 'd2', '|shard-3', 'b3', '|shard-1', 'm1', 'm2', 'e2']);
  expect(history.roots).toEqual(['shard-0']);
  expect([history.childrenOf('shard-0'), history.childrenOf('shard-1'), history.childrenOf('shard-5')]).toEqual([['shard-1', 'shard-2'], ['shard-5'], []]);
});

test('AT_TIMESTAMP starts every shard at that moment, and records after untilMs are left out', async () => {
  const { kinesis } = fakeKinesis(resharded);
  const pages: [string, number][] = [];
  const history = await StreamHistory.open(kinesis, 'clicks', options({ from: { kind: 'at-timestamp', ms: 260 }, untilMs: 700, onPage: (shard, n) => pages.push([shard, n]) }));
  expect(await read(history)).toEqual(['|shard-0', 'c2', 'b2', '|shard-1', 'c3', '|shard-2', 'd1', 'e1', 'd2', '|shard-3']);
  // What progress was told adds up to what was read.
  expect(pages.reduce((n, [, k]) => n + k, 0)).toBe(6);
});

test('a parent no longer listed (past retention) is not waited for', async () => {
  const { kinesis } = fakeKinesis([{ id: 'shard-7', parents: ['shard-6'], records: [['x', 1]] }]);
  expect(await read(await StreamHistory.open(kinesis, 'clicks', options()))).toEqual(['x']);
});

test('a throttled call is tried again after a growing wait; an expired iterator is taken up after the last record read', async () => {
  const waits: number[] = [];
  const { kinesis, calls } = fakeKinesis([{ id: 'shard-0', records: [['a', 1], ['b', 2], ['c', 3]] }], {
    failures: [
      ['GetRecords', 'ProvisionedThroughputExceededException'],
      ['GetRecords', 'ProvisionedThroughputExceededException'],
      ['ListShards', 'LimitExceededException'],
    ],
  });
  const history = await StreamHistory.open(kinesis, 'clicks', options({ sleep: async (ms) => void waits.push(ms) }));
  const keys: string[] = [];
  for await (const r of history.records()) {
    if (r.kind === 'record') keys.push(r.partitionKey);
    // After the first page (a, b), the iterator has expired by the time the next is asked for.
    if (keys.length === 2) kinesis.send = expireOnce(kinesis.send);
  }
  expect(keys).toEqual(['a', 'b', 'c']);
  expect(waits).toEqual([200, 200, 400]);
  expect(calls.filter((c) => c === 'GetShardIterator')).toHaveLength(2);
});

/** The next GetRecords fails with ExpiredIteratorException, once. */
function expireOnce(send: Pick<KinesisClient, 'send'>['send']): Pick<KinesisClient, 'send'>['send'] {
  let expired = false;
  return (async (command: unknown) => {
    if (!expired && command instanceof GetRecordsCommand) {
      expired = true;
      throw kinesisError('ExpiredIteratorException');
    }
    return send(command as never);
  }) as Pick<KinesisClient, 'send'>['send'];
}

test('a shard that stays throttled ends the read with a message that says why', async () => {
  const { kinesis } = fakeKinesis([{ id: 'shard-0', records: [['a', 1]] }], { failures: Array.from({ length: 20 }, (): [string, string] => ['GetRecords', 'ProvisionedThroughputExceededException']) });
  const history = await StreamHistory.open(kinesis, 'clicks', options());
  await expect(read(history)).rejects.toThrow(
    new StreamHistoryError("stream 'clicks' shard shard-0 stayed throttled (ProvisionedThroughputExceededException) through 15 tries: other readers use its limits (5 reads/s per shard); try again when they are quieter"),
  );
});

test('a stream that is not there, and a start its retention no longer keeps, are refused before reading', async () => {
  const { kinesis } = fakeKinesis([]);
  await expect(StreamHistory.open(kinesis, 'clickz', options())).rejects.toThrow("no stream 'clickz' at memory: name the stream to read, and start `shardflow dev JOB` first or pass --endpoint / --deployed");
  const day = 24 * 3_600_000;
  const at = { kind: 'at-timestamp' as const, ms: 1_000 };
  await expect(StreamHistory.open(fakeKinesis([], { retentionHours: 24 }).kinesis, 'clicks', options({ from: at, nowMs: () => day + 1_001 }))).rejects.toThrow(
    "--at 1970-01-01T00:00:01.000Z is before what stream 'clicks' keeps: its retention is 24 hours (records since 1970-01-01T00:00:01.001Z); use a later --at, or --at TRIM_HORIZON for all it has",
  );
  // At the edge of retention it is still kept.
  await expect(StreamHistory.open(fakeKinesis([], { retentionHours: 24 }).kinesis, 'clicks', options({ from: at, nowMs: () => day + 1_000 }))).resolves.toBeInstanceOf(StreamHistory);
});

test('several streams are merged by arrival, each kept in its order, ties to the one named first', async () => {
  async function* stream(name: string, arrivals: number[]) {
    for (const [i, arrivalMs] of arrivals.entries()) yield { arrivalMs, id: `${name}${i}` };
  }
  const merged: string[] = [];
  for await (const r of mergeByArrival([stream('tx', [1, 5, 5, 9]), stream('rules', [0, 5, 12]), stream('logins', [])])) merged.push(r.id);
  expect(merged).toEqual(['rules0', 'tx0', 'tx1', 'tx2', 'rules1', 'tx3', 'rules2']);
});
