import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import {
  CreateTableCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { startEdge, type Edge } from '../../lib/local/edge';
import { startDynamo, startKinesis, type Emulator } from '../../lib/local/emulators';
import { freePort } from '../../lib/local/free-port';
import { waitForTable } from '../../lib/local/resources';
import { until } from '../e2e/dev-process';
import { putAll, recordNumbers, waitForActive } from './kinesis-bulk';

const run = promisify(execFile);
/** Enough records (20,000 of 100 bytes) that the emulator's save takes seconds. */
const BULK_RECORDS = 20_000;
const BULK_RECORD_BYTES = 100;

/** Reads every record currently in every shard, from TRIM_HORIZON. */
async function readAll(client: KinesisClient, streamName: string): Promise<Array<{ shardId: string; data: string }>> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
  const out: Array<{ shardId: string; data: string }> = [];
  for (const shard of Shards) {
    const shardId = shard.ShardId ?? '';
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const { Records = [] } = await client.send(new GetRecordsCommand({ ShardIterator }));
    for (const record of Records) out.push({ shardId, data: Buffer.from(record.Data ?? []).toString('utf8') });
  }
  return out;
}

describe('emulators behind the edge', () => {
  let kinesis: Emulator | undefined;
  let dynamo: Emulator | undefined;
  let edge: Edge | undefined;
  let kc: KinesisClient;
  let dc: DynamoDBClient;

  beforeAll(async () => {
    [kinesis, dynamo] = await Promise.all([startKinesis(), startDynamo()]);
    edge = await startEdge({ port: await freePort(), kinesis: kinesis.endpoint, dynamodb: dynamo.endpoint });
    kc = kinesisClient({ endpoint: edge.url });
    dc = dynamoClient({ endpoint: edge.url });
  }, 60_000);

  afterAll(async () => {
    kc?.destroy();
    dc?.destroy();
    await edge?.close();
    await Promise.all([kinesis?.stop(), dynamo?.stop()]);
  });

  test('Kinesis: 2-shard stream, PutRecords 10, read all 10 back from both shards', async () => {
    const StreamName = 'edge-roundtrip';
    await kc.send(new CreateStreamCommand({ StreamName, ShardCount: 2 }));
    await waitForActive(kc, StreamName);

    const payloads = Array.from({ length: 10 }, (_, i) => `record-${i}`);
    const put = await kc.send(
      new PutRecordsCommand({
        StreamName,
        Records: payloads.map((p, i) => ({ PartitionKey: `key-${i}`, Data: Buffer.from(p) })),
      }),
    );
    expect(put.FailedRecordCount).toBe(0);

    const records = await readAll(kc, StreamName);
    expect(records.map((r) => r.data).sort()).toEqual([...payloads].sort());
    // These ten keys hash to both halves of the key space.
    expect(new Set(records.map((r) => r.shardId)).size).toBe(2);
  });

  test('DynamoDB: PutItem, failing conditional UpdateItem, GetItem', async () => {
    const TableName = 'edge-items';
    await dc.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await waitForTable(dc, TableName);
    const Key = { pk: { S: 'k1' } };
    await dc.send(new PutItemCommand({ TableName, Item: { ...Key, version: { N: '1' } } }));

    await expect(
      dc.send(
        new UpdateItemCommand({
          TableName,
          Key,
          UpdateExpression: 'SET version = :next',
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':next': { N: '3' }, ':expected': { N: '2' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });

    const { Item } = await dc.send(new GetItemCommand({ TableName, Key, ConsistentRead: true }));
    expect(Item).toEqual({ pk: { S: 'k1' }, version: { N: '1' } });
  });

  // The AWS CLI v1 is part of the machine this project targets (see README): no skip when it is missing.
  test('AWS CLI lists streams and tables through the edge', async () => {
    await kc.send(new CreateStreamCommand({ StreamName: 'cli-visible', ShardCount: 1 }));
    await dc.send(
      new CreateTableCommand({
        TableName: 'cli-visible',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    const url = edge?.url ?? '';
    const [streams, tables] = await Promise.all([
      run('aws', ['--endpoint-url', url, '--output', 'json', 'kinesis', 'list-streams'], { env }),
      run('aws', ['--endpoint-url', url, '--output', 'json', 'dynamodb', 'list-tables'], { env }),
    ]);
    expect((JSON.parse(streams.stdout) as { StreamNames: string[] }).StreamNames).toContain('cli-visible');
    expect((JSON.parse(tables.stdout) as { TableNames: string[] }).TableNames).toContain('cli-visible');
  });

  test('edge answers an unknown X-Amz-Target with a 400 naming it', async () => {
    const res = await fetch(`${edge?.url}/`, {
      method: 'POST',
      headers: { 'x-amz-target': 'Lambda_20150331.Invoke', 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Lambda_20150331.Invoke');
  });

  test('edge and emulators reject a port that is in use with a one-line reason', async () => {
    const taken = kinesis?.port ?? 0;
    await expect(
      startEdge({ port: taken, kinesis: kinesis?.endpoint ?? '', dynamodb: dynamo?.endpoint ?? '' }),
    ).rejects.toThrow(`port ${taken} is in use`);
    await expect(startDynamo({ port: taken })).rejects.toThrow(`port ${taken} is in use`);
  });
});

describe('emulator process lifecycle', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'shardflow-emulators-'));
  const started: Emulator[] = [];

  afterAll(async () => {
    await Promise.all(started.map((e) => e.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  function isRunning(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  test('stop() leaves no process behind', async () => {
    const dynamo = await startDynamo();
    started.push(dynamo);
    expect(isRunning(dynamo.pid)).toBe(true);
    await dynamo.stop();
    expect(isRunning(dynamo.pid)).toBe(false);
    await dynamo.stop(); // idempotent
  });

  test('Kinesis data in dataDir survives a restart', async () => {
    const StreamName = 'persisted';
    const first = await startKinesis({ dataDir });
    started.push(first);
    const c1 = kinesisClient({ endpoint: first.endpoint });
    await c1.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
    await waitForActive(c1, StreamName);
    await c1.send(new PutRecordCommand({ StreamName, PartitionKey: 'p', Data: Buffer.from('kept') }));
    await first.stop(); // c1 still holds a keep-alive socket: stop must not wait on it
    c1.destroy();
    expect(isRunning(first.pid)).toBe(false);

    const second = await startKinesis({ dataDir });
    started.push(second);
    const c2 = kinesisClient({ endpoint: second.endpoint });
    try {
      expect((await readAll(c2, StreamName)).map((r) => r.data)).toEqual(['kept']);
    } finally {
      c2.destroy();
    }
  });
  // kinesis-local saves its whole data set as one JSON document, every 2 s and
  // on shutdown. With tens of MB that last save starts seconds after SIGTERM;
  // it used to be cut short (a 5 s grace), or the process died before it — of
  // an EPIPE on its output once the parent was gone, or of the error of the
  // periodic save the shutdown cancelled — and the writes since the previous
  // save were lost (the likely cause of a chaos run's lost shuffle records).
  test('a persisting Kinesis keeps every acknowledged record of a large data set, whether its parent is killed or stops it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardflow-kinesis-save-'));
    // The parent is a separate Node process (TypeScript through the repo's loader) so it can really die.
    const parentScript = join(dir, 'parent.js');
    writeFileSync(
      parentScript,
      `require(${JSON.stringify(resolve('bin/register.js'))});
       const { putAll } = require(${JSON.stringify(resolve('tests/integration/kinesis-bulk.ts'))});
       const { startKinesis } = require(${JSON.stringify(resolve('lib/local/emulators.ts'))});
       (async () => {
         const kinesis = await startKinesis({ dataDir: ${JSON.stringify(dir)} });
         await putAll(kinesis.endpoint, 'bulk', { first: 0, count: ${BULK_RECORDS}, bytes: ${BULK_RECORD_BYTES}, create: true });
         console.log(JSON.stringify({ pid: kinesis.pid }));
         setInterval(() => {}, 1000);
       })();`,
    );
    const parent = spawn(process.execPath, [parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let emulatorPid = 0;
    try {
      const { pid } = await new Promise<{ pid: number }>((resolveLine, reject) => {
        parent.stdout.once('data', (chunk: Buffer) => resolveLine(JSON.parse(chunk.toString()) as { pid: number }));
        parent.once('exit', (code) => reject(new Error(`parent exited (${code}) before its records were acknowledged`)));
      });
      emulatorPid = pid;
      parent.kill('SIGKILL');
      await until('the orphaned emulator to save and exit', async () => !isRunning(pid), 90_000);

      const second = await startKinesis({ dataDir: dir });
      started.push(second);
      expect((await recordNumbers(second.endpoint, 'bulk')).size).toBe(BULK_RECORDS);
      const more = { first: BULK_RECORDS, count: BULK_RECORDS / 10, bytes: BULK_RECORD_BYTES, create: false };
      await putAll(second.endpoint, 'bulk', more);
      await second.stop();

      const third = await startKinesis({ dataDir: dir });
      started.push(third);
      expect((await recordNumbers(third.endpoint, 'bulk')).size).toBe(BULK_RECORDS + more.count);
      await third.stop();
    } finally {
      parent.kill('SIGKILL');
      if (emulatorPid !== 0 && isRunning(emulatorPid)) process.kill(emulatorPid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
