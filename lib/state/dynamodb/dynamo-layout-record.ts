import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseUpgradeStart, type UpgradeStart } from '../upgrade-start';

/**
 * The one item of a state table that says what its state is: the state layout of the job version that
 * runs on it and the schema version of the state format. `shardflow deploy` writes it after a deploy and
 * `shardflow dev` when it starts a job; `shardflow plan --against deployed` and the next deploy or start
 * compare the new version with it (lib/cli/deployed-layout.ts).
 *
 * No shard log can collide with its key: a log's items have a pk that starts with `l#` (entries) or `lc#`
 * (chunks) whatever the stage id, which is the user's uid (lib/state/dynamodb/dynamo-log-store.ts); `m#`
 * starts the table's own rows, as the watermark function's `m#watermark-function`. The item has no TTL
 * attribute: it lasts as long as the table.
 */
const LAYOUT_KEY = { pk: { S: 'm#state-layout' }, sk: { S: 'current' } };

export interface LayoutRecord {
  /** The state format's version (`STATE_SCHEMA_VERSION` of the shardflow that wrote it). */
  readonly schemaVersion: number;
  /** The state layout, as JSON (lib/plan/state-layout.ts). */
  readonly layout: string;
  readonly writtenAtMs: number;
  /** What wrote it: `shardflow deploy`, `shardflow dev`. */
  readonly writtenBy: string;
}

/** The table's layout record, or undefined when it has none yet. A missing table throws (ResourceNotFoundException). */
export async function readLayoutRecord(ddb: DynamoDBClient, table: string): Promise<LayoutRecord | undefined> {
  const { Item } = await ddb.send(new GetItemCommand({ TableName: table, Key: LAYOUT_KEY, ConsistentRead: true }));
  if (!Item) return undefined;
  return {
    schemaVersion: Number(Item.schemaVersion?.N ?? 0),
    layout: Item.layout?.S ?? '',
    writtenAtMs: Number(Item.writtenAt?.N ?? 0),
    writtenBy: Item.writtenBy?.S ?? 'unknown',
  };
}

/** Replaces the table's layout record. */
export async function writeLayoutRecord(ddb: DynamoDBClient, table: string, record: LayoutRecord): Promise<void> {
  await ddb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        ...LAYOUT_KEY,
        schemaVersion: { N: String(record.schemaVersion) },
        layout: { S: record.layout },
        writtenAt: { N: String(record.writtenAtMs) },
        writtenBy: { S: record.writtenBy },
      },
    }),
  );
}

/**
 * The item beside it that says where the keyed stages the running version added start reading their source
 * (lib/state/upgrade-start.ts): written by `shardflow deploy` before it deploys and by `shardflow dev` before
 * its functions start, read by the watermark function at each invocation.
 */
const UPGRADE_START_KEY = { pk: { S: 'm#upgrade-start' }, sk: { S: 'current' } };

/** The recorded upgrade start, or undefined when none is recorded or it is not one (a table changed by hand). */
export async function readUpgradeStart(ddb: DynamoDBClient, table: string): Promise<UpgradeStart | undefined> {
  const { Item } = await ddb.send(new GetItemCommand({ TableName: table, Key: UPGRADE_START_KEY, ConsistentRead: true }));
  return Item?.start?.S === undefined ? undefined : parseUpgradeStart(Item.start.S);
}

export async function writeUpgradeStart(ddb: DynamoDBClient, table: string, start: UpgradeStart, writtenAtMs: number): Promise<void> {
  await ddb.send(new PutItemCommand({ TableName: table, Item: { ...UPGRADE_START_KEY, start: { S: JSON.stringify(start) }, writtenAt: { N: String(writtenAtMs) } } }));
}
