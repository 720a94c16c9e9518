import { ConditionalCheckFailedException, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WatermarkCoordination } from '../coordination';

/** The watermark function's rows in the job's state table: its sleep flag and its lease. */
const ASLEEP_KEY = { pk: { S: 'm#watermark-function' }, sk: { S: 'asleep' } };
const LEASE_KEY = { pk: { S: 'm#watermark-function' }, sk: { S: 'lease' } };

const isConditionFailure = (e: unknown): boolean =>
  e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

/** {@link WatermarkCoordination} in the job's state table, with conditional writes. */
export class DynamoCoordination implements WatermarkCoordination {
  /** Writes sent (refused ones included): the cost model counts them. */
  readonly counters = { writes: 0, refused: 0 };

  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly table: string,
  ) {}

  async markWatermarkAsleep(): Promise<void> {
    this.counters.writes += 1;
    await this.ddb.send(new PutItemCommand({ TableName: this.table, Item: { ...ASLEEP_KEY, asleep: { BOOL: true } } }));
  }

  async claimWatermarkWake(): Promise<boolean> {
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.table,
        Key: ASLEEP_KEY,
        UpdateExpression: 'SET asleep = :no',
        ConditionExpression: 'asleep = :yes',
        ExpressionAttributeValues: { ':no': { BOOL: false }, ':yes': { BOOL: true } },
      }),
    );
  }

  async acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    return this.conditional(
      new PutItemCommand({
        TableName: this.table,
        Item: { ...LEASE_KEY, holder: { S: holder }, untilMs: { N: String(untilMs) } },
        ConditionExpression: 'attribute_not_exists(untilMs) OR untilMs < :now',
        ExpressionAttributeValues: { ':now': { N: String(nowMs) } },
      }),
    );
  }

  async releaseWatermarkLease(holder: string): Promise<boolean> {
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.table,
        Key: LEASE_KEY,
        UpdateExpression: 'SET untilMs = :zero',
        ConditionExpression: 'holder = :me',
        ExpressionAttributeValues: { ':zero': { N: '0' }, ':me': { S: holder } },
      }),
    );
  }

  /** A write under a condition: whether it held. */
  private async conditional(command: PutItemCommand | UpdateItemCommand): Promise<boolean> {
    this.counters.writes += 1;
    try {
      await this.ddb.send(command as PutItemCommand);
      return true;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      this.counters.refused += 1;
      return false;
    }
  }
}
