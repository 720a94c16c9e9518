/**
 * Redriven records (`shardflow failures --redrive`, lib/io/redrive.ts): a failed batch comes back under
 * an input of its own, so positions the stage has passed are new there, a second redrive of the same
 * batch is a replay, and the redrive's input holds no watermark.
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling } from 'shardflow';
import { toStageBatch } from '../../lib/io/kinesis-event';
import { decodeRedrivenSourceRecord, encodeRedrivenSourceRecord, isRedriveInput, redriveInputOf } from '../../lib/io/redrive';
import { StageExecutor, type ShuffleInput } from '../../lib/runtime/stage-executor';
import { MemoryLogStore } from '../../lib/state/memory/memory-log-store';
import { ShardStates } from '../../lib/state/shard-states';

type Click = { userId: string; clicks: number; ts: number };
const windowed = (partitionedBy?: 'userId') =>
  planJob(
    job('redriven')
      .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: 0, ...(partitionedBy && { partitionedBy }) }))
      .keyBy('userId')
      .window(tumbling('1s'))
      .allowedLateness('1m')
      .sum('clicks')
      .sink(dynamoSink('out')),
  );

const click = (seq: number, userId: string, ts: number, clicks = seq) => ({ key: userId, origin: { shardId: 'up', sequenceNumber: String(seq), subIndex: 0 }, timestampMs: ts, value: { userId, clicks, ts } });

test('a redriven envelope is applied once under its own input, though its positions are behind the upstream shard\'s mark; it holds no watermark', async () => {
  const plan = windowed();
  const executor = new StageExecutor(plan, plan.stages[1]!, new ShardStates(new MemoryLogStore()));
  const run = async (inputs: ShuffleInput[]) => {
    const prepared = await executor.run({ kind: 'shuffled', shardId: 'down-0', inputs });
    expect(await prepared.commit()).not.toBe('lost');
    return prepared.result;
  };
  // Positions 1 and 9 applied; 5 was in a batch Lambda discarded.
  await run([{ kind: 'envelope', from: 'up', sequenceNumber: '1', arrivalMs: 1, elements: [click(1, 'a', 100)] }]);
  await run([{ kind: 'envelope', from: 'up', sequenceNumber: '2', arrivalMs: 2, elements: [click(9, 'a', 200)] }, { kind: 'marker', from: 'up', sequenceNumber: '3', arrivalMs: 2, watermarkMs: 5_000 }]);
  const input = redriveInputOf('up', 'shardId-000000000007', '5');
  expect(isRedriveInput(input)).toBe(true);
  const redriven: ShuffleInput = { kind: 'envelope', from: input, sequenceNumber: '4', arrivalMs: 3, elements: [click(5, 'a', 300)] };
  // Late within the allowed lateness: the window fires again with it.
  const first = await run([redriven]);
  expect(first.outputs.map((o) => o.output.record)).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 15 }]);
  // The same redrive again (an interrupted run, run again): a replay, dropped.
  const again = await run([{ ...redriven, sequenceNumber: '5', arrivalMs: 4 }]);
  expect(again.outputs).toEqual([]);
  // The upstream shard alone holds the watermark: a marker from it moves it, the redrive's input is no input.
  const moved = await run([{ kind: 'marker', from: 'up', sequenceNumber: '6', arrivalMs: 5, watermarkMs: 70_000 }]);
  expect(moved.watermarkMs).toBe(70_000);
});

test('a redriven source record is read back as the record it was, at its old position, under its redrive\'s input, moving no watermark', async () => {
  const input = redriveInputOf('shardId-000000000000', 'shardId-000000000000', '7');
  const original = JSON.stringify({ userId: 'a', clicks: 3, ts: 100 });
  const wrapped = encodeRedrivenSourceRecord(input, '7', original);
  expect(decodeRedrivenSourceRecord(wrapped.toString('utf8'))).toEqual({ input, sequenceNumber: '7', data: original });
  // A user's record that merely looks like one is left alone.
  expect(decodeRedrivenSourceRecord('{"shardflowRedrive":{"input":"elsewhere","sequenceNumber":"1"},"data":"x"}')).toBeUndefined();

  const plan = windowed('userId');
  const stage = plan.stages[0]!;
  const event = (seq: string, data: Buffer | string) => ({ eventID: `shardId-000000000000:${seq}`, kinesis: { data: Buffer.from(data).toString('base64'), sequenceNumber: seq, partitionKey: 'a' } });
  const executor = new StageExecutor(plan, stage, new ShardStates(new MemoryLogStore()));
  const run = async (...records: ReturnType<typeof event>[]) => {
    const { batch } = toStageBatch(stage, { Records: records });
    const prepared = await executor.run(batch);
    expect(await prepared.commit()).not.toBe('lost');
    return prepared.result;
  };
  await run(event('1', JSON.stringify({ userId: 'a', clicks: 1, ts: 100 })), event('20', JSON.stringify({ userId: 'a', clicks: 1, ts: 2_500 })));
  // Record 7 was discarded; redriven twice, it counts once, and its old event time does not pull the watermark back.
  const first = await run(event('30', wrapped));
  expect(first.outputs.map((o) => o.output.record)).toEqual([{ key: 'a', windowStart: 0, windowEnd: 1000, clicks: 4 }]);
  expect(first.watermarkMs).toBe(2_499);
  expect((await run(event('31', wrapped))).outputs).toEqual([]);
});
