/**
 * The KinesisWriter's retry logic over a scripted client: which entries each PutRecords call carries
 * when some entries of a call fail. (Against kinesis-local: tests/integration/kinesis-writer.test.ts.)
 */
import type { KinesisClient, PutRecordsCommand, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { KinesisWriter, type Chain } from '../../lib/io/kinesis-writer';

/** A client that records each call's entries (as text) and refuses the entries `refuse` picks. */
function scriptedClient(refuse: (data: string, call: number) => boolean): { client: KinesisClient; calls: string[][] } {
  const calls: string[][] = [];
  const client = {
    send: async (command: PutRecordsCommand) => {
      const entries = (command.input.Records ?? []).map((r) => Buffer.from(r.Data!).toString('utf8'));
      const call = calls.push(entries) - 1;
      const Records: PutRecordsResultEntry[] = entries.map((data) =>
        refuse(data, call) ? { ErrorCode: 'InternalFailure', ErrorMessage: 'scripted' } : { SequenceNumber: String(call), ShardId: 'shardId-000000000000' },
      );
      return { FailedRecordCount: Records.filter((r) => r.ErrorCode).length, Records };
    },
  } as unknown as KinesisClient;
  return { client, calls };
}

const chain = (...names: string[]): Chain => names.map((n) => ({ partitionKey: 'k', data: Buffer.from(n) }));
const noWait = async (): Promise<void> => {};

test('only the refused entries are sent again, and a chain moves on only once its entry landed', async () => {
  const { client, calls } = scriptedClient((data, call) => call === 0 && data === 'b1');
  await new KinesisWriter(client, 's', noWait).put([chain('a1', 'a2'), chain('b1', 'b2'), chain('c1')]);
  expect(calls).toEqual([
    ['a1', 'b1', 'c1'],
    ['a2', 'b1'],
    ['b2'],
  ]);
});

test('rounds that make progress do not count toward the limit: one entry refused in each of 20 rounds while a long chain lands', async () => {
  // 'b' is refused as long as the 20-entry chain still sends beside it: 20 rounds each with progress and a refusal.
  const { client, calls } = scriptedClient((data) => data === 'b' && calls[calls.length - 1]!.length > 1);
  const long = chain(...Array.from({ length: 20 }, (_, i) => `a${i}`));
  const writer = new KinesisWriter(client, 's', noWait);
  await writer.put([long, chain('b')]);
  expect(calls).toHaveLength(21);
  expect(calls[20]).toEqual(['b']);
  expect(writer.counters.records).toBe(21);
});

test('a response without a result for an entry counts as a refusal, not as progress', async () => {
  let call = 0;
  const client = {
    send: async () => (call++ === 0 ? { FailedRecordCount: 0, Records: [] } : { FailedRecordCount: 0, Records: [{ SequenceNumber: '1', ShardId: 's' }] }),
  } as unknown as KinesisClient;
  const writer = new KinesisWriter(client, 's', noWait);
  await writer.put([chain('x')]);
  expect(call).toBe(2);
  expect(writer.counters.records).toBe(1);
});
