/**
 * Test support: runs a job's real stage handlers against the emulators, one batch at a time, by
 * reading each stream with GetRecords as Lambda's event source mapping would (no mocks in between).
 */
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { JobDefinition } from 'shardflow';
import type { KinesisStreamEvent } from '../../lib/io/kinesis-event';
import { KinesisWriter } from '../../lib/io/kinesis-writer';
import { SinkWriter } from '../../lib/io/sinks';
import { createStageHandler, shuffleWritersFor } from '../../lib/io/stage-handler';
import { createWatermarkHandler } from '../../lib/io/watermark-handler';
import { sourceBacklogOf } from '../../lib/io/source-backlog';
import { toKinesisEvent } from '../../lib/local/lambda-event';
import { startDynamo, startKinesis, type Emulator } from '../../lib/local/emulators';
import { createResources } from '../../lib/local/resources';
import type { Plan } from '../../lib/plan/plan';
import { planJob } from '../../lib/plan/planner';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { listShardIds, shardLineage } from '../../lib/io/shard-list';
import { DynamoCoordination } from '../../lib/state/dynamodb/dynamo-coordination';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { ShardStates } from '../../lib/state/shard-states';

export class Pipeline {
  readonly plan: Plan;
  readonly logs: DynamoLogStore;
  readonly coordination: DynamoCoordination;
  readonly sinks: SinkWriter;
  /** A stage function's container: its cache of keyed shard states (replace it to lose the cache). */
  states: ShardStates;
  readonly logged: Record<string, unknown>[] = [];
  handlers: Map<string, (e: KinesisStreamEvent) => Promise<unknown>>;
  /** Per stream and shard, the last sequence number handed to a handler. */
  private readonly checkpoints = new Map<string, string>();
  nowMs = 1_700_000_000_000;

  constructor(
    job: JobDefinition,
    readonly kinesis: KinesisClient,
    readonly ddb: DynamoDBClient,
    readonly batchSize = 500,
  ) {
    this.plan = planJob(job);
    this.logs = new DynamoLogStore(ddb, this.plan.stateTable, { clock: () => this.nowMs });
    this.coordination = new DynamoCoordination(ddb, this.plan.stateTable);
    this.states = new ShardStates(this.logs, { clock: () => this.nowMs });
    this.sinks = new SinkWriter(this.plan, ddb, kinesis, (line) => this.logged.push(JSON.parse(line)));
    this.handlers = this.newHandlers();
  }

  /** Another container: a cold cache of keyed shard states, the same logs. */
  loseCaches(): void {
    this.states = new ShardStates(this.logs, { clock: () => this.nowMs });
    this.handlers = this.newHandlers();
  }

  private newHandlers(): Map<string, (e: KinesisStreamEvent) => Promise<unknown>> {
    return new Map(
      this.plan.stages.map((s) => [
        s.id,
        createStageHandler({
          plan: this.plan,
          stageId: s.id,
          ...(s.keyed && { states: this.states }),
          coordination: this.coordination,
          sinks: this.sinks,
          clock: () => this.nowMs,
          shuffleWriters: shuffleWritersFor(s, (stream) => new KinesisWriter(this.kinesis, stream)),
          ...(s.keyed && { lineage: (shardId: string) => shardLineage(this.kinesis, s.input.stream, shardId) }),
        }),
      ]),
    );
  }

  async create(): Promise<this> {
    await createResources(this.plan, this.kinesis, this.ddb);
    return this;
  }

  /** Puts events (JSON, or raw strings as given) on the source stream, partitioned by `partitionKey`. */
  async put(events: readonly unknown[], partitionKey: (e: unknown, i: number) => string = (_e, i) => `p${i}`): Promise<void> {
    const stream = this.plan.stages[0]!.input.stream;
    for (let i = 0; i < events.length; i += 500) {
      const slice = events.slice(i, i + 500);
      const out = await this.kinesis.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: slice.map((e, j) => ({ PartitionKey: partitionKey(e, i + j), Data: Buffer.from(typeof e === 'string' ? e : JSON.stringify(e)) })),
        }),
      );
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
    }
  }

  /** The next batch of a stage's input shard (from its checkpoint), without running it. */
  async nextBatch(stageId: string, shardId: string, from?: { after: string | undefined }): Promise<{ event: KinesisStreamEvent; records: _Record[] }> {
    const stage = this.plan.stages.find((s) => s.id === stageId)!;
    const stream = stage.input.stream;
    const after = from ? from.after : this.checkpoints.get(`${stream}/${shardId}`);
    const { ShardIterator } = await this.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shardId,
        ...(after ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after } : { ShardIteratorType: 'TRIM_HORIZON' }),
      }),
    );
    const { Records = [] } = await this.kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: this.batchSize }));
    return { event: toKinesisEvent(Records, shardId, `arn:aws:kinesis:us-east-1:000000000000:stream/${stream}`), records: Records };
  }

  /** Runs a stage's handler on an event (as Lambda would). */
  async invoke(stageId: string, event: KinesisStreamEvent): Promise<unknown> {
    return this.handlers.get(stageId)!(event);
  }

  /** Moves a shard's checkpoint past a batch (Lambda does after a successful invocation). */
  checkpoint(stageId: string, shardId: string, records: readonly _Record[]): void {
    const last = records[records.length - 1];
    const stream = this.plan.stages.find((s) => s.id === stageId)!.input.stream;
    if (last) this.checkpoints.set(`${stream}/${shardId}`, last.SequenceNumber!);
  }

  async shards(stageId: string): Promise<string[]> {
    const stream = this.plan.stages.find((s) => s.id === stageId)!.input.stream;
    const { Shards = [] } = await this.kinesis.send(new ListShardsCommand({ StreamName: stream }));
    return Shards.map((s) => s.ShardId!);
  }

  /** Runs every stage on everything waiting, stage by stage, until all streams are drained. */
  async pump(): Promise<number> {
    let batches = 0;
    for (let moved = true; moved; ) {
      moved = false;
      for (const stage of this.plan.stages) {
        for (const shardId of await this.shards(stage.id)) {
          for (;;) {
            const { event, records } = await this.nextBatch(stage.id, shardId);
            if (records.length === 0) break;
            await this.invoke(stage.id, event);
            this.checkpoint(stage.id, shardId, records);
            batches += 1;
            moved = true;
          }
        }
      }
    }
    return batches;
  }

  /** One run of the watermark function: a tick on every shard of every shuffled keyed stage, then `pump` delivers them. */
  async tick(): Promise<void> {
    await createWatermarkHandler({
      plan: this.plan,
      logs: this.logs,
      coordination: this.coordination,
      writerFor: (stream) => new KinesisWriter(this.kinesis, stream),
      listShards: (stream) => listShardIds(this.kinesis, stream),
      sourceBacklog: sourceBacklogOf(this.kinesis),
      clock: () => this.nowMs,
    })();
    await this.pump();
  }

  /** A keyed stage's shard states as their logs have them (a cold load), for before/after comparisons. */
  async keyedState(stageId: string): Promise<Record<string, unknown>> {
    const cold = new ShardStates(this.logs);
    const state: Record<string, unknown> = {};
    for (const shardId of await this.shards(stageId)) {
      const s = await cold.current({ stageId, shardId });
      state[shardId] = { watermarkMs: s.watermarkMs, keys: Object.fromEntries([...s.keys()].map((k) => [k, s.get(k)])) };
    }
    return state;
  }

  async scan(table: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, never> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start && { ExclusiveStartKey: start }) }));
      items.push(...(page.Items ?? []).map((i) => unmarshall(i)));
      start = page.LastEvaluatedKey as typeof start;
    } while (start);
    return items;
  }

  /** A sink table's items without their ids and result orders, sorted by key and window. */
  async results(table: string): Promise<Record<string, unknown>[]> {
    const rows = (await this.scan(table)).map(({ id: _id, resultOrder: _order, ...rest }) => rest);
    return rows.sort((a, b) => (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : Number(a.windowStart) - Number(b.windowStart)));
  }
}

/**
 * Both emulators for the calling test file (started before its tests, stopped after them), and a maker
 * of pipelines on them: `const pipeline = pipelinesOnEmulators(); … await pipeline(job, 100).create()`.
 */
export function pipelinesOnEmulators(): (job: JobDefinition, batchSize?: number) => Pipeline {
  let emulators: Emulator[] = [];
  let kinesis: KinesisClient | undefined;
  let ddb: DynamoDBClient | undefined;
  beforeAll(async () => {
    const [k, d] = (emulators = await Promise.all([startKinesis(), startDynamo()]));
    kinesis = kinesisClient({ endpoint: k!.endpoint });
    ddb = dynamoClient({ endpoint: d!.endpoint });
  });
  afterAll(async () => {
    kinesis?.destroy();
    ddb?.destroy();
    await Promise.all(emulators.map((e) => e.stop()));
  });
  return (job, batchSize) => new Pipeline(job, kinesis!, ddb!, batchSize);
}
