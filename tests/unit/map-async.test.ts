/**
 * `mapAsync` (Flink's Async I/O, ordered): calls overlap within a batch up to `concurrency`, each with a
 * timeout and retries; results keep the records' order; a record whose calls all fail goes to the dead
 * letters with the reason and the batch goes on. The service here is an async function with injected
 * latency and failures; tests/integration/enrichment.test.ts calls a real HTTP server. Plan-time errors
 * are in plan.test.ts.
 */
import { dynamoSink, job, kinesisSource, tumbling, valueState, type AsyncCallContext, type JobDefinition, type MapAsyncOptions } from 'shardflow';
import { harness } from 'shardflow/testing';
import { runAsyncTail } from '../../lib/runtime/async-chain';
import type { AsyncOperator } from '../../lib/plan/plan';

type Rec = { id: number; ts: number };
const recs = (n: number): Rec[] => Array.from({ length: n }, (_, id) => ({ id, ts: 1_000 + id }));
const source = kinesisSource<Rec>('recs', { eventTime: (r) => r.ts });
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const asyncJob = (fn: (r: Rec, call: AsyncCallContext) => Promise<unknown>, options: MapAsyncOptions = {}): JobDefinition =>
  job('async').source(source).mapAsync(fn, options).sink(dynamoSink('async-out'));

test('results keep the records\' order though calls finish in any order, with at most `concurrency` in flight', async () => {
  let inFlight = 0;
  let most = 0;
  const h = harness(
    asyncJob(
      async (r) => {
        most = Math.max(most, ++inFlight);
        await delay((r.id * 7) % 5); // later records often finish first
        inFlight -= 1;
        return { ...r, doubled: r.id * 2 };
      },
      { concurrency: 3 },
    ),
  );
  await h.sendBatch(recs(20));
  expect(h.results()).toEqual(recs(20).map((r) => ({ ...r, doubled: r.id * 2 })));
  expect(most).toBe(3);
  expect(h.outputs().map((o) => o.id)).toEqual(recs(20).map((r) => `shard-0@${r.id + 1}.0`));
});

test('failures and timeouts are retried with backoff; a record whose calls all fail is a dead letter with the reason, and the batch goes on', async () => {
  const attempts = new Map<number, number[]>();
  const aborted: number[] = [];
  const hang = (signal: AbortSignal, id: number): Promise<never> =>
    new Promise((_, reject) => signal.addEventListener('abort', () => (aborted.push(id), reject(new Error('aborted')))));
  const h = harness(
    asyncJob(
      async (r, { signal, attempt }) => {
        attempts.set(r.id, [...(attempts.get(r.id) ?? []), attempt]);
        if (r.id === 1 && attempt === 0) throw new Error('busy');
        if (r.id === 2) throw new Error('service down');
        if (r.id === 3 && attempt === 0) return hang(signal, r.id);
        if (r.id === 4) return hang(signal, r.id);
        if (r.id === 5) return undefined;
        return { ...r, ok: true };
      },
      { concurrency: 4, timeoutMs: 50, retries: 2, backoffMs: 5 },
    ),
  );
  await h.sendBatch(recs(7));
  expect(h.results().map((r) => r.id)).toEqual([0, 1, 3, 6]);
  expect(h.deadLetters().map((d) => [d.id, d.operator, d.reason, d.data])).toEqual([
    ['shard-0/3/mapAsync#1', 'mapAsync#1', 'mapAsync#1 threw: service down (3 attempts)', '{"id":2,"ts":1002}'],
    ['shard-0/5/mapAsync#1', 'mapAsync#1', 'mapAsync#1 timed out after 50 ms (3 attempts)', '{"id":4,"ts":1004}'],
    ['shard-0/6/mapAsync#1', 'mapAsync#1', 'mapAsync#1 returned undefined', '{"id":5,"ts":1005}'],
  ]);
  expect(Object.fromEntries(attempts)).toEqual({ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1], 4: [0, 1, 2], 5: [0], 6: [0] });
  // A timed-out call's signal is aborted, so its request can stop.
  expect(aborted.sort()).toEqual([3, 4, 4, 4]);
});

test('retries wait backoffMs, then twice that', async () => {
  const waits: number[] = [];
  const op: AsyncOperator = { kind: 'mapAsync', id: 'mapAsync#1', fn: () => Promise.reject(new Error('no')), concurrency: 1, timeoutMs: 1000, retries: 3, backoffMs: 40, readsTables: [] };
  const outcomes = await runAsyncTail([op], ['x'], async (ms) => void waits.push(ms));
  expect(waits).toEqual([40, 80, 160]);
  expect(outcomes).toEqual([{ error: expect.objectContaining({ operator: 'mapAsync#1', message: 'mapAsync#1 threw: no (4 attempts)' }) }]);
});

test('operators after mapAsync run on its results, in order; a filter drops, a throwing map dead-letters', async () => {
  const h = harness(
    job('async-chain')
      .source(source)
      .map((r) => ({ ...r, n: r.id + 1 }))
      .mapAsync(async (r) => ({ ...r, squared: r.n * r.n }))
      .filter((r) => r.squared !== 9)
      .map((r) => {
        if (r.squared === 16) throw new Error('sixteen');
        return r;
      })
      .sink(dynamoSink('async-chain-out')),
  );
  await h.sendBatch(recs(5));
  expect(h.results().map((r) => r.squared)).toEqual([1, 4, 25]);
  expect(h.deadLetters().map((d) => [d.id, d.reason])).toEqual([['shard-0/4/map#4', 'map#4 threw: sixteen']]);
});

test('a retried batch numbers its records as before, so the next stage applies each once whatever the service answered', async () => {
  let firstCall = true;
  const h = harness(
    job('async-count')
      .source(source)
      .mapAsync(async (r) => {
        if (r.id === 1 && firstCall) {
          firstCall = false;
          throw new Error('flaky');
        }
        return r;
      })
      .keyBy(() => 'all')
      .process({
        state: { count: valueState(0) },
        onEvent(r, ctx) {
          ctx.state.count.update(ctx.state.count.value() + 1);
          ctx.emit({ id: r.id, count: ctx.state.count.value() });
        },
      })
      .sink(dynamoSink('async-count-out')),
  );
  const records = recs(3).map((r, i) => ({ shardId: 'shard-0', sequenceNumber: String(i + 1), data: JSON.stringify(r) }));
  await h.replay(records);
  // Lambda delivers the batch again (say the source function crashed after sending its envelopes): this
  // time the service answers for record 1, but the keyed stage has applied the batch already.
  await h.replay(records);
  expect(h.results()).toEqual([
    { id: 0, count: 1 },
    { id: 2, count: 2 },
  ]);
  expect(h.deadLetters().map((d) => d.reason)).toEqual(['mapAsync#1 threw: flaky']);
});

test('after a keyed operator: window results are enriched in order; a failed call dead-letters the result, named by its id', async () => {
  const h = harness(
    job('async-windows')
      .source(kinesisSource<{ user: string; ts: number }>('clicks', { eventTime: (c) => c.ts }))
      .keyBy((c) => c.user)
      .window(tumbling('1s'))
      .count()
      .mapAsync(async (r) => {
        await delay(r.key === 'a' ? 5 : 0);
        if (r.key === 'bad') throw new Error('no label for bad');
        return { ...r, label: `${r.key}:${r.count}` };
      })
      .sink(dynamoSink('async-windows-out')),
  );
  await h.sendBatch([
    { user: 'a', ts: 100 },
    { user: 'b', ts: 200 },
    { user: 'a', ts: 300 },
    { user: 'bad', ts: 400 },
  ]);
  await h.watermark(999);
  expect(h.results().map((r) => r.label)).toEqual(['a:2', 'b:1']);
  expect(h.deadLetters().map((d) => [d.id, d.reason])).toEqual([['bad/0/1000/v1/mapAsync#3', 'mapAsync#3 threw: no label for bad']]);
});
