/**
 * Empty tables for a benchmark run on an emulator that outlives one run: drop each table if it exists,
 * wait until DynamoDB says it is gone (a delete is not instant, even on dynalite), create it again.
 */
import { DeleteTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createTable } from '../lib/local/resources';
import type { TableDefinition } from '../infra/tables';

export async function recreateTables(ddb: DynamoDBClient, definitions: readonly TableDefinition[]): Promise<void> {
  for (const definition of definitions) {
    await ddb.send(new DeleteTableCommand({ TableName: definition.TableName })).catch(() => undefined);
    for (;;) {
      const exists = await ddb.send(new DescribeTableCommand({ TableName: definition.TableName })).then(
        () => true,
        () => false,
      );
      if (!exists) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await createTable(ddb, definition);
  }
}
