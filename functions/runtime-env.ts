import { Logger } from '@aws-lambda-powertools/logger';
import { kinesisClient, dynamoClient } from '../lib/io/aws-clients';
import { JobMetrics, metricsServiceName } from '../lib/io/metrics';
import { SinkWriter } from '../lib/io/sinks';
import { withNameSuffix } from '../lib/plan/naming';
import { planJob } from '../lib/plan/planner';
import { DynamoCoordination } from '../lib/state/dynamodb/dynamo-coordination';
import { DynamoLogStore } from '../lib/state/dynamodb/dynamo-log-store';
import { ShardStates, stateLimitsFor } from '../lib/state/shard-states';
import job from 'shardflow-job';

/**
 * What both functions share, built once per container: the plan (from the job bundled in as
 * `shardflow-job`, names suffixed by SHARDFLOW_NAME_SUFFIX on AWS), the AWS clients (endpoint from SHARDFLOW_ENDPOINT_URL / AWS_ENDPOINT_URL when set,
 * so one bundle runs on the emulators, LocalStack and AWS), the keyed shards' states and logs, the sinks, and the
 * job's metrics (EMF) and structured logger (Powertools).
 */
const nameSuffix = process.env.SHARDFLOW_NAME_SUFFIX ?? '';
export const plan = withNameSuffix(planJob(job), nameSuffix);
export const kinesis = kinesisClient();
export const ddb = dynamoClient();
/** Keyed shards' logs in the state table; their states cached in this container within a share of its memory. */
export const logs = new DynamoLogStore(ddb, plan.stateTable);
const memoryMb = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? 512);
export const states = new ShardStates(logs, stateLimitsFor(memoryMb));
export const coordination = new DynamoCoordination(ddb, plan.stateTable);
export const sinks = new SinkWriter(plan, ddb, kinesis);

const service = metricsServiceName(plan.job, nameSuffix);
/** EMF metrics on stdout, dimensioned by service (the deployment), job and stage. */
export const metrics = new JobMetrics({ job: plan.job, service });
/** Structured JSON logs (CloudWatch Logs Insights can query the fields). */
export const logger = new Logger({ serviceName: service, persistentKeys: { job: plan.job } });
