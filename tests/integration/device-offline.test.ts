/**
 * examples/device-offline.ts on the embedded runtime, with the watermark function as deployed (a run a
 * minute, looping 55 s, asleep while every keyed shard is idle): heartbeats come, then nothing more; the
 * alert fires 30 s of processing time after a device's last heartbeat, before the schedule's next run —
 * the pending timer kept the function awake and ticking though every input had gone idle.
 */
import * as path from 'node:path';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { dynamoClient, kinesisClient } from '../../lib/io/aws-clients';
import { DevRuntime } from '../../lib/local/dev-runtime';
import { freePort } from '../../lib/local/free-port';
import { OFFLINE_AFTER_MS, type OfflineAlert } from '../../examples/device-offline';

jest.setTimeout(120_000);
const ROOT = path.resolve(__dirname, '../..');
const SCHEDULE_MS = 60_000;

async function until<T>(what: string, deadline: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

test('a device that falls silent is reported 30 s after its last heartbeat, with no further events, while the watermark function would otherwise sleep', async () => {
  const port = await freePort();
  const bootedAt = Date.now();
  const runtime = await DevRuntime.start({ jobFile: path.join(ROOT, 'examples/device-offline.ts'), port, watermarkTickMs: SCHEDULE_MS, watermarkLoopMs: 55_000 });
  const endpoint = `http://localhost:${port}`;
  const ddb = dynamoClient({ endpoint });
  const kinesis = kinesisClient({ endpoint });
  try {
    // An idle job: the watermark function says it sleeps (idleAfter 10 s).
    await until('the watermark function to sleep', bootedAt + 30_000, async () => {
      const { Item } = await ddb.send(new GetItemCommand({ TableName: 'device-offline-state', Key: { pk: { S: 'm#watermark-function' }, sk: { S: 'asleep' } }, ConsistentRead: true }));
      return Item?.asleep?.BOOL === true ? true : undefined;
    });
    const putAt = Date.now();
    const heartbeats = [
      { deviceId: 'pump-1', ts: putAt },
      { deviceId: 'pump-2', ts: putAt },
    ];
    await kinesis.send(new PutRecordsCommand({ StreamName: 'heartbeats', Records: heartbeats.map((h) => ({ PartitionKey: h.deviceId, Data: Buffer.from(JSON.stringify(h)) })) }));
    const nextScheduled = bootedAt + SCHEDULE_MS;
    const alerts = await until(
      'both alerts',
      nextScheduled,
      async () => {
        const { Items } = await ddb.send(new ScanCommand({ TableName: 'device-offline-alerts' }));
        const found = (Items ?? []).map((i) => unmarshall(i) as OfflineAlert);
        return found.length >= 2 ? { found, seenAt: Date.now() } : undefined;
      },
      100,
    );
    expect(alerts.found.map((a) => a.deviceId).sort()).toEqual(['pump-1', 'pump-2']);
    for (const alert of alerts.found) {
      // The timer's time is the heartbeat's Kinesis arrival time (at the keyed stage) plus 30 s.
      expect(alert.alertAtMs - alert.silentSinceMs).toBe(OFFLINE_AFTER_MS);
      expect(alert.silentSinceMs).toBeGreaterThanOrEqual(putAt);
      expect(alert.lastHeartbeatTs).toBe(putAt);
    }
    // Never early: the alert is written after its timer's time (how much after — ticks a second apart, then
    // the event source mapping's poll and batching window — is what docs/processing-time.md quotes).
    expect(alerts.seenAt).toBeGreaterThanOrEqual(Math.max(...alerts.found.map((a) => a.alertAtMs)));
  } finally {
    ddb.destroy();
    kinesis.destroy();
    await runtime.stop();
  }
});
