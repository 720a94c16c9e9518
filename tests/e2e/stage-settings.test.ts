/**
 * A job's `.settings({...})` on the embedded runtime: the stage's worker gets the memory it asks for (and
 * its state limit with it), and its event source mapping takes the batch size, window, retries and bisect
 * from the plan — a poison record's batch goes to the on-failure queue whole, after no retry.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ScanCommand as DynamoScan } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { embeddedJobs, until } from './dev-process';

jest.setTimeout(180_000);

/** Source → map → DynamoDB: one stateless stage, its settings after the source. A `poison` record kills the worker. */
const JOB = `import { dynamoSink, job, kinesisSource } from 'shardflow';
type Rec = { id: string; ts: number; poison?: boolean };
export default job('tuned-local')
  .source(kinesisSource<Rec>('tuned-local-in', { eventTime: (r) => r.ts }))
  .settings({ memoryMb: 256, batchSize: 2, batchingWindow: 0, retries: 0, bisectOnError: false, maxRecordAge: '1h' })
  .map((r) => {
    if (r.poison) process.exit(13);
    return { name: r.id, memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE };
  })
  .sink(dynamoSink('tuned-local-out'));
`;

const jobs = embeddedJobs('sf-settings-');

test("a stage's memory, batch size, window, retries and bisect come from its .settings(...) on the embedded runtime", async () => {
  const { runtime } = await jobs.start('tuned-local', JOB);
  const records = Array.from({ length: 10 }, (_, i) => ({ id: `r${i}`, ts: 1_700_000_000_000 + i, ...(i === 5 && { poison: true }) }));
  // One shard, one put: the mapping cuts batches of 2 in stream order, so the poison record (5) shares its batch with 4.
  await runtime.kinesis.send(new PutRecordsCommand({ StreamName: 'tuned-local-in', Records: records.map((r) => ({ PartitionKey: r.id, Data: Buffer.from(JSON.stringify(r)) })) }));

  const queue = 'tuned-local-s0-failures';
  await until('the poison batch in the on-failure queue and the rest processed', async () => runtime.queues!.depth(queue) === 1 && runtime.idle());
  const { Items = [] } = await runtime.ddb.send(new DynamoScan({ TableName: 'tuned-local-out' }));
  const written = Items.map((i) => unmarshall(i) as { name: string; memory: string });
  // Records 4 and 5 were one batch: without bisect and retries it was given up on whole, at once.
  expect(written.map((w) => w.name).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r6', 'r7', 'r8', 'r9']);
  expect(new Set(written.map((w) => w.memory))).toEqual(new Set(['256']));
  const answer = runtime.queues!.answer('ReceiveMessage', { QueueUrl: `x/${queue}` }) as { body: { Messages: { Body: string }[] } };
  const failure = JSON.parse(answer.body.Messages[0]!.Body) as { KinesisBatchInfo: { batchSize: number }; requestContext: { condition: string; approximateInvokeCount: number } };
  expect(failure.KinesisBatchInfo.batchSize).toBe(2);
  expect(failure.requestContext).toMatchObject({ condition: 'RetryAttemptsExhausted', approximateInvokeCount: 1 });
  // Every invocation had at most 2 records: the source stage's RecordsIn per batch.
  const recordsIn = runtime.status().stages[0]!.metrics.RecordsIn!;
  expect(recordsIn.max).toBe(2);
  expect(recordsIn.sum).toBe(8);
});
