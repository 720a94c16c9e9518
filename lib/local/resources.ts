import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, ResourceInUseException as StreamInUse, UpdateStreamModeCommand, type KinesisClient, type StreamMode } from '@aws-sdk/client-kinesis';
import type { Plan } from '../plan/plan';
import { tableDefinitions, type TableDefinition } from '../../infra/tables';

/**
 * Creates a plan's streams and tables in the emulators (or any endpoint) from the same definitions
 * `infra/` turns into CloudFormation. Existing ones are kept (a restart with --data finds them).
 */
export async function createResources(plan: Plan, kinesis: KinesisClient, ddb: DynamoDBClient): Promise<void> {
  await Promise.all([
    ...plan.streams.map((s) => createStream(kinesis, s.name, s.shards, s.onDemand === true)),
    ...tableDefinitions(plan).map((t) => createTable(ddb, t)),
  ]);
}

/**
 * A stream with `shards`, or in on-demand mode (no shard count: the emulator, like Kinesis, starts it at 4).
 * A stream kept from an earlier run keeps its shards, but takes the mode asked for, as a deployment's
 * update would (`UpdateStreamMode`).
 */
export async function createStream(kinesis: KinesisClient, name: string, shards: number, onDemand = false): Promise<void> {
  const mode: StreamMode = onDemand ? 'ON_DEMAND' : 'PROVISIONED';
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: name, StreamModeDetails: { StreamMode: mode }, ...(!onDemand && { ShardCount: shards }) }));
  } catch (e) {
    if (!(e instanceof StreamInUse) && (e as { name?: string }).name !== 'ResourceInUseException') throw e;
  }
  const active = async (): Promise<{ arn: string | undefined; mode: string | undefined } | undefined> => {
    const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return s?.StreamStatus === 'ACTIVE' ? { arn: s.StreamARN, mode: s.StreamModeDetails?.StreamMode ?? 'PROVISIONED' } : undefined;
  };
  let summary: Awaited<ReturnType<typeof active>>;
  await waitFor(`stream ${name}`, async () => (summary = await active()) !== undefined);
  if (summary!.mode === mode) return;
  await kinesis.send(new UpdateStreamModeCommand({ StreamARN: summary!.arn, StreamModeDetails: { StreamMode: mode } }));
  await waitFor(`stream ${name} in ${mode} mode`, async () => (await active())?.mode === mode);
}

export async function createTable(ddb: DynamoDBClient, t: TableDefinition): Promise<void> {
  try {
    await ddb.send(
      new CreateTableCommand({
        TableName: t.TableName,
        AttributeDefinitions: t.AttributeDefinitions,
        KeySchema: t.KeySchema,
        BillingMode: t.BillingMode,
        SSESpecification: { Enabled: t.SSESpecification.SSEEnabled },
        ...(t.GlobalSecondaryIndexes && { GlobalSecondaryIndexes: t.GlobalSecondaryIndexes }),
      }),
    );
  } catch (e) {
    if (!(e instanceof ResourceInUseException) && (e as { name?: string }).name !== 'ResourceInUseException') throw e;
  }
  await waitForTable(ddb, t.TableName);
  if (t.TimeToLiveSpecification) {
    try {
      await ddb.send(new UpdateTimeToLiveCommand({ TableName: t.TableName, TimeToLiveSpecification: t.TimeToLiveSpecification }));
    } catch {
      // Emulators without TTL keep closed items; nothing depends on their removal.
    }
  }
}

/**
 * Waits until a table and its indexes are ACTIVE: CreateTable answers CREATING, on AWS and in dynalite
 * (which turns it ACTIVE a moment later even with a 0 ms delay), and until then the table's items are
 * "not found".
 */
export async function waitForTable(ddb: DynamoDBClient, name: string): Promise<void> {
  await waitFor(`table ${name}`, async () => {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: name }));
    return Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
  });
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} was not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
