import { ListShardsCommand, PutRecordsCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { kinesisClient, resolveEndpoint, sqsClient } from '../io/aws-clients';
import { decodeShuffleRecord, encodeEnvelopes } from '../io/envelope';
import { readFailedRecords, RecordsExpiredError, type FailedRange } from '../io/failed-records';
import { decodeRedrivenSourceRecord, encodeRedrivenSourceRecord, isRedriveInput, redriveInputOf } from '../io/redrive';
import type { KinesisFailureRecord } from '../local/esm/types';
import { stageSuffix } from '../plan/naming';
import { failureQueueName, type Plan, type Stage } from '../plan/plan';
import { planJob } from '../plan/planner';
import { parseArgs, stringFlag, UsageError } from './args';
import { loadJob } from './load-job';

/**
 * `shardflow failures JOB [--stage s1] [--redrive] [--endpoint URL] [--deployed STAGE]`: the batches
 * Lambda gave up on, read from each stage's on-failure SQS queue — the local runtime's (served on its
 * edge) or, with `--deployed`, the deployment's — with why, the shard and the sequence range. With
 * `--redrive`, each batch's records are read back from the stream (while it still holds them) and fed
 * to the stage again through its stream, so the stage function takes them like any batch, exactly
 * once — a source stage's and a keyed stage's alike; the batch then leaves the queue. One that cannot be redriven stays, with the reason printed.
 */
export async function failures(argv: readonly string[], out: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['redrive']);
  const file = args.positionals[0];
  if (!file) throw new UsageError('failures needs a job file: shardflow failures examples/click-counts.ts [--stage s1] [--redrive]');
  const plan = planJob(loadJob(file));
  const wanted = stringFlag(args, 'stage');
  const stages = plan.stages.filter((s) => wanted === undefined || s.id === wanted);
  if (stages.length === 0) throw new UsageError(`--stage ${wanted}: job '${plan.job}' has stages ${plan.stages.map((s) => s.id).join(', ')}`);
  const deployed = stringFlag(args, 'deployed');
  // Locally the edge (as `push` and `tail`); deployed, AWS itself unless an endpoint is given (LocalStack).
  const endpoint = deployed === undefined ? (resolveEndpoint(stringFlag(args, 'endpoint')) ?? 'http://localhost:4566') : resolveEndpoint(stringFlag(args, 'endpoint'));
  const clients = { sqs: sqsClient({ endpoint }), kinesis: kinesisClient({ endpoint }) };
  const redrive = args.flags.get('redrive') === true;
  let failed = 0;
  let listed = 0;
  try {
    for (const stage of stages) {
      const names = stageNames(plan, stage.id, deployed);
      const queueUrl = await queueUrlOf(clients.sqs, names.queue, endpoint);
      for (const message of await receiveAll(clients.sqs, queueUrl)) {
        listed++;
        out(describeFailure(stage.id, message.record));
        if (!redrive) {
          await release(clients.sqs, queueUrl, message.receiptHandle);
          continue;
        }
        const outcome = await redriveBatch(clients, stage, message.record);
        if (outcome.ok) {
          await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle }));
          out(`  redriven: ${outcome.detail}`);
        } else {
          failed++;
          await release(clients.sqs, queueUrl, message.receiptHandle);
          out(`  still failing, kept in ${names.queue}: ${outcome.detail}`);
        }
      }
    }
  } finally {
    for (const c of Object.values(clients)) c.destroy();
  }
  if (listed === 0) out(`no failed batches in ${stages.map((s) => stageNames(plan, s.id, deployed).queue).join(', ')}`);
  return failed > 0 ? 1 : 0;
}

/** One line per failed batch: stage, shard, sequence range, size, why, when. */
export function describeFailure(stageId: string, record: KinesisFailureRecord): string {
  const b = record.KinesisBatchInfo;
  const why = `${record.requestContext.condition} after ${record.requestContext.approximateInvokeCount} invocation(s)${record.responseContext?.functionError ? ` (function error: ${record.responseContext.functionError})` : ''}`;
  return `${stageId}  ${b.shardId}  ${b.startSequenceNumber}..${b.endSequenceNumber}  ${b.batchSize} record(s)  ${why}  at ${record.timestamp}`;
}

/** A stage's on-failure queue: the local runtime's, or a deployment's (infra/serverless-config.ts suffixes names with `-STAGE`, except on `local`). */
function stageNames(plan: Plan, stageId: string, deployed: string | undefined): { queue: string } {
  return { queue: failureQueueName(plan.job, stageId, stageSuffix(deployed)) };
}

async function queueUrlOf(sqs: SQSClient, queue: string, endpoint: string | undefined): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
    if (QueueUrl) return QueueUrl;
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
      throw new UsageError(`no queue '${queue}' at ${endpoint ?? 'AWS'} — is the job running (\`shardflow dev JOB\`) or deployed (--deployed STAGE)?`);
    }
    if (/ECONNREFUSED/.test(String((e as Error).message)) || (e as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      throw new UsageError(`nothing answers at ${endpoint} — start \`shardflow dev JOB\` first, or pass --endpoint / --deployed`);
    }
    throw e;
  }
  throw new UsageError(`no queue '${queue}' at ${endpoint ?? 'AWS'}`);
}

interface QueuedFailure {
  readonly receiptHandle: string;
  readonly record: KinesisFailureRecord;
}

/** How long the command holds the messages it read (released at the end, or deleted once redriven). */
const HOLD_S = 300;

/** Every message of the queue, held invisible meanwhile so each is read once. */
async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<QueuedFailure[]> {
  const messages: QueuedFailure[] = [];
  for (;;) {
    // A second of long polling: SQS then asks every server, so an empty answer means an empty queue.
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: HOLD_S, WaitTimeSeconds: 1 }));
    if (Messages.length === 0) return messages;
    for (const m of Messages) messages.push({ receiptHandle: m.ReceiptHandle!, record: JSON.parse(m.Body ?? '{}') as KinesisFailureRecord });
  }
}

const release = (sqs: SQSClient, queueUrl: string, receiptHandle: string): Promise<unknown> =>
  sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: 0 }));

/** PutRecords takes at most 500 records a call. */
const PUT_RECORDS_MAX = 500;

/**
 * Reads a failed batch back from its stream and writes its records onto that stream again, so they
 * reach the stage function through the event source mapping like any batch. Put back at their old
 * positions they would be taken for replays (the mapping carried the stage past them), so each comes
 * back under an input of its own named after the failed batch (lib/io/redrive.ts): a source record
 * wrapped with its position, an envelope re-addressed; markers and ticks, which only said where time
 * was then, are left out. Redriving the same batch twice — an interrupted run, run again — is then a
 * replay the stage drops: exactly once.
 */
async function redriveBatch(clients: { kinesis: KinesisClient }, stage: Stage, record: KinesisFailureRecord): Promise<{ ok: boolean; detail: string }> {
  const batch = record.KinesisBatchInfo;
  let records;
  try {
    records = await readFailedRecords(clients.kinesis, batch);
  } catch (e) {
    if (e instanceof RecordsExpiredError) return { ok: false, detail: e.message };
    throw e;
  }
  const entries = stage.input.kind === 'source' ? redrivenSourceRecords(records, batch) : await redrivenEnvelopes(clients.kinesis, records, batch, stage.keyGroups);
  if (entries.length === 0) return { ok: true, detail: `nothing to redrive: the batch held only markers and ticks (${records.length} record(s))` };
  let pending = entries;
  const positions: string[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    const chunk = pending.slice(0, PUT_RECORDS_MAX);
    const out = await clients.kinesis.send(new PutRecordsCommand({ StreamARN: batch.streamArn, Records: chunk }));
    const refused = chunk.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined);
    positions.push(...(out.Records ?? []).flatMap((r) => (r.SequenceNumber ? [`${r.ShardId}/${r.SequenceNumber}`] : [])));
    pending = [...refused, ...pending.slice(PUT_RECORDS_MAX)];
    // Throttled entries (ProvisionedThroughputExceeded) are put again after a pause.
    if (refused.length > 0) await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
  }
  const what = stage.input.kind === 'source' ? 'record(s)' : `envelope(s) of the ${records.length} record(s)`;
  return { ok: true, detail: `${entries.length} ${what} put on ${batch.streamArn.slice(batch.streamArn.lastIndexOf('/') + 1)} again (${positions[0]}${positions.length > 1 ? ` … ${positions[positions.length - 1]}` : ''}); stage ${stage.id} takes them like any batch, once` };
}

type PutEntry = { Data: Uint8Array; PartitionKey: string; ExplicitHashKey?: string };

/** Source records, each wrapped with its input and position; one that is a redrive's already keeps its own. */
function redrivenSourceRecords(records: readonly _Record[], batch: FailedRange): PutEntry[] {
  const input = redriveInputOf(batch.shardId, batch.shardId, batch.startSequenceNumber);
  return records.map((r) => {
    const text = Buffer.from(r.Data!).toString('utf8');
    // Same partition key: a source partitionedBy its key routes the record to the same keyed shard.
    return { Data: decodeRedrivenSourceRecord(text) ? r.Data! : encodeRedrivenSourceRecord(input, r.SequenceNumber!, text), PartitionKey: r.PartitionKey! };
  });
}

/**
 * A shuffle stream's envelopes, re-addressed from their redrive's input, onto the shard they failed on; with
 * key groups, under their key group's partition key, which picks the logical shard they failed on.
 */
async function redrivenEnvelopes(kinesis: KinesisClient, records: readonly _Record[], batch: FailedRange, keyGroups: number): Promise<PutEntry[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamARN: batch.streamArn }));
  const shard = Shards.find((s) => s.ShardId === batch.shardId);
  if (!shard?.HashKeyRange?.StartingHashKey) throw new Error(`${batch.shardId} is not a shard of ${batch.streamArn}`);
  const entries: PutEntry[] = [];
  for (const r of records) {
    let decoded;
    try {
      decoded = decodeShuffleRecord(Buffer.from(r.Data!));
    } catch {
      continue; // unreadable: the stage dead-lettered it the first time, with the reason
    }
    if (decoded.kind !== 'envelope') continue;
    const input = isRedriveInput(decoded.from) ? decoded.from : redriveInputOf(decoded.from, batch.shardId, batch.startSequenceNumber);
    const partitionKey = keyGroups > 1 ? r.PartitionKey! : input;
    for (const data of encodeEnvelopes(input, decoded.elements)) entries.push({ Data: data, PartitionKey: partitionKey, ExplicitHashKey: shard.HashKeyRange.StartingHashKey });
  }
  return entries;
}
