import { TooManyRequestsError } from '../../lib/local/concurrency';
import { runBatch, type BatchRecord, type BatchRunnerHooks, type DiscardInfo, type RetryPolicy } from '../../lib/local/esm/batch-runner';

type Rec = BatchRecord & { readonly id: number };

const records = (n: number, arrivalMs = 0): Rec[] => Array.from({ length: n }, (_, i) => ({ id: i, sequenceNumber: String(1000 + i), arrivalMs }));

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({
  bisectOnError: false,
  maxRetryAttempts: -1,
  reportBatchItemFailures: false,
  maxRecordAgeMs: undefined,
  retryBaseMs: 100,
  retryMaxMs: 2000,
  ...p,
});

/** A fake world: the function is `fn`, time is `now`, sleeps are recorded and instant. */
function world(fn: (batch: readonly Rec[], call: number) => unknown, opts: { now?: () => number; stopAfterCalls?: number } = {}) {
  const calls: number[][] = [];
  const succeeded: number[][] = [];
  const discarded: { ids: number[]; info: DiscardInfo }[] = [];
  const sleeps: number[] = [];
  const retriesSeen: boolean[] = [];
  const hooks: BatchRunnerHooks<Rec> = {
    invoke: async (batch) => {
      calls.push(batch.map((r) => r.id));
      return fn(batch, calls.length);
    },
    succeeded: async (batch) => {
      succeeded.push(batch.map((r) => r.id));
    },
    discard: async (batch, info) => {
      discarded.push({ ids: batch.map((r) => r.id), info });
      return true;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      return true;
    },
    now: opts.now ?? (() => 0),
    stopped: () => opts.stopAfterCalls !== undefined && calls.length >= opts.stopAfterCalls,
    onEvent: (e) => {
      if (e.kind === 'invoked') retriesSeen.push(e.retry);
    },
  };
  return { hooks, calls, succeeded, discarded, sleeps, retriesSeen };
}

const poison = (id: number) => (batch: readonly Rec[]): unknown => {
  if (batch.some((r) => r.id === id)) throw new Error(`poison ${id}`);
  return undefined;
};

describe('retries, bisect and discards (Lambda stream error handling)', () => {
  test('a batch that succeeds is invoked once', async () => {
    const w = world(() => undefined);
    expect(await runBatch(records(3), policy(), w.hooks)).toBe('completed');
    expect(w.calls).toEqual([[0, 1, 2]]);
    expect(w.succeeded).toEqual([[0, 1, 2]]);
  });

  test('without bisect, a failing batch is retried maxRetryAttempts times and then discarded whole', async () => {
    const w = world(poison(1));
    await runBatch(records(4), policy({ maxRetryAttempts: 2 }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]);
    expect(w.retriesSeen).toEqual([false, true, true]);
    expect(w.sleeps).toEqual([100, 200]);
    expect(w.discarded).toEqual([{ ids: [0, 1, 2, 3], info: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3, lastError: 'Error: poison 1', functionError: 'Unhandled' } }]);
    expect(w.succeeded).toEqual([]);
  });

  test('maxRetryAttempts 0 discards after the first failure', async () => {
    const w = world(poison(0));
    await runBatch(records(2), policy({ maxRetryAttempts: 0 }), w.hooks);
    expect(w.calls).toHaveLength(1);
    expect(w.discarded[0]?.ids).toEqual([0, 1]);
  });

  test('bisect isolates a poison record; splits do not use up retries; the other records succeed once, in order', async () => {
    const w = world(poison(3));
    await runBatch(records(8), policy({ bisectOnError: true, maxRetryAttempts: 1 }), w.hooks);
    expect(w.calls).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      [0, 1],
      [2, 3],
      [2],
      [3],
      [3], // the one retry, only once the batch is down to the poison record
      [4, 5, 6, 7],
    ]);
    expect(w.succeeded).toEqual([[0, 1], [2], [4, 5, 6, 7]]);
    expect(w.discarded).toEqual([{ ids: [3], info: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 5, lastError: 'Error: poison 3', functionError: 'Unhandled' } }]);
    expect(w.retriesSeen.filter(Boolean)).toHaveLength(1);
  });

  test('with bisect and no retries, only the poison record is discarded', async () => {
    const w = world(poison(4));
    await runBatch(records(5), policy({ bisectOnError: true, maxRetryAttempts: 0 }), w.hooks);
    expect(w.discarded.map((d) => d.ids)).toEqual([[4]]);
    expect(w.succeeded.flat()).toEqual([0, 1, 2, 3]);
    expect(w.sleeps).toEqual([]);
  });

  test('a partial batch response checkpoints the records before the lowest failure and retries from it', async () => {
    const w = world((batch, call) => (call === 1 ? { batchItemFailures: [{ itemIdentifier: batch[3]!.sequenceNumber }, { itemIdentifier: batch[2]!.sequenceNumber }] } : undefined));
    await runBatch(records(5), policy({ reportBatchItemFailures: true, maxRetryAttempts: 3 }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2, 3, 4], [2, 3, 4]]);
    expect(w.succeeded).toEqual([[0, 1], [2, 3, 4]]);
    expect(w.retriesSeen).toEqual([false, true]);
  });

  test('partial failures count as retries, with bisect on too', async () => {
    const w = world((batch) => ({ batchItemFailures: [{ itemIdentifier: batch[batch.length - 1]!.sequenceNumber }] }));
    await runBatch(records(3), policy({ reportBatchItemFailures: true, bisectOnError: true, maxRetryAttempts: 2 }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2], [2], [2]]);
    expect(w.succeeded).toEqual([[0, 1]]);
    expect(w.discarded).toEqual([{ ids: [2], info: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3, lastError: expect.stringContaining('1002'), functionError: undefined } }]);
  });

  test('a partial response is ignored without ReportBatchItemFailures', async () => {
    const w = world(() => ({ batchItemFailures: [{ itemIdentifier: '1000' }] }));
    await runBatch(records(2), policy(), w.hooks);
    expect(w.calls).toHaveLength(1);
    expect(w.succeeded).toEqual([[0, 1]]);
  });

  test('an itemIdentifier outside the batch fails the whole batch, which bisect then splits', async () => {
    const w = world((_, call) => (call === 1 ? { batchItemFailures: [{ itemIdentifier: '999999' }] } : undefined));
    await runBatch(records(4), policy({ reportBatchItemFailures: true, bisectOnError: true }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2, 3], [0, 1], [2, 3]]);
  });

  test('records older than the maximum age are discarded before they are sent, on the first try or a retry', async () => {
    let now = 0;
    const old = records(2, 0);
    const young = records(2, 50_000).map((r) => ({ ...r, id: r.id + 2, sequenceNumber: String(2000 + r.id) }));
    const w = world(() => {
      now = 70_000; // the function fails, and time passes: the first two are now 70 s old
      throw new Error('down');
    }, { now: () => now });
    await runBatch([...old, ...young], policy({ maxRecordAgeMs: 60_000, maxRetryAttempts: 1 }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2, 3], [2, 3]]);
    expect(w.discarded).toEqual([
      { ids: [0, 1], info: { condition: 'RecordAgeExceeded', approximateInvokeCount: 1, lastError: 'Error: down', functionError: 'Unhandled' } },
      { ids: [2, 3], info: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2, lastError: 'Error: down', functionError: 'Unhandled' } },
    ]);
  });

  test('records already too old are never sent', async () => {
    const w = world(() => undefined, { now: () => 120_000 });
    await runBatch(records(3, 0), policy({ maxRecordAgeMs: 60_000 }), w.hooks);
    expect(w.calls).toEqual([]);
    expect(w.discarded).toEqual([{ ids: [0, 1, 2], info: { condition: 'RecordAgeExceeded', approximateInvokeCount: 0, lastError: undefined, functionError: undefined } }]);
  });

  test('with infinite retries, only record age ends the retries', async () => {
    let now = 0;
    const w = world((_, call) => {
      if (call === 5) now = 61_000;
      throw new Error('down');
    }, { now: () => now });
    await runBatch(records(2), policy({ maxRetryAttempts: -1, maxRecordAgeMs: 60_000 }), w.hooks);
    expect(w.calls).toHaveLength(5);
    expect(w.sleeps).toEqual([100, 200, 400, 800, 1600]);
    expect(w.discarded).toEqual([{ ids: [0, 1], info: { condition: 'RecordAgeExceeded', approximateInvokeCount: 5, lastError: 'Error: down', functionError: 'Unhandled' } }]);
  });

  test('backoff is capped at the maximum', async () => {
    const w = world((_, call) => {
      if (call < 8) throw new Error('x');
    });
    await runBatch(records(1), policy(), w.hooks);
    expect(w.sleeps).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  test('after a split, each half counts its retries from zero: the split is not charged to the quota', async () => {
    // A partial response makes [1, 2, 3] a retry (1 of 1); it then throws and is split. The half [3]
    // is a new batch: it still gets its one retry before it is discarded.
    const w = world((batch, call) => {
      if (call === 1) return { batchItemFailures: [{ itemIdentifier: batch[1]!.sequenceNumber }] };
      if (batch.some((r) => r.id === 3)) throw new Error('poison 3');
      return undefined;
    });
    await runBatch(records(4), policy({ reportBatchItemFailures: true, bisectOnError: true, maxRetryAttempts: 1 }), w.hooks);
    expect(w.calls).toEqual([[0, 1, 2, 3], [1, 2, 3], [1, 2], [3], [3]]);
    expect(w.retriesSeen).toEqual([false, true, false, false, true]);
    expect(w.discarded).toEqual([{ ids: [3], info: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 4, lastError: 'Error: poison 3', functionError: 'Unhandled' } }]);
  });

  test('a throttled invoke is retried with backoff as it is: not bisected, not discarded, not a retry, not an invocation', async () => {
    const w = world((_, call) => {
      if (call <= 3) throw new TooManyRequestsError('fn', 'Rate Exceeded.');
      if (call === 4) throw new Error('poison');
      return undefined;
    });
    const events: string[] = [];
    const hooks = { ...w.hooks, onEvent: (e: { kind: string }) => events.push(e.kind) };
    await runBatch(records(4), policy({ bisectOnError: true, maxRetryAttempts: 0 }), hooks);
    // three throttles of the whole batch, then it runs, fails, and only then is split
    expect(w.calls).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1], [2, 3]]);
    expect(events).toEqual(['throttled', 'throttled', 'throttled', 'invoked', 'function-error', 'bisected', 'invoked', 'invoked']);
    expect(w.sleeps).toEqual([100, 200, 400]);
    expect(w.discarded).toEqual([]);
    expect(w.succeeded).toEqual([[0, 1], [2, 3]]);
  });

  test('throttled records are still discarded once they are too old', async () => {
    let now = 0;
    const w = world(() => {
      now += 40_000;
      throw new TooManyRequestsError('fn', 'Rate Exceeded.');
    }, { now: () => now });
    await runBatch(records(2), policy({ maxRecordAgeMs: 60_000, maxRetryAttempts: 0 }), w.hooks);
    expect(w.calls).toHaveLength(2);
    expect(w.discarded).toEqual([{ ids: [0, 1], info: { condition: 'RecordAgeExceeded', approximateInvokeCount: 0, lastError: undefined, functionError: undefined } }]);
  });

  test('a stop leaves unfinished records unfinished', async () => {
    const w = world(poison(1), { stopAfterCalls: 2 });
    expect(await runBatch(records(4), policy({ bisectOnError: true }), w.hooks)).toBe('stopped');
    expect(w.calls).toEqual([[0, 1, 2, 3], [0, 1]]);
    expect(w.succeeded).toEqual([]);
    expect(w.discarded).toEqual([]);
  });
});
