/**
 * The state layout recorded in the job's state table, on a real DynamoDB emulator (dynalite): written when
 * a job starts or is deployed, read back and compared by `shardflow plan --against deployed` and by the
 * next deploy before osls runs; a record of a newer schema version is refused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { stateTableDefinition } from '../../infra/tables';
import { deployOnState, startOnState, stateTableOf, type StateTable } from '../../lib/cli/deployed-layout';
import { main } from '../../lib/cli/main';
import { dynamoClient } from '../../lib/io/aws-clients';
import { startDynamo, type Emulator } from '../../lib/local/emulators';
import { createTable } from '../../lib/local/resources';
import { withNameSuffix } from '../../lib/plan/naming';
import type { Plan } from '../../lib/plan/plan';
import { planJob } from '../../lib/plan/planner';
import { STATE_SCHEMA_VERSION, stateLayout } from '../../lib/plan/state-layout';
import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';
import { loadJob } from '../../lib/cli/load-job';
import { readUpgradeStart } from '../../lib/state/dynamodb/dynamo-layout-record';
import { DynamoLogStore } from '../../lib/state/dynamodb/dynamo-log-store';
import { ShardStates } from '../../lib/state/shard-states';
import type { UpgradeStart } from '../../lib/state/upgrade-start';

/** A schema version newer than this shardflow's: one a newer shardflow would write. */
const FUTURE = STATE_SCHEMA_VERSION + 1;

jest.setTimeout(60_000);

const V1 = 'tests/fixtures/upgrade/v1.ts';
const V2 = 'tests/fixtures/upgrade/v2.ts';
const V3 = 'tests/fixtures/upgrade/v3.ts';
const ADDED_V1 = 'tests/fixtures/upgrade/added-v1.ts';
const ADDED_V2 = 'tests/fixtures/upgrade/added-v2.ts';
const planOf = (file: string): Plan => planJob(loadJob(file));
const LAYOUT_KEY = { pk: { S: 'm#state-layout' }, sk: { S: 'current' } };

let emulator: Emulator;
let ddb: DynamoDBClient;
let printed: string[];
let tableNumber = 0;

beforeAll(async () => {
  emulator = await startDynamo();
  ddb = dynamoClient({ endpoint: emulator.endpoint });
});
afterAll(async () => {
  ddb?.destroy();
  await emulator?.stop();
});
beforeEach(() => {
  printed = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
  jest.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
});
afterEach(() => jest.restoreAllMocks());

/** A fresh state table of the job `upgraded` (the fixtures') deployed on its own stage. */
async function deployedTable(): Promise<{ stage: string; table: StateTable }> {
  const stage = `t${++tableNumber}`;
  const table = stateTableOf(planOf(V1), stage, { endpoint: emulator.endpoint });
  await createTable(ddb, stateTableDefinition(withNameSuffix(planOf(V1), `-${stage}`)));
  return { stage, table };
}

async function rawRecord(table: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await ddb.send(new GetItemCommand({ TableName: table, Key: LAYOUT_KEY, ConsistentRead: true }));
  return Item && { schemaVersion: Item.schemaVersion?.N, writtenBy: Item.writtenBy?.S, layout: JSON.parse(Item.layout!.S!) as unknown };
}

const plan = (args: readonly string[]): Promise<number> => main(['plan', ...args]);

test('a start records the layout in the state table; a fitting version keeps it, a changed window under the same uid is refused and leaves the record', async () => {
  const { table } = await deployedTable();
  expect(await startOnState(table, planOf(V1), false)).toEqual([]);
  expect(await rawRecord(table.name)).toEqual({ schemaVersion: '2', writtenBy: 'shardflow dev', layout: stateLayout(planOf(V1)) });

  expect(await startOnState(table, planOf(V2), false)).toEqual([]);
  await expect(startOnState(table, planOf(V3), true)).rejects.toThrow(
    `${table.holder} holds the state of another version of upgraded: the state 'clicks-per-user' was tumbling(5s).sum(clicks), now tumbling(10s).sum(clicks) — give the changed operator a new .uid(...) (its old state is then dropped), or start from empty state`,
  );
  expect(await rawRecord(table.name)).toEqual({ schemaVersion: '2', writtenBy: 'shardflow dev', layout: stateLayout(planOf(V2)) });
});

test('plan --against deployed --deployed STAGE compares with the record: kept, then refused with exit 2', async () => {
  const { stage, table } = await deployedTable();
  await startOnState(table, planOf(V1), false);

  expect(await plan([V2, '--against', 'deployed', '--deployed', stage, '--endpoint', emulator.endpoint])).toBe(0);
  expect(printed.join('\n')).toMatch(new RegExp(`state, against table upgraded-state-${stage} \\(${emulator.endpoint}\\), recorded by shardflow dev at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z:\\n  kept         clicks-per-user  window#\\d+ tumbling\\(5s\\)\\.sum\\(clicks\\)$`));

  printed = [];
  expect(await plan([V3, '--against', 'deployed', '--deployed', stage, '--endpoint', emulator.endpoint])).toBe(2);
  expect(printed.at(-1)).toBe(
    "shardflow: the upgrade would be refused: the state 'clicks-per-user' was tumbling(5s).sum(clicks), now tumbling(10s).sum(clicks) — give the changed operator a new .uid(...) (its old state is then dropped), or start from empty state",
  );
});

test('plan --against deployed with nothing deployed says so and goes on: every state starts empty', async () => {
  expect(await plan([V1, '--against', 'deployed', '--deployed', 'never-deployed', '--endpoint', emulator.endpoint])).toBe(0);
  expect(printed.at(-1)).toBe(
    `\nstate, against table upgraded-state-never-deployed (${emulator.endpoint}), which records no state layout yet (a first deploy: every state starts empty):\n  new          clicks-per-user  window#2 tumbling(5s).sum(clicks): starts with no state`,
  );
});

test('--deployed without --against deployed is a usage error that says what to add', async () => {
  expect(await plan([V1, '--deployed', 'prod'])).toBe(2);
  expect(printed).toContain('shardflow: --deployed prod says which deployment to compare with: add --against deployed');
});

test('a record of a newer schema version is refused by plan, deploy and start, with what to do', async () => {
  const { stage, table } = await deployedTable();
  await ddb.send(new PutItemCommand({ TableName: table.name, Item: { ...LAYOUT_KEY, schemaVersion: { N: String(FUTURE) }, layout: { S: '{"format":"of the future"}' }, writtenAt: { N: '0' }, writtenBy: { S: 'shardflow deploy' } } }));
  const refusal = `${table.holder} holds state of schema version ${FUTURE}, and this shardflow reads up to version ${STATE_SCHEMA_VERSION}: a newer shardflow wrote it — upgrade shardflow before comparing with it or running on it`;

  expect(await plan([V1, '--against', 'deployed', '--deployed', stage, '--endpoint', emulator.endpoint])).toBe(2);
  expect(printed).toContain(`shardflow: ${refusal}`);
  const osls = jest.fn(async () => 0);
  await expect(deployOnState(table, planOf(V1), true, osls)).rejects.toThrow(refusal);
  await expect(startOnState(table, planOf(V1), true)).rejects.toThrow(refusal);
  expect(osls).not.toHaveBeenCalled();
  expect(await rawRecord(table.name)).toMatchObject({ schemaVersion: String(FUTURE) });
});

test('a saved layout file of a newer schema version is refused the same way', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sf-layout-')), 'layout.json');
  fs.writeFileSync(file, JSON.stringify({ ...stateLayout(planOf(V1)), version: FUTURE }));
  try {
    expect(await plan([V1, '--against', file])).toBe(2);
    expect(printed).toContain(`shardflow: ${file} holds state of schema version ${FUTURE}, and this shardflow reads up to version ${STATE_SCHEMA_VERSION}: a newer shardflow wrote it — upgrade shardflow before comparing with it or running on it`);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});

describe('shardflow deploy on the deployed state', () => {
  type Click = { userId: string; clicks: number; ts: number };
  const counting = (uid: string): Plan =>
    planJob(
      job('upgraded')
        .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts }))
        .keyBy((c) => c.userId)
        .window(tumbling('5s'))
        .sum('clicks')
        .uid(uid)
        .sink(dynamoSink('upgraded-counts')),
    );

  test('`shardflow deploy` checks before osls runs: on the `local` stage (LocalStack, here dynalite) a changed window is refused, nothing deployed', async () => {
    await createTable(ddb, stateTableDefinition(planOf(V1)));
    await startOnState(stateTableOf(planOf(V1), 'local', { endpoint: emulator.endpoint }), planOf(V1), false);
    process.env.SHARDFLOW_ENDPOINT_URL = emulator.endpoint;
    try {
      expect(await main(['deploy', V3, '--stage', 'local', '--allow-non-restored-state'])).toBe(2);
    } finally {
      delete process.env.SHARDFLOW_ENDPOINT_URL;
    }
    expect(printed.slice(-2)).toEqual([expect.stringMatching(/^shardflow: the upgrade would be refused: the state 'clicks-per-user' was tumbling\(5s\)/), 'shardflow: nothing deployed']);
    // osls never ran: it would have printed its command line first.
    expect(printed.filter((l) => l.startsWith('shardflow: serverless'))).toEqual([]);
  });

  test('a first deploy (no table yet) says so, deploys, and records the layout once osls has deployed', async () => {
    const table = stateTableOf(planOf(V1), 'first', { endpoint: emulator.endpoint });
    const osls = jest.fn(async () => {
      // What the stack creates: the state table.
      await createTable(ddb, stateTableDefinition(withNameSuffix(planOf(V1), '-first')));
      return 0;
    });
    expect(await deployOnState(table, planOf(V1), false, osls)).toBe(0);
    expect(osls).toHaveBeenCalledTimes(1);
    expect(printed[0]).toMatch(/which records no state layout yet \(a first deploy: every state starts empty\)/);
    expect(printed.at(-1)).toBe(`shardflow: state layout recorded in ${table.holder}`);
    expect(await rawRecord(table.name)).toEqual({ schemaVersion: '2', writtenBy: 'shardflow deploy', layout: stateLayout(planOf(V1)) });
  });

  test('an incompatible version is refused before osls runs, even with --allow-non-restored-state', async () => {
    const { table } = await deployedTable();
    await deployOnState(table, planOf(V1), false, async () => 0);
    const osls = jest.fn(async () => 0);
    expect(await deployOnState(table, planOf(V3), true, osls)).toBe(2);
    expect(osls).not.toHaveBeenCalled();
    expect(printed.slice(-2)).toEqual([expect.stringMatching(/^shardflow: the upgrade would be refused: the state 'clicks-per-user' was tumbling\(5s\)/), 'shardflow: nothing deployed']);
    expect(await rawRecord(table.name)).toMatchObject({ layout: stateLayout(planOf(V1)) });
  });

  test('dropped state is refused unless --allow-non-restored-state; a failed osls run leaves the old record', async () => {
    const { table } = await deployedTable();
    await deployOnState(table, counting('clicks-per-user'), false, async () => 0);
    const renamed = counting('clicks-per-user-v2');

    const osls = jest.fn(async () => 0);
    expect(await deployOnState(table, renamed, false, osls)).toBe(2);
    expect(osls).not.toHaveBeenCalled();
    expect(printed.join('\n')).toMatch(/dropped {6}clicks-per-user .*\n.*would be dropped — pass --allow-non-restored-state/s);

    expect(await deployOnState(table, renamed, true, async () => 1)).toBe(1);
    expect(await rawRecord(table.name)).toMatchObject({ layout: stateLayout(counting('clicks-per-user')) });

    expect(await deployOnState(table, renamed, true, osls)).toBe(0);
    expect(osls).toHaveBeenCalledTimes(1);
    expect(await rawRecord(table.name)).toMatchObject({ writtenBy: 'shardflow deploy', layout: stateLayout(renamed) });
  });

  test('a deploy that adds a keyed operator behind the source records, before osls runs, how far the kept one had read each source shard', async () => {
    const [v1, v2] = [planOf(ADDED_V1), planOf(ADDED_V2)];
    const table = stateTableOf(v1, 'added', { endpoint: emulator.endpoint });
    await createTable(ddb, stateTableDefinition(withNameSuffix(v1, '-added')));
    await deployOnState(table, v1, false, async () => 0);
    // What version 1's window heard on its two shards, and a dropped operator's log that is not read.
    const states = new ShardStates(new DynamoLogStore(ddb, table.name));
    const heard = async (stageId: string, shardId: string, inputs: Record<string, string>): Promise<void> => {
      const log = { stageId, shardId };
      const state = await states.current(log);
      for (const [u, at] of Object.entries(inputs)) state.setInput(u, { watermarkMs: 0, heardAtMs: 0, idle: true, statusAt: at });
      expect(await states.commit(log, state, states.prepare(log, state))).toBe('appended');
    };
    await heard('clicks-per-user', 'shardId-000000000000', { 'shardId-000000000000': '4100', 'shardId-000000000001': '4250' });
    await heard('clicks-per-user', 'shardId-000000000001', { 'shardId-000000000000': '4120', 'shardId-000000000001': '4200' });
    await heard('gone', 'shardId-000000000000', { 'shardId-000000000000': '9999' });

    let startWhenDeployed: UpgradeStart | undefined;
    expect(await deployOnState(table, v2, false, async () => ((startWhenDeployed = await readUpgradeStart(ddb, table.name)), 0))).toBe(0);
    expect(startWhenDeployed).toEqual({ stages: ['most-clicks'], positions: { s0: { 'shardId-000000000000': '4120', 'shardId-000000000001': '4250' } } });
    expect(printed).toContain(`shardflow: the keyed operators this version adds start where the running version had read the source (2 shard positions, recorded in ${table.holder})`);
    // The next deploy adds nothing: the record says so.
    expect(await deployOnState(table, v2, false, async () => 0)).toBe(0);
    expect(await readUpgradeStart(ddb, table.name)).toEqual({ stages: [], positions: {} });
  });
});

