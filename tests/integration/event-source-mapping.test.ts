/**
 * The local event source mapping against kinesis-local: records really put, read with GetRecords,
 * handed to a function in Lambda's event shape, checkpointed in a real store.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  MergeShardsCommand,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  SplitShardCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../lib/io/aws-clients';
import type { BatchResponse, KinesisStreamEvent, KinesisStreamRecord } from '../../lib/io/kinesis-event';
import { startKinesis, type Emulator } from '../../lib/local/emulators';
import {
  EventSourceMapping,
  SHARD_END,
  fileCheckpointStore,
  type EventSourceMappingConfig,
  type KinesisFailureRecord,
  type EventSourceMappingOptions,
  type Invoke,
} from '../../lib/local/event-source-mapping';
import { createStream } from '../../lib/local/resources';
import { LambdaConcurrency } from '../../lib/local/concurrency';
import { FunctionHost } from '../../lib/local/function-host';
import { readFailedRecords } from '../../lib/io/failed-records';

jest.setTimeout(30_000);

let emulator: Emulator;
let kinesis: KinesisClient;
const running: EventSourceMapping[] = [];

beforeAll(async () => {
  emulator = await startKinesis();
  kinesis = kinesisClient({ endpoint: emulator.endpoint });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

afterAll(async () => {
  kinesis?.destroy();
  await emulator?.stop();
});

// ---- factories and helpers -------------------------------------------------------------------

let streams = 0;
async function newStream(shards: number): Promise<string> {
  const name = `esm-it-${++streams}`;
  await createStream(kinesis, name, shards);
  return name;
}

interface Put {
  readonly key: string;
  readonly data: string;
  readonly sequenceNumber: string;
  readonly shardId: string;
}

/** Puts records (partition key, data) and returns where each landed. */
async function put(stream: string, records: readonly { key: string; data: string }[]): Promise<Put[]> {
  const out: Put[] = [];
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const res = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: chunk.map((r) => ({ PartitionKey: r.key, Data: Buffer.from(r.data) })) }));
    expect(res.FailedRecordCount ?? 0).toBe(0);
    res.Records!.forEach((r, j) => out.push({ ...chunk[j]!, sequenceNumber: r.SequenceNumber!, shardId: r.ShardId! }));
  }
  return out;
}

const records = (n: number, keys: number, prefix = 'r'): { key: string; data: string }[] =>
  Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, data: `${prefix}${i}` }));

function config(streamName: string, over: Partial<EventSourceMappingConfig> = {}): EventSourceMappingConfig {
  return {
    streamName,
    functionName: 'fn',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    startingPosition: 'TRIM_HORIZON',
    parallelizationFactor: 1,
    bisectOnError: false,
    maxRetryAttempts: -1,
    maxRecordAgeSeconds: -1,
    reportBatchItemFailures: false,
    pollIntervalMs: 50,
    shardSyncIntervalMs: 500,
    ...over,
  };
}

const shardOfRecord = (r: KinesisStreamRecord): string => r.eventID.slice(0, r.eventID.lastIndexOf(':'));
const dataOf = (r: KinesisStreamRecord): string => Buffer.from(r.kinesis.data, 'base64').toString('utf8');
const big = (s: string): bigint => BigInt(s);

interface Invocation {
  readonly shardId: string;
  readonly records: readonly KinesisStreamRecord[];
  /** Logical time (a counter of starts and ends), so order is exact whatever the machine's speed. */
  readonly startedAt: number;
  endedAt: number;
  ok: boolean;
}

/**
 * A fake function that records every invocation, how many ran at once (overall, per shard, per key),
 * and which records it processed successfully.
 */
class Recorder {
  readonly invocations: Invocation[] = [];
  readonly succeeded: KinesisStreamRecord[] = [];
  /** Invocations that began after {@link Recorder.closed} was set. */
  readonly lateInvocations: Invocation[] = [];
  closed = false;
  maxConcurrent = 0;
  private tick = 0;
  maxConcurrentPerShard = 0;
  maxConcurrentPerKey = 0;
  private concurrent = 0;
  private readonly perShard = new Map<string, number>();
  private readonly perKey = new Map<string, number>();

  constructor(private readonly behaviour: (event: KinesisStreamEvent, call: number) => Promise<BatchResponse | void> | BatchResponse | void = () => undefined, private readonly delayMs = 0) {}

  readonly invoke: Invoke = async (event) => {
    const first = event.Records[0]!;
    const invocation: Invocation = { shardId: shardOfRecord(first), records: event.Records, startedAt: ++this.tick, endedAt: 0, ok: false };
    this.invocations.push(invocation);
    if (this.closed) this.lateInvocations.push(invocation);
    const keys = [...new Set(event.Records.map((r) => r.kinesis.partitionKey))];
    this.enter(invocation.shardId, keys, +1);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const response = await this.behaviour(event, this.invocations.length);
      const failed = response?.batchItemFailures ?? [];
      const firstFailed = failed.length === 0 ? undefined : failed.map((f) => big(f.itemIdentifier)).reduce((a, b) => (a < b ? a : b));
      this.succeeded.push(...event.Records.filter((r) => firstFailed === undefined || big(r.kinesis.sequenceNumber) < firstFailed));
      invocation.ok = true;
      return response;
    } finally {
      invocation.endedAt = ++this.tick;
      this.enter(invocation.shardId, keys, -1);
    }
  };

  /** Sequence numbers processed successfully, in the order they were processed. */
  succeededSeqs(): string[] {
    return this.succeeded.map((r) => r.kinesis.sequenceNumber);
  }

  private enter(shardId: string, keys: readonly string[], delta: number): void {
    this.concurrent += delta;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    const s = (this.perShard.get(shardId) ?? 0) + delta;
    this.perShard.set(shardId, s);
    this.maxConcurrentPerShard = Math.max(this.maxConcurrentPerShard, s);
    for (const key of keys) {
      const k = (this.perKey.get(key) ?? 0) + delta;
      this.perKey.set(key, k);
      this.maxConcurrentPerKey = Math.max(this.maxConcurrentPerKey, k);
    }
  }
}

function start(kc: KinesisClient, cfg: EventSourceMappingConfig, invoke: Invoke, options: EventSourceMappingOptions = {}): EventSourceMapping {
  const mapping = new EventSourceMapping(kc, cfg, invoke, options);
  running.push(mapping);
  mapping.start();
  return mapping;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectIncreasing(seqs: readonly string[]): void {
  for (let i = 1; i < seqs.length; i++) expect(big(seqs[i]!) > big(seqs[i - 1]!)).toBe(true);
}

/**
 * A behaviour whose first invocation waits (at most 5 s) until another invocation runs beside it. When
 * the mapping runs shards or lanes side by side that always happens, whatever the machine's timing; when
 * it runs them one at a time it never does, and maxConcurrent stays 1.
 */
function holdFirstUntilAnother(recorder: () => Recorder) {
  return async (_event: KinesisStreamEvent, call: number): Promise<void> => {
    if (call === 1) await waitFor('a second invocation beside the first', () => recorder().maxConcurrent > 1, 5_000).catch(() => undefined);
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Kinesis client whose `send` goes through `around` (which calls `send()` to reach the emulator, or not). */
function withSend(client: KinesisClient, around: (command: unknown, send: () => Promise<unknown>) => Promise<unknown>): KinesisClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (command: unknown, options?: unknown) => around(command, () => (target.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options));
    },
  });
}

/** Every key path of a JSON value (`a`, `a.b`, `Records[].kinesis.data`), to compare shapes. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value)
    .flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)])
    .sort();
}

// ---- tests -----------------------------------------------------------------------------------

test('every record is processed successfully exactly once, in shard order, one batch per shard at a time', async () => {
  const stream = await newStream(3);
  const puts = await put(stream, records(300, 30));
  const fn: Recorder = new Recorder(holdFirstUntilAnother(() => fn), 5);
  const mapping = start(kinesis, config(stream, { batchSize: 25 }), fn.invoke);
  await waitFor('300 records', () => fn.succeeded.length >= 300 && mapping.idle());

  expect(new Set(fn.succeededSeqs()).size).toBe(300);
  expect(fn.succeeded).toHaveLength(300);
  expect(fn.maxConcurrentPerShard).toBe(1);
  expect(fn.maxConcurrent).toBeGreaterThan(1); // shards run side by side
  expect(Math.max(...fn.invocations.map((i) => i.records.length))).toBeLessThanOrEqual(25);
  const stats = mapping.stats();
  for (const shard of stats.shards) {
    const expected = puts.filter((p) => p.shardId === shard.shardId).map((p) => p.sequenceNumber);
    const seen = fn.succeeded.filter((r) => shardOfRecord(r) === shard.shardId).map((r) => r.kinesis.sequenceNumber);
    expect(seen).toEqual([...expected].sort((a, b) => (big(a) < big(b) ? -1 : 1)));
    expectIncreasing(seen);
    expect(shard).toMatchObject({ state: 'polling', recordsDelivered: expected.length, functionErrors: 0, discarded: 0, iteratorAgeMs: 0, lastCheckpoint: seen[seen.length - 1] });
  }
  // Lambda's event shape
  const r = fn.succeeded[0]!;
  expect(r.eventID).toBe(`${shardOfRecord(r)}:${r.kinesis.sequenceNumber}`);
  expect(r.eventSourceARN).toMatch(new RegExp(`stream/${stream}$`));
  expect(r.kinesis.approximateArrivalTimestamp).toBeGreaterThan(1e9);
});

test('batches hold at most batchSize records', async () => {
  const stream = await newStream(1);
  await put(stream, records(35, 5));
  const fn = new Recorder();
  const mapping = start(kinesis, config(stream, { batchSize: 10 }), fn.invoke);
  await waitFor('35 records', () => fn.succeeded.length >= 35 && mapping.idle());
  expect(fn.invocations.map((i) => i.records.length)).toEqual([10, 10, 10, 5]);
});

test('a batching window gathers records that arrive in different polls into one invocation', async () => {
  const stream = await newStream(1);
  const fn = new Recorder();
  // GetRecords calls that returned records, to know when the first group has been read.
  let readsWithRecords = 0;
  const counting = withSend(kinesis, async (command, send) => {
    const out = (await send()) as { Records?: unknown[] };
    if (command instanceof GetRecordsCommand && (out.Records?.length ?? 0) > 0) readsWithRecords++;
    return out;
  });
  const mapping = start(counting, config(stream, { batchSize: 100, maxBatchingWindowSeconds: 3, pollIntervalMs: 50 }), fn.invoke);
  await put(stream, records(1, 1, 'first'));
  await waitFor('the first record', () => fn.succeeded.length >= 1 && mapping.idle());
  // The lane's window reopened when that invocation completed: what comes within it waits for it.
  await put(stream, records(3, 3, 'a'));
  await waitFor('the mapping to read the first group', () => readsWithRecords >= 2);
  await put(stream, records(3, 3, 'b'));
  await waitFor('6 more records', () => fn.succeeded.length >= 7);
  expect(fn.invocations.map((i) => i.records.map(dataOf))).toEqual([['first0'], ['a0', 'a1', 'a2', 'b0', 'b1', 'b2']]);
});

test('a full batch is invoked without waiting for the window', async () => {
  const stream = await newStream(1);
  const fn = new Recorder();
  // A window of 300 s (Lambda's maximum): were the full batch to wait for it, waitFor would time out.
  const mapping = start(kinesis, config(stream, { batchSize: 5, maxBatchingWindowSeconds: 300 }), fn.invoke);
  await put(stream, records(1, 1, 'first'));
  await put(stream, records(5, 5));
  await waitFor('5 records', () => fn.succeeded.length >= 5);
  expect(fn.invocations[0]!.records).toHaveLength(5);
  expect(mapping.stats().shards[0]!.recordsDelivered).toBe(5);
});

test('bisect isolates a poison record: only it is discarded, every other record is processed once', async () => {
  const stream = await newStream(1);
  const input = records(20, 4);
  input[11] = { key: input[11]!.key, data: 'poison' };
  const puts = await put(stream, input);
  const failures: KinesisFailureRecord[] = [];
  const fn = new Recorder((event) => {
    if (event.Records.some((r) => dataOf(r) === 'poison')) throw new Error('cannot parse poison');
  });
  const mapping = start(kinesis, config(stream, { batchSize: 8, bisectOnError: true, maxRetryAttempts: 1 }), fn.invoke, {
    onFailure: async (f) => {
      failures.push(f);
    },
  });
  await waitFor('19 records and a discard', () => fn.succeeded.length >= 19 && failures.length >= 1 && mapping.idle());

  const poison = puts[11]!;
  expect(fn.succeeded.map(dataOf).sort()).toEqual(input.filter((_, i) => i !== 11).map((r) => r.data).sort());
  expect(new Set(fn.succeededSeqs()).size).toBe(19);
  expectIncreasing(fn.succeededSeqs());
  expect(failures).toHaveLength(1);
  expect(failures[0]).toMatchObject({
    // the batch of 8, its halves of 4 and 2, the record alone, and its one retry
    requestContext: { functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn', condition: 'RetryAttemptsExhausted', approximateInvokeCount: 5 },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    KinesisBatchInfo: { shardId: poison.shardId, startSequenceNumber: poison.sequenceNumber, endSequenceNumber: poison.sequenceNumber, batchSize: 1 },
  });
  // As on AWS, the message has no records: they are read back from the stream.
  expect((await readFailedRecords(kinesis, failures[0]!.KinesisBatchInfo)).map((r) => Buffer.from(r.Data!).toString())).toEqual(['poison']);
  expect(mapping.stats().shards[0]).toMatchObject({ discarded: 1, retries: 1, bisections: 3, lastCheckpoint: puts[19]!.sequenceNumber });
});

test('ReportBatchItemFailures: the next invocation starts at the lowest failed record', async () => {
  const stream = await newStream(1);
  const puts = await put(stream, records(10, 3));
  const fn = new Recorder((event, call) =>
    call === 1 ? { batchItemFailures: [{ itemIdentifier: event.Records[6]!.kinesis.sequenceNumber }, { itemIdentifier: event.Records[4]!.kinesis.sequenceNumber }] } : undefined,
  );
  const mapping = start(kinesis, config(stream, { batchSize: 10, reportBatchItemFailures: true, maxRetryAttempts: 3 }), fn.invoke);
  await waitFor('10 records', () => fn.succeeded.length >= 10 && mapping.idle());

  expect(fn.invocations.map((i) => i.records.map(dataOf))).toEqual([
    ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9'],
    ['r4', 'r5', 'r6', 'r7', 'r8', 'r9'],
  ]);
  expect(fn.succeeded.map(dataOf)).toEqual(puts.map((p) => p.data));
  expect(mapping.stats().shards[0]).toMatchObject({ invocations: 2, functionErrors: 1, retries: 1, discarded: 0, lastCheckpoint: puts[9]!.sequenceNumber });
});

test('records older than maxRecordAge are discarded with RecordAgeExceeded instead of retried', async () => {
  const stream = await newStream(1);
  const puts = await put(stream, records(5, 2));
  let skewMs = 0;
  const failures: KinesisFailureRecord[] = [];
  const fn = new Recorder(() => {
    skewMs = 120_000; // two minutes pass while the function fails
    throw new Error('downstream unavailable');
  });
  const mapping = start(kinesis, config(stream, { maxRecordAgeSeconds: 60, maxRetryAttempts: -1 }), fn.invoke, {
    clock: () => Date.now() + skewMs,
    onFailure: async (f) => {
      failures.push(f);
    },
  });
  await waitFor('a discard', () => failures.length >= 1 && mapping.idle());

  expect(fn.invocations).toHaveLength(1);
  expect(failures).toHaveLength(1);
  expect(failures[0]).toMatchObject({ requestContext: { condition: 'RecordAgeExceeded', approximateInvokeCount: 1 }, KinesisBatchInfo: { batchSize: 5 } });
  expect((await readFailedRecords(kinesis, failures[0]!.KinesisBatchInfo)).map((r) => Buffer.from(r.Data!).toString())).toEqual(puts.map((p) => p.data));
  expect(mapping.stats().shards[0]).toMatchObject({ discarded: 5, lastCheckpoint: puts[4]!.sequenceNumber });
});

test('ParallelizationFactor 3 keeps every partition key in order while lanes run concurrently', async () => {
  const stream = await newStream(1);
  const puts = await put(stream, records(150, 15));
  const fn: Recorder = new Recorder(holdFirstUntilAnother(() => fn), 5);
  const mapping = start(kinesis, config(stream, { batchSize: 5, parallelizationFactor: 3 }), fn.invoke);
  await waitFor('150 records', () => fn.succeeded.length >= 150 && mapping.idle());

  expect(new Set(fn.succeededSeqs()).size).toBe(150);
  expect(fn.succeeded).toHaveLength(150);
  expect(fn.maxConcurrent).toBeGreaterThan(1);
  expect(fn.maxConcurrent).toBeLessThanOrEqual(3);
  expect(fn.maxConcurrentPerKey).toBe(1);
  for (let k = 0; k < 15; k++) {
    const key = `k${k}`;
    const seen = fn.succeeded.filter((r) => r.kinesis.partitionKey === key).map((r) => r.kinesis.sequenceNumber);
    expect(seen).toEqual(puts.filter((p) => p.key === key).map((p) => p.sequenceNumber));
  }
  // the shard's checkpoint only moves as far as every lane got: here, to the end
  expect(mapping.stats().shards[0]!.lastCheckpoint).toBe(puts[149]!.sequenceNumber);
});

test('checkpoints in a file survive stop and start: no record is processed twice, none is lost', async () => {
  const stream = await newStream(2);
  const puts = await put(stream, records(200, 20));
  const dir = await mkdtemp(join(tmpdir(), 'esm-it-'));
  try {
    const first = new Recorder(undefined, 150);
    const a = start(kinesis, config(stream, { batchSize: 10 }), first.invoke, { checkpoints: fileCheckpointStore(dir) });
    await waitFor('some records, and an invocation in flight', () => first.succeeded.length >= 40 && first.invocations.some((i) => i.endedAt === 0));
    await a.stop(); // mid-stream
    expect(first.invocations.filter((i) => i.endedAt === 0)).toEqual([]); // stop() waited for the invocations in flight
    first.closed = true;
    expect(first.succeeded.length).toBeLessThan(200);

    const saved = JSON.parse(await readFile(join(dir, `fn@${stream}.json`), 'utf8')) as { checkpoints: Record<string, string> };
    expect(Object.keys(saved.checkpoints).sort()).toEqual([...new Set(puts.map((p) => p.shardId))].sort());

    const second = new Recorder(undefined, 5);
    const b = start(kinesis, config(stream, { batchSize: 10 }), second.invoke, { checkpoints: fileCheckpointStore(dir) });
    await waitFor('the rest', () => first.succeeded.length + second.succeeded.length >= 200 && b.idle());

    const before = new Set(first.succeededSeqs());
    const twice = second.succeededSeqs().filter((s) => before.has(s));
    expect(twice).toEqual([]);
    expect(new Set([...first.succeededSeqs(), ...second.succeededSeqs()])).toEqual(new Set(puts.map((p) => p.sequenceNumber)));
    expect(first.succeeded.length + second.succeeded.length).toBe(200);
    expect(first.lateInvocations).toEqual([]); // nothing of the first mapping ran after its stop() resolved
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('startingPosition LATEST reads only records put after the mapping started', async () => {
  const stream = await newStream(1);
  await put(stream, records(5, 5, 'old'));
  const fn = new Recorder();
  const mapping = start(kinesis, config(stream, { startingPosition: 'LATEST' }), fn.invoke);
  await waitFor('the mapping to catch up', () => mapping.idle());
  await put(stream, records(5, 5, 'new'));
  await waitFor('5 records', () => fn.succeeded.length >= 5 && mapping.idle());
  expect(fn.succeeded.map(dataOf)).toEqual(['new0', 'new1', 'new2', 'new3', 'new4']);
});

test("a split shard's children are read only after the parent is processed to its end", async () => {
  const stream = await newStream(1);
  const parentPuts = await put(stream, records(40, 10, 'p'));
  const parentId = parentPuts[0]!.shardId;
  await split(stream, parentId);
  const childPuts = await put(stream, records(40, 10, 'c'));
  expect(new Set(childPuts.map((p) => p.shardId)).has(parentId)).toBe(false);

  const fn = new Recorder(undefined, 10);
  const mapping = start(kinesis, config(stream, { batchSize: 10 }), fn.invoke);
  await waitFor('80 records', () => fn.succeeded.length >= 80 && mapping.idle());

  const parentInvocations = fn.invocations.filter((i) => i.shardId === parentId);
  const childInvocations = fn.invocations.filter((i) => i.shardId !== parentId);
  expect(Math.min(...childInvocations.map((i) => i.startedAt))).toBeGreaterThanOrEqual(Math.max(...parentInvocations.map((i) => i.endedAt)));
  for (let k = 0; k < 10; k++) {
    // each key: its parent records, then its child records
    const seen = fn.succeeded.filter((r) => r.kinesis.partitionKey === `k${k}`).map(dataOf);
    expect(seen).toEqual([...parentPuts, ...childPuts].filter((p) => p.key === `k${k}`).map((p) => p.data));
  }
  let stats = mapping.stats();
  expect(stats.shards.find((s) => s.shardId === parentId)).toMatchObject({ state: 'finished', lastCheckpoint: SHARD_END, recordsDelivered: 40 });
  const children = stats.shards.filter((s) => s.shardId !== parentId);
  expect(children).toHaveLength(2);
  for (const child of children) expect(child).toMatchObject({ state: 'polling', parentShardIds: [parentId] });

  // a reshard while the mapping runs is noticed on a later ListShards
  const child = children[0]!.shardId;
  await split(stream, child);
  const grandchildPuts = await put(stream, records(20, 10, 'g'));
  await waitFor('the grandchildren', () => fn.succeeded.length >= 100 && mapping.idle());
  stats = mapping.stats();
  expect(stats.shards.find((s) => s.shardId === child)).toMatchObject({ state: 'finished', lastCheckpoint: SHARD_END });
  expect(stats.shards.filter((s) => s.parentShardIds.includes(child))).toHaveLength(2);
  expect(fn.succeeded.map(dataOf).filter((d) => d.startsWith('g')).sort()).toEqual(grandchildPuts.map((p) => p.data).sort());
  expect(new Set(fn.succeededSeqs()).size).toBe(100);
});

test('a merged shard is read only after both of its parents are processed to their end', async () => {
  const stream = await newStream(2);
  const parentPuts = await put(stream, records(40, 10, 'p'));
  const parents = [...new Set(parentPuts.map((p) => p.shardId))].sort();
  expect(parents).toHaveLength(2);
  await kinesis.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: parents[0]!, AdjacentShardToMerge: parents[1]! }));
  await waitUntilActive(stream);
  const childPuts = await put(stream, records(20, 10, 'c'));
  const childId = childPuts[0]!.shardId;
  expect(parents).not.toContain(childId);

  const fn = new Recorder(undefined, 10);
  const mapping = start(kinesis, config(stream, { batchSize: 5 }), fn.invoke);
  await waitFor('60 records', () => fn.succeeded.length >= 60 && mapping.idle());

  const lastParentEnd = Math.max(...fn.invocations.filter((i) => i.shardId !== childId).map((i) => i.endedAt));
  const firstChildStart = Math.min(...fn.invocations.filter((i) => i.shardId === childId).map((i) => i.startedAt));
  expect(firstChildStart).toBeGreaterThanOrEqual(lastParentEnd);
  expect(mapping.stats().shards.find((s) => s.shardId === childId)).toMatchObject({ parentShardIds: parents, recordsDelivered: 20 });
  for (const parent of parents) expect(mapping.stats().shards.find((s) => s.shardId === parent)).toMatchObject({ state: 'finished', lastCheckpoint: SHARD_END });
});

test('throttled GetRecords calls are waited out without surfacing an error', async () => {
  const stream = await newStream(1);
  await put(stream, records(30, 3));
  let calls = 0;
  const throttling = withSend(kinesis, (command, send) =>
    command instanceof GetRecordsCommand && ++calls % 2 === 1 ? Promise.reject(new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} })) : send(),
  );
  const lines: string[] = [];
  const fn = new Recorder();
  const mapping = start(throttling, config(stream, { batchSize: 10 }), fn.invoke, { log: (l) => lines.push(l) });
  await waitFor('30 records', () => fn.succeeded.length >= 30 && mapping.idle());
  expect(new Set(fn.succeededSeqs()).size).toBe(30);
  expect(mapping.stats().shards[0]).toMatchObject({ readThrottles: expect.any(Number), throttles: 0 });
  expect(mapping.stats().shards[0]!.readThrottles).toBeGreaterThan(0);
  expect(lines.filter((l) => /fail|error/i.test(l))).toEqual([]);
});

// ---- the differences from AWS that the audit of issue 19 found, pinned ----------------------

/** AWS's example Kinesis event record (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html). */
const AWS_EXAMPLE_RECORD = {
  kinesis: {
    kinesisSchemaVersion: '1.0',
    partitionKey: '1',
    sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
    data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
    approximateArrivalTimestamp: 1545084650.987,
  },
  eventSource: 'aws:kinesis',
  eventVersion: '1.0',
  eventID: 'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
  eventName: 'aws:kinesis:record',
  invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
  awsRegion: 'us-east-2',
  eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
};

/** AWS's example SQS/SNS on-failure record (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). */
const AWS_EXAMPLE_FAILURE = {
  requestContext: { requestId: 'c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5', functionArn: 'arn:aws:lambda:us-east-2:123456789012:function:myfunction', condition: 'RetryAttemptsExhausted', approximateInvokeCount: 1 },
  responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
  version: '1.0',
  timestamp: '2019-11-14T00:38:06.021Z',
  KinesisBatchInfo: {
    shardId: 'shardId-000000000001',
    startSequenceNumber: '49601189658422359378836298521827638475320189012309704722',
    endSequenceNumber: '49601189658422359378836298522902373528957594348623495186',
    approximateArrivalOfFirstRecord: '2019-11-14T00:38:04.835Z',
    approximateArrivalOfLastRecord: '2019-11-14T00:38:05.580Z',
    batchSize: 500,
    streamArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/mystream',
  },
};

test("the function gets AWS's event: every key of AWS's example, with the constant values it has", async () => {
  const stream = await newStream(1);
  const [p] = await put(stream, [{ key: 'k', data: 'hello' }]);
  const fn = new Recorder();
  start(kinesis, config(stream), fn.invoke);
  await waitFor('the record', () => fn.succeeded.length >= 1);
  const record = fn.invocations[0]!.records[0]!;
  expect(keyPaths(record)).toEqual(keyPaths(AWS_EXAMPLE_RECORD));
  expect(record).toMatchObject({
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventName: 'aws:kinesis:record',
    awsRegion: 'us-east-1',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/fn',
    eventID: `${p!.shardId}:${p!.sequenceNumber}`,
    kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'k', sequenceNumber: p!.sequenceNumber, data: Buffer.from('hello').toString('base64') },
  });
  expect(record.eventSourceARN).toMatch(new RegExp(`^arn:aws:kinesis:us-east-1:000000000000:stream/${stream}$`));
});

test("the on-failure message has the documented schema, without the records", async () => {
  const stream = await newStream(1);
  const [p] = await put(stream, [{ key: 'k', data: 'poison' }]);
  const failures: KinesisFailureRecord[] = [];
  const fn = new Recorder(() => {
    throw new Error('poison');
  });
  const mapping = start(kinesis, config(stream, { maxRetryAttempts: 0 }), fn.invoke, {
    onFailure: async (f) => {
      failures.push(f);
    },
  });
  await waitFor('a discard', () => failures.length >= 1 && mapping.idle());
  const message = JSON.parse(JSON.stringify(failures[0])) as typeof AWS_EXAMPLE_FAILURE;
  expect(keyPaths(message)).toEqual(keyPaths(AWS_EXAMPLE_FAILURE));
  expect(message).toMatchObject({
    requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 1 },
    version: '1.0',
    KinesisBatchInfo: { shardId: p!.shardId, startSequenceNumber: p!.sequenceNumber, endSequenceNumber: p!.sequenceNumber, batchSize: 1, streamArn: fn.invocations[0]!.records[0]!.eventSourceARN },
  });
  expect(message.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(message.KinesisBatchInfo.approximateArrivalOfFirstRecord).toBe(new Date(fn.invocations[0]!.records[0]!.kinesis.approximateArrivalTimestamp! * 1000).toISOString());
});

test('a throttled invoke is retried until it runs: never bisected, never discarded, counted as a throttle, not a retry', async () => {
  const stream = await newStream(1);
  const puts = await put(stream, records(8, 8));
  let refusals = 3;
  const fn = new Recorder();
  const invoke: Invoke = async (event) => {
    if (refusals-- > 0) throw Object.assign(new Error('Rate Exceeded.'), { name: 'TooManyRequestsException' });
    return fn.invoke(event);
  };
  const failures: KinesisFailureRecord[] = [];
  const mapping = start(kinesis, config(stream, { batchSize: 8, bisectOnError: true, maxRetryAttempts: 0 }), invoke, {
    onFailure: async (f) => {
      failures.push(f);
    },
  });
  await waitFor('8 records', () => fn.succeeded.length >= 8 && mapping.idle());
  expect(fn.invocations.map((i) => i.records.length)).toEqual([8]);
  expect(failures).toEqual([]);
  expect(mapping.stats().shards[0]).toMatchObject({ throttles: 3, retries: 0, bisections: 0, invocations: 1, functionErrors: 0, discarded: 0, lastCheckpoint: puts[7]!.sequenceNumber });
});

test('throttling happens locally: two shards, a function with reserved concurrency 1 — the second shard waits, nothing is lost', async () => {
  const stream = await newStream(2);
  const puts = await put(stream, records(20, 10));
  const dir = await mkdtemp(join(tmpdir(), 'esm-reserved-'));
  const release = join(dir, 'release');
  // The first invocation holds its execution until the test has seen the other shard throttled.
  const handler = join(dir, 'handler.js');
  await writeFile(
    handler,
    `const fs = require('node:fs'); let first = true;
     exports.handler = async (event) => {
       if (first) { first = false; while (!fs.existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 10)); }
       return { seen: event.Records.map((r) => r.kinesis.sequenceNumber) };
     };`,
  );
  const host = new FunctionHost({ functionName: 'fn', bundlePath: handler, env: {}, timeoutMs: 30_000, concurrency: new LambdaConcurrency({ reserved: { fn: 1 } }) });
  const seen: string[] = [];
  const failures: KinesisFailureRecord[] = [];
  try {
    const mapping = start(kinesis, config(stream, { bisectOnError: true, maxRetryAttempts: 0 }), async (event) => {
      const out = (await host.invoke(event)) as { seen: string[] };
      seen.push(...out.seen);
      return undefined;
    }, {
      onFailure: async (f) => {
        failures.push(f);
      },
    });
    const throttles = (): number => mapping.stats().shards.reduce((n, sh) => n + sh.throttles, 0);
    await waitFor('a throttled invoke', () => throttles() > 0);
    await writeFile(release, '');
    await waitFor('20 records', () => seen.length >= 20 && mapping.idle());
    expect(seen.sort()).toEqual(puts.map((p) => p.sequenceNumber).sort());
    expect(failures).toEqual([]);
    expect(host.stats().throttles).toBe(throttles());
    for (const shard of mapping.stats().shards) expect(shard).toMatchObject({ bisections: 0, retries: 0, discarded: 0, functionErrors: 0 });
  } finally {
    await host.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a caught-up shard is polled about once a second, as Lambda does', async () => {
  const stream = await newStream(1);
  const polls: number[] = [];
  const counting = withSend(kinesis, (command, send) => {
    if (command instanceof GetRecordsCommand) polls.push(performance.now());
    return send();
  });
  const { pollIntervalMs: _unused, ...defaults } = config(stream);
  start(counting, defaults, new Recorder().invoke);
  await waitFor('four polls', () => polls.length >= 4);
  const gaps = polls.slice(1).map((t, i) => t - polls[i]!);
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(990);
});

test('startingPosition AT_TIMESTAMP reads the records that arrived at or after the timestamp', async () => {
  const stream = await newStream(1);
  const before = await put(stream, records(3, 3, 'before'));
  const probe = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: before[0]!.shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  const read = await kinesis.send(new GetRecordsCommand({ ShardIterator: probe.ShardIterator! }));
  const lastBeforeMs = read.Records!.at(-1)!.ApproximateArrivalTimestamp!.getTime();
  // Arrival times have millisecond resolution: wait until the clock has passed the last one, on Kinesis' own timestamps.
  let after: Put[] = [];
  while (after.length === 0 || (await arrivalOf(stream, after[0]!)) <= lastBeforeMs) after = await put(stream, records(3, 3, 'after'));
  const fromMs = await arrivalOf(stream, after[0]!);
  const fn = new Recorder();
  const mapping = start(kinesis, config(stream, { startingPosition: 'AT_TIMESTAMP', startingPositionTimestampMs: fromMs }), fn.invoke);
  await waitFor('the records from the timestamp on', () => fn.succeeded.length >= 3 && mapping.idle());
  const seen = fn.succeeded.map(dataOf);
  expect(seen.filter((d) => d.startsWith('before'))).toEqual([]);
  expect(seen.slice(-3)).toEqual(['after0', 'after1', 'after2']);
});

async function arrivalOf(stream: string, p: Put): Promise<number> {
  const it = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: p.shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: p.sequenceNumber }));
  const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator!, Limit: 1 }));
  return out.Records![0]!.ApproximateArrivalTimestamp!.getTime();
}

/** SplitShard at the middle of the shard's hash range, then wait until the stream is ACTIVE again. */
async function split(stream: string, shardId: string): Promise<void> {
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const shard = Shards!.find((s) => s.ShardId === shardId)!;
  const lo = big(shard.HashKeyRange!.StartingHashKey!);
  const hi = big(shard.HashKeyRange!.EndingHashKey!);
  await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shardId, NewStartingHashKey: ((lo + hi) / 2n).toString() }));
  await waitUntilActive(stream);
}

async function waitUntilActive(stream: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`stream ${stream} did not become ACTIVE again after resharding`);
    await sleep(50);
  }
}
