/**
 * Resharding a running job's shuffle stream by hand, with the AWS CLI through `shardflow dev`'s edge, while
 * events flow: `aws kinesis split-shard`, `merge-shards` and `update-shard-count` on the keyed stage's input
 * stream between puts of clicks. Keyed state follows its keys to each new shard, and every window equals
 * what sqlite3 computes over all the clicks: nothing lost, nothing counted twice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aws, clickEvents, freePort, putWithCli, scanResults, sqliteClickCounts, startDev, until, untilSettled, type DevProcess } from './dev-process';

jest.setTimeout(300_000);

const JOB = 'examples/click-counts.ts';
const SHUFFLE_STREAM = 'click-counts-s1';
const OUT_OF_ORDERNESS_MS = 2000;

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-reshard-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

type CliShard = { ShardId: string; HashKeyRange: { StartingHashKey: string; EndingHashKey: string }; SequenceNumberRange: { EndingSequenceNumber?: string } };

/** The stream's open shards, by hash range, as `aws kinesis list-shards` lists them. */
async function openShards(port: number, stream: string): Promise<CliShard[]> {
  const { Shards } = (await aws(port, ['kinesis', 'list-shards', '--stream-name', stream])) as { Shards: CliShard[] };
  return Shards.filter((s) => s.SequenceNumberRange.EndingSequenceNumber === undefined).sort((a, b) => (BigInt(a.HashKeyRange.StartingHashKey) < BigInt(b.HashKeyRange.StartingHashKey) ? -1 : 1));
}

/** Waits until a reshard is done: the stream ACTIVE again with `openCount` open shards. */
async function untilResharded(port: number, stream: string, openCount: number): Promise<void> {
  let seen = '';
  await until(
    () => `${stream} to be ACTIVE with ${openCount} open shards (${seen})`,
    async () => {
      const { StreamDescriptionSummary: s } = (await aws(port, ['kinesis', 'describe-stream-summary', '--stream-name', stream])) as { StreamDescriptionSummary: { StreamStatus: string; OpenShardCount: number } };
      seen = `${s.StreamStatus}, ${s.OpenShardCount} open`;
      return s.StreamStatus === 'ACTIVE' && s.OpenShardCount === openCount;
    },
    30_000,
  );
}

test("split-shard, merge-shards and update-shard-count on a running job's shuffle stream keep every window equal to sqlite3's", async () => {
  const port = await freePort();
  const data = path.join(dir, 'data');
  running = await startDev([JOB, '--no-demo', '--port', String(port), '--data', data]);
  const events = clickEvents(800, 10, 29, 1_700_000_000_000, 40_000);
  const quarter = events.length / 4;
  const batch = (i: number) => events.slice(i * quarter, (i + 1) * quarter);

  await putWithCli(port, 'clicks', batch(0), dir);
  expect((await openShards(port, SHUFFLE_STREAM)).map((s) => s.ShardId)).toEqual(['shardId-000000000000']);
  // The one shard in two, at the middle of the hash space.
  await aws(port, ['kinesis', 'split-shard', '--stream-name', SHUFFLE_STREAM, '--shard-to-split', 'shardId-000000000000', '--new-starting-hash-key', (2n ** 127n).toString()]);
  await untilResharded(port, SHUFFLE_STREAM, 2);

  await putWithCli(port, 'clicks', batch(1), dir);
  const [low, high] = await openShards(port, SHUFFLE_STREAM);
  await aws(port, ['kinesis', 'merge-shards', '--stream-name', SHUFFLE_STREAM, '--shard-to-merge', low!.ShardId, '--adjacent-shard-to-merge', high!.ShardId]);
  await untilResharded(port, SHUFFLE_STREAM, 1);

  await putWithCli(port, 'clicks', batch(2), dir);
  await aws(port, ['kinesis', 'update-shard-count', '--stream-name', SHUFFLE_STREAM, '--target-shard-count', '2', '--scaling-type', 'UNIFORM_SCALING']);
  await untilResharded(port, SHUFFLE_STREAM, 2);

  await putWithCli(port, 'clicks', batch(3), dir);
  // 1 first shard, its 2 children, their merged child, and that one's 2 children.
  const { Shards: all } = (await aws(port, ['kinesis', 'list-shards', '--stream-name', SHUFFLE_STREAM])) as { Shards: CliShard[] };
  expect(all).toHaveLength(6);

  const watermarkMs = Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1;
  await untilSettled(port, JOB, data, watermarkMs, 180_000);
  const expected = await sqliteClickCounts(events, watermarkMs, dir);
  expect(expected.length).toBeGreaterThan(50);
  expect(await scanResults(port, 'click-counts')).toEqual(expected);
  expect(await running.interrupt()).toBe(0);
});
