import { kinesisClient, dynamoClient } from '../lib/io/aws-clients';
import { SinkWriter } from '../lib/io/sinks';
import { withNameSuffix } from '../lib/plan/naming';
import { planJob } from '../lib/plan/planner';
import { DynamoBackend } from '../lib/state/dynamodb/dynamo-backend';
import job from 'shardflow-job';

/**
 * What both functions share, built once per container: the plan (from the job bundled in as
 * `shardflow-job`, names suffixed by SHARDFLOW_NAME_SUFFIX on AWS), the AWS clients (endpoint from SHARDFLOW_ENDPOINT_URL / AWS_ENDPOINT_URL when set,
 * so one bundle runs on the emulators, LocalStack and AWS), the state backend and the sinks.
 */
export const plan = withNameSuffix(planJob(job), process.env.SHARDFLOW_NAME_SUFFIX ?? '');
export const kinesis = kinesisClient();
export const ddb = dynamoClient();
export const backend = new DynamoBackend(ddb, plan.stateTable);
export const sinks = new SinkWriter(plan, ddb, kinesis);

/** One structured log line per invocation (CloudWatch Logs Insights can query the fields). */
export const logJson = (fields: Record<string, unknown>): void => console.log(JSON.stringify({ job: plan.job, ...fields }));
