/**
 * The shard log on a real DynamoDB emulator (dynalite): the same contract as the memory store, plus what
 * only the deployed store does — items within DynamoDB's 400 KB, a TTL on every item, billing by size.
 */
import { GetItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { stateTableDefinition, TTL_ATTRIBUTE } from '../../infra/tables';
import { dynamoClient } from '../../lib/io/aws-clients';
import { startDynamo, type Emulator } from '../../lib/local/emulators';
import { createTable } from '../../lib/local/resources';
import type { Plan } from '../../lib/plan/plan';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { describeLogStoreConformance } from '../state/log-store-conformance';

jest.setTimeout(60_000);

const TABLE = 'log-store-state';
const NOW_MS = 1_700_000_000_000;
let emulator: Emulator;
let ddb: DynamoDBClient;
let store: DynamoLogStore;

beforeAll(async () => {
  emulator = await startDynamo();
  ddb = dynamoClient({ endpoint: emulator.endpoint });
  await createTable(ddb, stateTableDefinition({ stateTable: TABLE } as Plan));
  store = new DynamoLogStore(ddb, TABLE, { clock: () => NOW_MS, retentionSeconds: 3600 });
});
afterAll(async () => {
  ddb?.destroy();
  await emulator?.stop();
});

describeLogStoreConformance('DynamoDB (dynalite)', () => store);

describe('the DynamoDB log store', () => {
  const log = { stageId: 's9', shardId: 'shardId-000000000007' };

  test('a small entry is one item with a TTL; a large one is chunks under 400 KB named by the slot item, every one with a TTL', async () => {
    await store.append(log, { slot: 1, kind: 'delta', body: Buffer.from('small'), writtenAtMs: NOW_MS });
    await store.append(log, { slot: 2, kind: 'snapshot', body: Buffer.alloc(900_000, 7), writtenAtMs: NOW_MS });
    const expiresAt = String(NOW_MS / 1000 + 3600);
    const small = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'l#s9#shardId-000000000007' }, sk: { S: '000000000001' } } }));
    expect(small.Item?.[TTL_ATTRIBUTE]?.N).toBe(expiresAt);
    const big = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'l#s9#shardId-000000000007' }, sk: { S: '000000000002' } } }));
    expect(big.Item?.chunks?.N).toBe('3');
    expect(big.Item?.body).toBeUndefined();
    const chunks = await ddb.send(
      new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `lc#s9#shardId-000000000007#000000000002#${big.Item!.nonce!.S}` } } }),
    );
    expect(chunks.Items!.map((c) => c.body!.B!.byteLength)).toEqual([350_000, 350_000, 200_000]);
    expect(chunks.Items!.every((c) => c[TTL_ATTRIBUTE]?.N === expiresAt)).toBe(true);
  });

  test('write units follow bytes (per started KB, keys included); a refused append bills too', async () => {
    const other = { stageId: 's9', shardId: 'shardId-000000000008' };
    const before = { ...store.counters };
    await store.append(other, { slot: 1, kind: 'delta', body: Buffer.alloc(3_000, 1), writtenAtMs: NOW_MS });
    await store.append(other, { slot: 1, kind: 'delta', body: Buffer.alloc(2_000, 1), writtenAtMs: NOW_MS });
    expect(store.counters.writeUnits - before.writeUnits).toBe(4 + 3); // 3,100 and 2,100 bytes with keys
    expect(store.counters.refused - before.refused).toBe(1);
  });
});
