import { dynamoSink, job, kinesisSource, PlanError, tumbling, type KinesisSourceOptions } from 'shardflow';
import { deployment } from '../../infra/cloudformation';
import { withNameSuffix } from '../../lib/plan/naming';
import { planJob } from '../../lib/plan/planner';

type Order = { customer: string; amount: number; ts: number };
type Json = Record<string, any>;
const ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/orders';

const orders = (stream: string, options: Partial<KinesisSourceOptions<Order>> = {}) =>
  job('orders')
    .source(kinesisSource<Order>(stream, { eventTime: (o) => o.ts, ...options }))
    .keyBy((o) => o.customer)
    .window(tumbling('1m'))
    .sum('amount')
    .sink(dynamoSink('order-totals'));

/** The prod deployment of a job: its serverless functions and CloudFormation resources. */
function deployed(definition: ReturnType<typeof orders>): { functions: Json; resources: Json } {
  const plan = withNameSuffix(planJob(definition), '-prod');
  const { functions, resources } = deployment(plan, { service: 'shardflow-orders', stage: 'prod', bundleDir: '.build/orders', nameSuffix: '-prod' });
  return { functions, resources: resources.Resources };
}
const streamsCreated = (resources: Json): string[] => Object.values(resources).filter((r: Json) => r.Type === 'AWS::Kinesis::Stream').map((r: Json) => r.Properties.Name);
const readsOf = (resources: Json, fn: Json): unknown[] =>
  (resources[fn.role].Properties.Policies[0].PolicyDocument.Statement as Json[]).filter((s) => [s.Action].flat().includes('kinesis:GetRecords')).flatMap((s) => s.Resource);

test('a source given by its ARN is read by that ARN and never created, so the stack cannot delete it', () => {
  const { functions, resources } = deployed(orders(ARN));
  expect(streamsCreated(resources)).toEqual(['orders-s1-prod']);
  expect(functions.s0.events[0].stream.arn).toBe(ARN);
  expect(readsOf(resources, functions.s0)).toEqual([ARN]);
  const watermarkListShards = (resources[functions.watermark.role].Properties.Policies[0].PolicyDocument.Statement as Json[]).find((s) => [s.Action].flat().includes('kinesis:ListShards'));
  expect(watermarkListShards!.Resource).toEqual([ARN, { 'Fn::GetAtt': ['StreamOrdersS1Prod', 'Arn'] }]);
  const plan = withNameSuffix(planJob(orders(ARN)), '-prod');
  expect(plan.stages[0]!.input.stream).toBe('orders');
  expect(plan.streams[0]).toEqual({ name: 'orders', shards: 1, role: 'source', existing: { arn: ARN } });
});

test("a source declared existing by name keeps its name on every stage and is read in the stack's account and region", () => {
  const { functions, resources } = deployed(orders('orders', { existing: true }));
  expect(streamsCreated(resources)).toEqual(['orders-s1-prod']);
  const arn = { 'Fn::Sub': 'arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/orders' };
  expect(functions.s0.events[0].stream.arn).toEqual(arn);
  expect(readsOf(resources, functions.s0)).toEqual([arn]);
});

test('a source the job creates is created, with the stage suffix, as before', () => {
  const { functions, resources } = deployed(orders('orders'));
  expect(streamsCreated(resources).sort()).toEqual(['orders-prod', 'orders-s1-prod']);
  expect(functions.s0.events[0].stream.arn).toEqual({ 'Fn::GetAtt': ['StreamOrdersProd', 'Arn'] });
});

test('an ARN that is not a Kinesis stream ARN is a plan error that echoes it', () => {
  const bad = 'arn:aws:sqs:eu-west-1:123456789012:orders';
  expect(() => planJob(orders(bad))).toThrow(PlanError);
  expect(() => planJob(orders(bad))).toThrow(`'${bad}' is not a Kinesis stream ARN`);
});
