import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, ResourceInUseException as StreamInUse, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Plan } from '../plan/plan';
import { tableDefinitions, type TableDefinition } from '../../infra/tables';

/**
 * Creates a plan's streams and tables in the emulators (or any endpoint) from the same definitions
 * `infra/` turns into CloudFormation. Existing ones are kept (a restart with --data finds them).
 */
export async function createResources(plan: Plan, kinesis: KinesisClient, ddb: DynamoDBClient): Promise<void> {
  await Promise.all([
    ...plan.streams.map((s) => createStream(kinesis, s.name, s.shards)),
    ...tableDefinitions(plan).map((t) => createTable(ddb, t)),
  ]);
}

export async function createStream(kinesis: KinesisClient, name: string, shards: number): Promise<void> {
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  } catch (e) {
    if (!(e instanceof StreamInUse) && (e as { name?: string }).name !== 'ResourceInUseException') throw e;
  }
  await waitFor(`stream ${name}`, async () => {
    const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return s?.StreamStatus === 'ACTIVE';
  });
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
  await waitFor(`table ${t.TableName}`, async () => {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: t.TableName }));
    return Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
  });
  if (t.TimeToLiveSpecification) {
    try {
      await ddb.send(new UpdateTimeToLiveCommand({ TableName: t.TableName, TimeToLiveSpecification: t.TimeToLiveSpecification }));
    } catch {
      // Emulators without TTL keep closed items; nothing depends on their removal.
    }
  }
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} was not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
