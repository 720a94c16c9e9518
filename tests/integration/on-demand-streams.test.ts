/**
 * On-demand streams against the emulators (kinesis-local is kinesis-mock): the plan's streams created as
 * `shardflow dev` creates them, in the mode the job asks for, read back with DescribeStreamSummary; a
 * stream kept from an earlier run switched to the plan's mode; `shardflow rescale` refusing an on-demand
 * stream it finds so on the wire (kinesis-mock itself would reshard it: AWS would not).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { UsageError } from '../../lib/cli/args';
import { loadJob } from '../../lib/cli/load-job';
import { rescale } from '../../lib/cli/rescale';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { startDynamo, startKinesis, type Emulator } from '../../lib/local/emulators';
import { createResources, createStream } from '../../lib/local/resources';
import { planJob } from '../../lib/plan/planner';

jest.setTimeout(60_000);

let emulators: Emulator[] = [];
let kinesis: KinesisClient;
let ddb: DynamoDBClient;
let dir: string;

beforeAll(async () => {
  emulators = await Promise.all([startKinesis(), startDynamo()]);
  kinesis = kinesisClient({ endpoint: emulators[0]!.endpoint });
  ddb = dynamoClient({ endpoint: emulators[1]!.endpoint });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-on-demand-'));
});

afterAll(async () => {
  kinesis?.destroy();
  ddb?.destroy();
  await Promise.all(emulators.map((e) => e.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What DescribeStreamSummary says of a stream: its mode and open shards. */
async function described(stream: string): Promise<{ mode: string | undefined; openShards: number | undefined }> {
  const { StreamDescriptionSummary: s } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  return { mode: s?.StreamModeDetails?.StreamMode, openShards: s?.OpenShardCount };
}

/** The job on-demand, its keyed stage made provisioned with 2 shards. */
const JOB = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
type Click = { userId: string; clicks: number; ts: number };
export default job('od-local', { streamMode: 'on-demand' })
  .source(kinesisSource<Click>('od-local-clicks', { eventTime: (c) => c.ts }))
  .keyBy('userId').window(tumbling('5s')).sum('clicks').parallelism(2).settings({ streamMode: 'provisioned' })
  .sink(dynamoSink('od-local-counts'));
`;

test("the local runtime creates the plan's on-demand streams in on-demand mode (4 shards), its provisioned ones with their shards", async () => {
  type Click = { userId: string; clicks: number; ts: number };
  const plan = planJob(
    job('od-local', { streamMode: 'on-demand' })
      .source(kinesisSource<Click>('od-local-clicks', { eventTime: (c) => c.ts }))
      .keyBy('userId')
      .window(tumbling('5s'))
      .sum('clicks')
      .parallelism(2)
      .settings({ streamMode: 'provisioned' })
      .sink(dynamoSink('od-local-counts')),
  );
  await createResources(plan, kinesis, ddb);
  expect(await described('od-local-clicks')).toEqual({ mode: 'ON_DEMAND', openShards: 4 });
  expect(await described('od-local-s1')).toEqual({ mode: 'PROVISIONED', openShards: 2 });
});

test("a stream kept from an earlier run takes the plan's mode and keeps its shards, as a deployment's update would", async () => {
  await createStream(kinesis, 'od-kept', 2);
  expect(await described('od-kept')).toEqual({ mode: 'PROVISIONED', openShards: 2 });
  await createStream(kinesis, 'od-kept', 2, true);
  expect(await described('od-kept')).toEqual({ mode: 'ON_DEMAND', openShards: 2 });
  await createStream(kinesis, 'od-kept', 2);
  expect(await described('od-kept')).toEqual({ mode: 'PROVISIONED', openShards: 2 });
});

test('shardflow rescale reads the mode on the wire: it refuses the on-demand stream, and reshards the provisioned one', async () => {
  const file = path.join(dir, 'od-local.ts');
  fs.writeFileSync(file, JOB);
  const endpoint = emulators[0]!.endpoint;
  const rescaleTo = (stage: string, shards: number): Promise<number> => rescale([file, '--stage', stage, '--shards', String(shards), '--endpoint', endpoint], () => {}, (e) => kinesisClient({ endpoint: e }));
  await createResources(planJob(loadJob(file)), kinesis, ddb);

  const refused = await rescaleTo('s0', 8).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(UsageError);
  expect((refused as Error).message).toMatch(/^stream od-local-clicks is in on-demand mode: Kinesis scales it by itself/);
  expect((refused as Error).message).toMatch(/streamMode: 'provisioned'/);
  expect(await described('od-local-clicks')).toEqual({ mode: 'ON_DEMAND', openShards: 4 });

  expect(await rescaleTo('s1', 4)).toBe(0);
  expect(await described('od-local-s1')).toEqual({ mode: 'PROVISIONED', openShards: 4 });
});
