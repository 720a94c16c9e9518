/**
 * Lookup joins (`JOIN t FOR SYSTEM_TIME AS OF x.proc_time`) against a real DynamoDB table (dynalite): Nexmark
 * q13 as written for Flink, its side input a DynamoDB table, on generated bids, against sqlite3; LEFT
 * lookups; the cache's processing-time semantics; the errors a user can meet, at plan time and per row.
 */
import { CreateTableCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { compileSql, planJob } from 'shardflow';
import { harness } from 'shardflow/testing';
import { dynamoClient } from '../../lib/io/aws-clients';
import { startDynamo, type Emulator } from '../../lib/local/emulators';
import { waitForTable } from '../../lib/local/resources';
import { nexmarkRows } from '../../lib/nexmark';
import { deployment } from '../../infra/cloudformation';
import { compileNexmark, SIDE_INPUT_TABLE } from '../fixtures/nexmark/queries';
import { loadSideInput, SIDE_INPUT_ROWS } from '../fixtures/nexmark/side-input';
import { byJson, sqliteOnBids } from '../unit/sql-reference';

let dynamo: Emulator;
let ddb: DynamoDBClient;
const endpointBefore = process.env.SHARDFLOW_ENDPOINT_URL;

/** Nexmark's side input (side_input.txt: `i,i` for i below 10,000), without the keys that are multiples of 7: bids whose key has no item. */
const SIDE_KEYS = Array.from({ length: SIDE_INPUT_ROWS }, (_, i) => i).filter((i) => i % 7 !== 0);


beforeAll(async () => {
  dynamo = await startDynamo();
  ddb = dynamoClient({ endpoint: dynamo.endpoint });
  // The stage's lookups reach the emulator as a deployed function's reach DynamoDB: through the endpoint setting.
  process.env.SHARDFLOW_ENDPOINT_URL = dynamo.endpoint;
  await loadSideInput(ddb, SIDE_KEYS);
}, 120_000);

afterAll(async () => {
  if (endpointBefore === undefined) delete process.env.SHARDFLOW_ENDPOINT_URL;
  else process.env.SHARDFLOW_ENDPOINT_URL = endpointBefore;
  ddb?.destroy();
  await dynamo?.stop();
});

/** 1,000 Nexmark bids at 10 per second. */
const BIDS = nexmarkRows('bid', { count: 1000, eventsPerSecond: 10, seed: 13 });

async function run(job: ReturnType<typeof compileSql>, input: readonly object[]): Promise<{ results: Record<string, unknown>[]; dead: ReturnType<ReturnType<typeof harness>['deadLetters']> }> {
  const h = harness(job, { watermarks: 'strategy' });
  for (let i = 0; i < input.length; i += 100) await h.sendBatch(input.slice(i, i + 100));
  await h.finish();
  return { results: h.results() as Record<string, unknown>[], dead: h.deadLetters() };
}

/** sqlite3's side_input: the same keys, each with its own number as text. */
const SQLITE_SIDE_INPUT = `CREATE TABLE side_input (key INTEGER PRIMARY KEY, value TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) INSERT INTO side_input SELECT i, CAST(i AS TEXT) FROM n WHERE i % 7 <> 0;`;

describe('Nexmark q13: bids enriched from a DynamoDB table, as of their processing time', () => {
  test('plans as one stage reading the table, and the deployment may read that table only', () => {
    const result = compileNexmark(13);
    if ('error' in result) throw result.error;
    const plan = planJob(result.job);
    expect(plan.stages).toHaveLength(1);
    const template = JSON.stringify(deployment(plan, { service: 'shardflow-q13', stage: 'prod', bundleDir: '.build/q13', nameSuffix: '-prod' }).resources);
    expect(template).toContain(`table/${SIDE_INPUT_TABLE}`);
    expect(template).toMatch(/"dynamodb:GetItem","dynamodb:BatchGetItem","dynamodb:Query"\],"Resource":\[\{"Fn::Sub":"arn:\$\{AWS::Partition\}:dynamodb:\$\{AWS::Region\}:\$\{AWS::AccountId\}:table\/nexmark-side-input"\}\]/);
  });

  test('equals sqlite3 joining the bids with the side input (a bid whose key has no item is dropped)', async () => {
    const result = compileNexmark(13);
    if ('error' in result) throw result.error;
    const { results, dead } = await run(result.job, BIDS);
    expect(dead).toEqual([]);
    const expected = sqliteOnBids(BIDS, `${SQLITE_SIDE_INPUT}\nSELECT B.auction, B.bidder, B.price, B.t AS dateTime, S.value FROM bid B JOIN side_input S ON B.auction % 10000 = S.key;`);
    expect(results.length).toBeLessThan(BIDS.length);
    expect(results.length).toBeGreaterThan(0);
    expect(byJson(results)).toEqual(byJson(expected));
  });
});

const LEFT_JOIN = `
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, \`dateTime\` TIMESTAMP(3),
  WATERMARK FOR \`dateTime\` AS \`dateTime\` - INTERVAL '4' SECOND) WITH ('connector' = 'kinesis', 'stream' = 'bids');
CREATE TABLE names (key BIGINT, \`value\` STRING) WITH ('connector' = 'dynamodb', 'table-name' = '${SIDE_INPUT_TABLE}');
CREATE TABLE enriched (auction BIGINT, price BIGINT, name STRING) WITH ('connector' = 'print');
INSERT INTO enriched
SELECT B.auction, B.price, N.\`value\`
FROM (SELECT *, PROCTIME() AS p FROM bid) AS B
LEFT JOIN names FOR SYSTEM_TIME AS OF B.p AS N ON N.key = B.auction % 10000
WHERE B.price > 100;`;

test('a LEFT lookup join keeps a row without an item, its columns NULL; WHERE filters after', async () => {
  const { results, dead } = await run(compileSql(LEFT_JOIN), BIDS);
  expect(dead).toEqual([]);
  const expected = sqliteOnBids(BIDS, `${SQLITE_SIDE_INPUT}\nSELECT B.auction, B.price, S.value AS name FROM bid B LEFT JOIN side_input S ON B.auction % 10000 = S.key WHERE B.price > 100;`);
  expect(results.some((r) => r.name === null)).toBe(true);
  expect(byJson(results)).toEqual(byJson(expected));
});

describe('processing time: what the table holds when the row is read', () => {
  const script = (cache: string): string => `
CREATE TABLE clicks (userId STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'kinesis');
CREATE TABLE tiers (key STRING, tier STRING) WITH ('connector' = 'dynamodb', 'table-name' = 'tiers'${cache});
CREATE TABLE out (userId STRING, tier STRING) WITH ('connector' = 'print');
INSERT INTO out SELECT c.userId, t.tier FROM (SELECT *, PROCTIME() AS p FROM clicks) c JOIN tiers FOR SYSTEM_TIME AS OF c.p AS t ON c.userId = t.key;`;
  const setTier = (tier: string): Promise<unknown> => ddb.send(new PutItemCommand({ TableName: 'tiers', Item: { key: { S: 'ann' }, tier: { S: tier } } }));

  beforeAll(async () => {
    await ddb.send(
      new CreateTableCommand({ TableName: 'tiers', KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }),
    );
    await waitForTable(ddb, 'tiers');
  });

  test.each([
    ['without a cache, a row after the change reads the new item', '', ['gold', 'platinum']],
    ["with 'lookup.cache' = 'PARTIAL', the instance keeps the item it read until it expires", ", 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.expire-after-write' = '1 h'", ['gold', 'gold']],
  ])('%s', async (_name, cache, tiers) => {
    await setTier('gold');
    const h = harness(compileSql(script(cache)), { watermarks: 'strategy' });
    await h.sendBatch([{ userId: 'ann', ts: 1000 }]);
    await setTier('platinum');
    await h.sendBatch([{ userId: 'ann', ts: 2000 }]);
    await h.finish();
    expect(h.deadLetters()).toEqual([]);
    expect(h.results().map((r) => (r as { tier: string }).tier)).toEqual(tiers);
  });
});

test('a missing DynamoDB table: each row is a dead letter whose reason names the table and what to do', async () => {
  const sql = LEFT_JOIN.replace(`'table-name' = '${SIDE_INPUT_TABLE}'`, "'table-name' = 'no-such-table'");
  const input = BIDS.filter((b) => b.price > 100).slice(0, 3);
  const { results, dead } = await run(compileSql(sql), input);
  expect(results).toEqual([]);
  expect(dead).toHaveLength(3);
  expect(dead[0]!.reason).toMatch(/the lookup table names reads the DynamoDB table no-such-table, which does not exist: create it, or name another with 'table-name'/);
});

test('a key that is not the table\'s: the reason says the ON equalities must name its key attributes', async () => {
  const sql = LEFT_JOIN.replace('CREATE TABLE names (key BIGINT,', 'CREATE TABLE names (id BIGINT, key BIGINT,').replace('ON N.key = B.auction % 10000', 'ON N.id = B.auction % 10000');
  const { dead } = await run(compileSql(sql), BIDS.filter((b) => b.price > 100).slice(0, 1));
  expect(dead).toHaveLength(1);
  expect(dead[0]!.reason).toMatch(/the ON equalities must name the table's key attributes/);
});

describe('plan-time errors name the construct', () => {
  const refused = (sql: string): string => {
    try {
      compileSql(sql);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('compiled, but should be refused');
  };

  test.each([
    ['no key equality', LEFT_JOIN.replace('ON N.key = B.auction % 10000', 'ON N.key > B.auction'), /a lookup join needs the key it looks up by: ON <an expression of B> = N\.<a key column of names>/],
    ['AS OF an event-time column', LEFT_JOIN.replace('FOR SYSTEM_TIME AS OF B.p', 'FOR SYSTEM_TIME AS OF B.`dateTime`'), /FOR SYSTEM_TIME AS OF B\.dateTime: a lookup join looks up as of the row's processing time, a PROCTIME\(\) column of B/],
    ['a LEFT join with more in ON', LEFT_JOIN.replace('ON N.key = B.auction % 10000', "ON N.key = B.auction % 10000 AND N.`value` <> 'x'"), /in the ON of a LEFT lookup join is not supported yet — ON names only the key equalities; filter in WHERE/],
    ['a Kinesis table looked up', LEFT_JOIN.replace("WITH ('connector' = 'dynamodb', 'table-name' = '" + SIDE_INPUT_TABLE + "')", "WITH ('connector' = 'kinesis')"), /table names is read FOR SYSTEM_TIME AS OF \(a lookup join\), but 'kinesis' tables cannot be looked up — lookup tables are 'connector' = 'dynamodb'/],
    ['a FULL lookup join', LEFT_JOIN.replace('LEFT JOIN names', 'FULL JOIN names'), /FULL JOIN … FOR SYSTEM_TIME AS OF is not supported — a lookup join is an INNER or a LEFT JOIN/],
    ['a key of another type', LEFT_JOIN.replace('ON N.key = B.auction % 10000', 'ON N.`value` = B.auction'), /ON B\.auction = N\.value: INT beside STRING — CAST one side/],
    ['a cache option without the cache', LEFT_JOIN.replace("'table-name' = '" + SIDE_INPUT_TABLE + "'", "'table-name' = 't', 'lookup.partial-cache.max-rows' = '10'"), /'lookup.partial-cache.max-rows' needs 'lookup.cache' = 'PARTIAL'/],
    ['AS OF on the left table', 'CREATE TABLE a (k INT) WITH (\'connector\' = \'kinesis\'); CREATE TABLE o (k INT) WITH (\'connector\' = \'print\'); INSERT INTO o SELECT k FROM a FOR SYSTEM_TIME AS OF PROCTIME();', /FOR SYSTEM_TIME AS OF belongs to the table after JOIN/],
  ])('%s', (_name, sql, message) => {
    expect(refused(sql)).toMatch(message);
  });
});
