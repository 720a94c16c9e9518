/**
 * Lambda's concurrency limits on the embedded runtime: a stage whose function has no concurrency left
 * is throttled, as deployed — its invokes are refused and retried, the status (and so the dashboard)
 * counts the throttles and shows its iterator age growing (the records going through once the limit
 * allows is tests/integration/event-source-mapping.test.ts's).
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DevRuntime } from '../../lib/local/dev-runtime';
import { freePort, until } from './dev-process';

jest.setTimeout(180_000);

test('a stage at reserved concurrency 0 is throttled: throttles count up, its iterator age grows, and it is no function error', async () => {
  const runtime = await DevRuntime.start({ jobFile: 'examples/click-counts.ts', port: await freePort(), concurrency: { reserved: { s0: 0 } } });
  try {
    const clicks = Array.from({ length: 20 }, (_, i) => ({ userId: `u${i % 4}`, clicks: 1, ts: 1_700_000_000_000 + i * 100 }));
    await runtime.kinesis.send(new PutRecordsCommand({ StreamName: 'clicks', Records: clicks.map((c) => ({ PartitionKey: c.userId, Data: Buffer.from(JSON.stringify(c)) })) }));
    const s0 = () => runtime.status().stages[0]!;
    await until('s0 to be throttled, its records waiting', async () => s0().throttles >= 3 && s0().iteratorAgeMs > 0);
    expect(s0()).toMatchObject({ recordsIn: 0, errors: 0 });
    expect(s0().shards.every((s) => s.state === 'polling')).toBe(true);
  } finally {
    await runtime.stop();
  }
});
