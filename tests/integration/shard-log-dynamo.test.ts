/**
 * The state-log properties on DynamoDB (dynalite), not only on the memory store: the shard log under
 * Lambda's delivery with crashes, zombies, stale and lost caches (decimal values, whose sums show any record
 * applied out of order), the real stage executor with a windowed operator with allowed lateness under the
 * same faults, and the windows of the harness (non-integer values, allowed lateness, replayed batches) with
 * its state on DynamoDB. Fewer runs than on the memory store: each batch here crosses the wire.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { stateTableDefinition } from '../../infra/tables';
import { dynamoClient } from '../../lib/io/aws-clients';
import { startDynamo, type Emulator } from '../../lib/local/emulators';
import { createTable } from '../../lib/local/resources';
import type { Plan } from '../../lib/plan/plan';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { NamespacedLogStore } from '../state/namespaced-log-store';
import { describeShardLogProperties } from '../state/shard-log-properties';
import { describeWindowProperties } from '../state/window-properties';

jest.setTimeout(180_000);

const TABLE = 'property-state';
let emulator: Emulator;
let ddb: DynamoDBClient;
let store: DynamoLogStore;

beforeAll(async () => {
  emulator = await startDynamo();
  ddb = dynamoClient({ endpoint: emulator.endpoint });
  await createTable(ddb, stateTableDefinition({ stateTable: TABLE } as Plan));
  store = new DynamoLogStore(ddb, TABLE);
});
afterAll(async () => {
  ddb?.destroy();
  await emulator?.stop();
});

/** Each run its own logs, in one table. */
const logs = (): NamespacedLogStore => new NamespacedLogStore(store);

describeShardLogProperties({ name: 'DynamoDB', store: logs, values: 'decimals', runs: { log: 30, stage: 20 }, endOnFailure: true });
describeWindowProperties({ name: 'DynamoDB', logs, runs: 15, seed: 5150, endOnFailure: true });
