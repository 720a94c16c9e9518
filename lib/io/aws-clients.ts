import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';

// This is the only module that imports the AWS SDK; everything else gets a
// client from these factories so endpoint/credential rules live in one place.

/** Options shared by {@link kinesisClient} and {@link dynamoClient}. */
export interface AwsClientOptions {
  /**
   * Endpoint override such as `http://127.0.0.1:4566`. Falls back to env
   * `SHARDFLOW_ENDPOINT_URL`, then `AWS_ENDPOINT_URL`, then real AWS.
   */
  endpoint?: string;
  /** AWS region. Falls back to the SDK's chain, or `us-east-1` when an endpoint is set. */
  region?: string;
  /** Total attempts per call including the first (default 5). */
  maxAttempts?: number;
}

/** Default region for emulators; they accept any region but it must be consistent. */
export const LOCAL_REGION = 'us-east-1';

const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * Picks the endpoint override: the explicit value, else env
 * `SHARDFLOW_ENDPOINT_URL`, else env `AWS_ENDPOINT_URL`, else `undefined`
 * (meaning real AWS).
 */
export function resolveEndpoint(explicit?: string): string | undefined {
  const candidates = [explicit, process.env.SHARDFLOW_ENDPOINT_URL, process.env.AWS_ENDPOINT_URL];
  for (const candidate of candidates) {
    if (candidate !== undefined && candidate.trim() !== '') return candidate.trim();
  }
  return undefined;
}

/** Settings common to every client (endpoint, region, credentials for an emulator, retries, HTTP/1.1), from the options and env. */
export function awsClientConfig(opts: AwsClientOptions) {
  const endpoint = resolveEndpoint(opts.endpoint);
  const envRegion = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const region = opts.region ?? envRegion ?? (endpoint !== undefined ? LOCAL_REGION : undefined);
  // Emulators ignore signatures but the SDK still refuses to sign without
  // credentials, so a local endpoint with no configured identity gets dummies.
  const hasEnvIdentity =
    (process.env.AWS_ACCESS_KEY_ID !== undefined && process.env.AWS_SECRET_ACCESS_KEY !== undefined) ||
    process.env.AWS_PROFILE !== undefined;
  const credentials =
    endpoint !== undefined && !hasEnvIdentity ? { accessKeyId: 'test', secretAccessKey: 'test' } : undefined;
  return {
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: httpHandler(),
  };
}

/**
 * HTTP/1.1 handler with keep-alive. Kinesis' SDK default is an HTTP/2 handler,
 * which kinesis-local (and plain-HTTP proxies) do not speak; keep-alive avoids
 * a TCP handshake per GetRecords/PutRecords call.
 */
function httpHandler(): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new NodeHttpHandler({
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: 5_000,
    // A hung emulator or network path should fail the call, not stall a stage forever.
    requestTimeout: 60_000,
    throwOnRequestTimeout: true,
  });
}

/**
 * Creates a Kinesis client (SDK v3) over HTTP/1.1 keep-alive.
 *
 * @param opts - endpoint/region overrides; see {@link AwsClientOptions}.
 */
export function kinesisClient(opts: AwsClientOptions = {}): KinesisClient {
  return new KinesisClient(awsClientConfig(opts));
}

/**
 * Creates a DynamoDB client (SDK v3) over HTTP/1.1 keep-alive.
 *
 * @param opts - endpoint/region overrides; see {@link AwsClientOptions}.
 */
export function dynamoClient(opts: AwsClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient(awsClientConfig(opts));
}

/** Creates an SQS client (SDK v3, JSON protocol): the stages' on-failure queues, served on the edge locally. */
export function sqsClient(opts: AwsClientOptions = {}): SQSClient {
  return new SQSClient(awsClientConfig(opts));
}

/** Creates a Lambda client (SDK v3): Invoke reaches the embedded runtime's functions through the edge locally. */
export function lambdaClient(opts: AwsClientOptions = {}): LambdaClient {
  return new LambdaClient(awsClientConfig(opts));
}

/**
 * Starts a Lambda function without waiting for it (`InvocationType: 'Event'`): Lambda queues the event
 * and retries a failed run itself. Locally the edge routes Invoke to the embedded runtime's functions.
 *
 * @param functionName - the deployed function's name.
 * @param payload - the event, as JSON.
 */
export function asyncInvoker(functionName: string, opts: AwsClientOptions = {}): (payload: object) => Promise<void> {
  const client = lambdaClient(opts);
  return async (payload) => {
    const { StatusCode, FunctionError } = await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(payload)) }));
    if (StatusCode !== 202 || FunctionError) throw new Error(`Lambda did not queue ${functionName}: status ${StatusCode}${FunctionError ? `, ${FunctionError}` : ''}`);
  };
}
